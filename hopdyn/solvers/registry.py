"""The one registry of solve methods.

Each method is a ``Method``: how to build its solver (or run it) and the
traits the rest of hopdyn reads instead of branching on names: continuous or
discrete, adaptive, where the solver keeps ``f(y1)``, evaluations per step,
whether energy descent is guaranteed, binary units.  The scenario schema's
method list, ``simulate``'s dispatch, ``verify``, ``basins`` and the figures
all read it.  Adding a method is its solver file plus one ``register`` line
at the bottom of this file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .rules import RULES


@dataclasses.dataclass(frozen=True)
class Method:
    """A solve method and its traits.

    **Arguments:**

    - ``name``: what ``simulate(method=...)`` and scenario files call it;
      ``description``: one line for ``hopdyn list`` and the docs.
    - ``make(network, params)``: the Diffrax solver (ODE methods), or
      ``run(network, x0, settings)``: a ``Trajectory`` (rules that are not ODE solves);
    - ``adaptive``: step-size control (else a fixed ``dt``);
    - ``fsal``: where the solver's state keeps ``f(y1)`` (the stop test reads it);
    - ``evals_per_step``/``evals_init``: field evaluations (``None``: not counted),
      or ``counts_evals``: the solver counts them itself (last item of its state);
    - ``descent_guaranteed``: the energy never rises along its runs;
    - ``binary``: it updates ``+-1`` units (its end states are signs);
    - ``continuous``: time is model time (else it counts sweeps)."""

    name: str
    make: Callable | None = None
    run: Callable | None = None
    adaptive: bool = True
    fsal: Callable | None = None
    evals_per_step: int | None = None
    evals_init: int | None = None
    counts_evals: bool = False
    descent_guaranteed: bool = True
    binary: bool = False
    description: str = ""

    @property
    def continuous(self) -> bool:
        return self.run is None


METHODS: dict[str, Method] = {}
AUTO = "auto"
"""Not a method: ``simulate`` measures stiffness and picks a registered one."""
AUTO_NEEDS_VALUES = (
    "'auto' measures stiffness on concrete values; under jax.jit/vmap/grad name a method "
    "(e.g. method='tsit5', or 'etd'/'rkc' for stiff networks)"
)


def register(method: Method) -> Method:
    """Make a method usable as ``simulate(method=...)`` and in scenario files.

    **Arguments:**

    - ``method``: a ``Method`` (its name, traits and how to make its solver).

    **Returns:**

    The method (so it can decorate a definition).
    """
    METHODS[method.name] = method
    return method


def method_names() -> tuple[str, ...]:
    """Every name ``simulate(method=...)`` and scenario files accept.

    **Arguments:** none.
    """
    return (AUTO, *METHODS)


def get_method(name: str) -> Method | None:
    """The registered method (``None`` for ``auto``).

    **Arguments:**

    - ``name``: a method's name (``None`` for ``auto``)
    """
    return None if name == AUTO else METHODS[name]


def continuous(name: str) -> bool:
    """Whether ``name`` solves an ODE (``auto`` always picks an ODE method)."""
    return name == AUTO or METHODS[name].continuous


# ---------------------------------------------------------------- built-ins
def _diffrax(cls_name: str):
    def make(net, p):
        import diffrax as dfx

        return getattr(dfx, cls_name)()

    return make


def _tsit5(net, p):
    from .tsit5 import Tsit5

    return Tsit5()


def _rkc(net, p):
    from .rkc import RKC2

    return RKC2(rho=p.rho)


def _etd(net, p):
    from .etd import ETDRK4

    return ETDRK4(rate=net.leak_rates())


def _discrete(network, x0, settings):
    from .discrete import simulate_discrete

    return simulate_discrete(network, x0, settings)


_rk_fsal = lambda state: state[1]  # noqa: E731  Diffrax's Runge-Kutta FSAL state: (first_step, f1)

# Evaluations per step include the one the steady-state/divergence event makes
# (none for solvers that keep f(y1), see stopping.py); tests/test_solve.py
# checks the counts against a host-side counter.
register(
    Method(
        "tsit5",
        _tsit5,
        fsal=lambda state: state,
        evals_per_step=6,
        evals_init=1,
        description="Tsitouras 5(4), explicit, its stages written out (solvers/tsit5.py)",
    )
)
register(
    Method(
        "tsit5-diffrax",
        _diffrax("Tsit5"),
        fsal=_rk_fsal,
        evals_per_step=6,
        evals_init=1,
        description="Diffrax's own Tsit5 (the same pair, its stages in one stacked buffer): a reference for tsit5",
    )
)
register(
    Method(
        "dopri5",
        _diffrax("Dopri5"),
        fsal=_rk_fsal,
        evals_per_step=6,
        evals_init=1,
        description="Dormand-Prince 5(4), explicit",
    )
)
register(Method("dopri8", _diffrax("Dopri8"), evals_per_step=14, evals_init=2, description="Dormand-Prince 8(7)"))
register(Method("kvaerno5", _diffrax("Kvaerno5"), description="implicit, for small stiff networks"))
register(
    Method(
        "rkc",
        _rkc,
        fsal=lambda state: state[0],
        counts_evals=True,
        description="RKC2, explicit Runge-Kutta-Chebyshev for stiff networks at loose tolerances",
    )
)
register(
    Method(
        "etd",
        _etd,
        fsal=lambda state: state,
        evals_per_step=4,
        evals_init=1,
        description="ETDRK4, exponential time differencing: the leaks integrated exactly",
    )
)
register(
    Method(
        "euler",
        _diffrax("Euler"),
        adaptive=False,
        evals_per_step=2,
        evals_init=1,
        description="fixed-step Euler (needs dt)",
    )
)
for _rule in RULES:
    register(
        Method(
            _rule.name,
            run=_discrete,
            binary=_rule.binary,
            descent_guaranteed=_rule.descent_guaranteed,
            description=_rule.description,
        )
    )
