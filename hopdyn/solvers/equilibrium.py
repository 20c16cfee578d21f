"""``equilibrium``: the steady state a network's flow reaches, differentiable.

The forward pass is ``simulate``'s solve (the same method, controller and
steady-state test) keeping the end state only.  Gradients with respect to
every array of the network and to clamped inputs come from one of two adjoints:

- ``"implicit"`` (default): at a steady state the force vanishes,
  ``F(x*, theta) = 0`` (``dE/dxhat`` on free elements, ``x - x0`` on clamped
  ones; quasi-static layers are equilibrated inside ``F``), so by the implicit
  function theorem ``dx*/dtheta = -(dF/dx)^-1 dF/dtheta``: one linear solve
  (lineax) at the end state, whose cost and memory do not depend on how many
  steps the solve took (optimistix's ``implicit_jvp``, as Diffrax's
  ``ImplicitAdjoint``).
- ``"unrolled"``: back-propagation through the solver's steps (Diffrax's
  ``RecursiveCheckpointAdjoint``), for comparison.

An end state that is not a steady state (step limit, horizon, NaN) is an error,
not a silent gradient.  ``dF/dx`` is singular where fixed points are not
isolated (a line of equilibria, a bifurcation); the default linear solve is
then a least-squares (SVD, minimum-norm) one, and ``info=True`` reports the
Jacobian's smallest singular value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import diffrax as dfx
import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optimistix as optx
from jaxtyping import ArrayLike

from ..core.errors import SettingsError
from ..model.network import Network, State, rms
from .registry import AUTO, get_method
from .settings import SolveSettings
from .simulate import _Params, _Static, _trouble, params, solver_parts

ADJOINTS = ("implicit", "unrolled")
SVD_LIMIT = 64  # unknowns up to which the default linear solve is SVD (least squares; slower beyond)


class _Config(eqx.Module):
    """What is fixed for a compiled equilibrium (no arrays)."""

    static: _Static = eqx.field(static=True)
    adjoint: str = eqx.field(static=True)
    polish: int = eqx.field(static=True)
    held: tuple[str, ...] = eqx.field(static=True)  # layers clamped whole: decided once, on concrete masks


def _held(network: Network) -> tuple[str, ...]:
    """Layers clamped whole (known from concrete masks): inputs, not unknowns."""
    out = []
    for a, mask in network.clamps.items():
        if not isinstance(mask, jax.core.Tracer) and bool(np.all(np.asarray(mask))):
            out.append(a)
    return tuple(out)


def _dynamic(network: Network, held: tuple[str, ...]) -> tuple[str, ...]:
    """The unknowns of ``F``: layers that evolve and are not clamped whole
    (``held``: from ``_held`` on the concrete network; inside a trace such as
    lineax's shape evaluation the masks are abstract and cannot be read)."""
    return tuple(a for a, n in network.neurons.items() if not n.quasi_static and a not in held)


def _full(network: Network, dyn: State, quasi: State, x0: State) -> State:
    """The whole state from its unknowns: clamped layers from ``x0``, quasi-static
    ones at equilibrium."""
    held = {a: x0[a] for a in network.neurons if a not in dyn and a not in quasi}
    return network.equilibrate({**held, **dyn, **quasi})


def _force(network: Network, dyn: State, quasi: State, x0: State) -> State:
    """``F``: zero exactly at a steady state with the clamped values of ``x0``."""
    x = _full(network, dyn, quasi, x0)
    force = network._forces(x)[3]
    out = {}
    for a in dyn:
        if a in network.clamps:
            out[a] = jnp.where(network.clamps[a], dyn[a] - x0[a], force[a])
        else:
            out[a] = force[a]
    return out


def _newton(network: Network, x: State, x0: State, steps: int, held: tuple[str, ...]) -> State:
    """``steps`` Newton steps on ``F`` (least squares: flat directions stay put),
    taking a steady state the solve got to within its tolerance to rounding."""
    dyn = {a: x[a] for a in _dynamic(network, held)}
    quasi = {a: x[a] for a in network.quasi_static}
    flat, unravel = jax.flatten_util.ravel_pytree(dyn)
    force = lambda v: jax.flatten_util.ravel_pytree(_force(network, unravel(v), quasi, x0))[0]  # noqa: E731
    for _ in range(steps):
        flat = flat - jnp.linalg.lstsq(jax.jacfwd(force)(flat), force(flat))[0]
    return _full(network, unravel(flat), quasi, x0)


def _solve(network: Network, x0: State, p: _Params, cfg: _Config):
    """The forward solve: end state, whether it is a steady state, and counts."""
    sol = dfx.diffeqsolve(  # unrolled: Diffrax's default RecursiveCheckpointAdjoint
        y0=x0,
        args=network,
        saveat=dfx.SaveAt(t1=True),
        max_steps=cfg.static.max_steps,
        throw=False,
        **solver_parts(network, p, cfg.static),
    )
    end = network.equilibrate(jax.tree.map(lambda a: a[-1], sol.ys))
    if cfg.polish:
        end = _newton(network, end, x0, cfg.polish, cfg.held)
    flow = network.vector_field(end)
    steady = (sol.result == dfx.RESULTS.event_occurred) & ~_trouble(end, flow, p)
    stats = dict(n_steps=jnp.asarray(sol.stats["num_steps"], jnp.int32), t_final=sol.ts[-1])
    return end, steady, stats


def _primal(inputs):
    network, x0, p, cfg = inputs
    end, steady, stats = _solve(network, x0, p, cfg)
    dyn = {a: end[a] for a in _dynamic(network, cfg.held)}
    quasi = {a: end[a] for a in network.quasi_static}
    return dyn, (quasi, steady, stats)


def _rewrite(dyn, aux, inputs):
    network, x0, _, _ = inputs
    return _force(network, dyn, aux[0], x0)


def _linear_solver(choice, n: int) -> lx.AbstractLinearSolver:
    if isinstance(choice, lx.AbstractLinearSolver):
        return choice
    if choice == "auto":
        choice = "svd" if n <= SVD_LIMIT else "lu"
    return {"svd": lx.SVD(), "lu": lx.LU(), "qr": lx.QR()}[choice]


def _one(network: Network, x0: State, p: _Params, cfg: _Config, solver, throw: bool, info: bool):
    if cfg.adjoint == "implicit":
        inputs = (network, x0, p, cfg)
        dyn, (quasi, steady, stats) = optx.internal.implicit_jvp(_primal, _rewrite, inputs, frozenset(), solver)
        quasi = jax.lax.stop_gradient(quasi)  # an initial guess only: _full equilibrates them
        x = _full(network, dyn, quasi, x0)
    else:
        x, steady, stats = _solve(network, x0, p, cfg)
    if throw:
        x = eqx.error_if(
            x,
            ~steady,
            "equilibrium: the solve ended without reaching a steady state (step limit, horizon or "
            "non-finite values); raise t1/max_steps or loosen steady_state, or pass throw=False",
        )
    if not info:
        return x
    dyn = {a: x[a] for a in _dynamic(network, cfg.held)}
    quasi = {a: x[a] for a in network.quasi_static}
    xs = jax.lax.stop_gradient((dyn, quasi))
    flat, unravel = jax.flatten_util.ravel_pytree(xs[0])
    jac = jax.jacfwd(lambda v: jax.flatten_util.ravel_pytree(_force(network, unravel(v), xs[1], x0))[0])(flat)
    sv = jnp.linalg.svd(jac, compute_uv=False)
    eps = jnp.finfo(flat.dtype).eps
    report = dict(
        steady=steady,
        **stats,
        residual=rms(_force(network, xs[0], xs[1], x0)),
        sigma_min=sv[-1],
        sigma_max=sv[0],
        singular=sv[-1] <= flat.size * eps * sv[0],
    )
    return x, jax.lax.stop_gradient(report)


def equilibrium(
    network: Network,
    x0: Mapping[str, ArrayLike] | None = None,
    settings: SolveSettings | None = None,
    *,
    adjoint: str = "implicit",
    linear_solver="auto",
    polish: int = 0,
    throw: bool = True,
    info: bool = False,
    **overrides,
):
    """The steady state the flow reaches from ``x0``, as ``{layer: array}``
    (batched when ``x0`` is), differentiable with respect to every array of
    ``network`` and to the clamped values of ``x0``.

    **Arguments:**

    - ``network``: the ``Network``; its clamped layers are inputs, held at ``x0``.
    - ``x0``: ``{layer: state}`` (finite; missing layers start at zero; a
      leading axis makes a batch).
    - ``settings``/``overrides``: as ``simulate`` (a steady-state test is
      required; ``method="auto"`` is resolved here on concrete arrays, so
      inside ``jit``/``grad`` name a method, e.g. ``"tsit5"``).
    - ``adjoint``: ``"implicit"`` (implicit function theorem at the steady
      state) or ``"unrolled"`` (back-propagation through the steps).
    - ``linear_solver``: the implicit adjoint's solve with ``dF/dx``:
      ``"auto"`` (SVD least squares up to ``SVD_LIMIT`` free elements, LU
      beyond), ``"svd"``, ``"lu"``, ``"qr"`` or any ``lineax`` solver.
    - ``polish``: Newton steps on ``F`` after the solve (dense Jacobian, least
      squares): the steady state to rounding rather than to the steady-state
      tolerance, for small networks and gradient checks.
    - ``throw``: an end state that is not a steady state raises (at run time,
      also under ``jit``); ``False`` returns it (check ``info``).
    - ``info``: also return ``{steady, n_steps, t_final, residual, sigma_min,
      sigma_max, singular}`` (per member when batched); ``singular``: the
      Jacobian's smallest singular value is below ``n eps`` times its largest.

    **Returns:**

    ``{layer: array}``, the steady state (and the ``info`` dict with ``info=True``).

    **Raises:**

    ``SettingsError`` for bad settings or arguments (``method="auto"`` under a
    transformation), ``NetworkError`` for a start that is not finite or does
    not fit, and Equinox's runtime error (with ``throw=True``) when the solve
    ends without a steady state.

    Works under ``jax.jit``, ``jax.grad`` and ``jax.vmap``; the network's dtype
    is kept (no cast) so that gradients keep it too.
    """
    settings = settings if settings is not None else SolveSettings()
    if overrides:
        known = {f.name for f in dataclasses.fields(SolveSettings)}
        unknown = [k for k in overrides if k not in known]
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}", (unknown[0],))
        settings = dataclasses.replace(settings, **overrides)
    s = settings
    if adjoint not in ADJOINTS:
        raise SettingsError(f"expected one of {', '.join(ADJOINTS)}, got {adjoint!r}", ("adjoint",))
    if s.steady is None:
        raise SettingsError(
            "an equilibrium needs a steady-state test (steady_state: true or tolerances)", ("steady_state",)
        )
    if not (isinstance(linear_solver, lx.AbstractLinearSolver) or linear_solver in ("auto", "svd", "lu", "qr")):
        raise SettingsError(f"expected auto, svd, lu, qr or a lineax solver, got {linear_solver!r}", ("linear_solver",))
    dtype = jnp.dtype(network.dtype)
    if s.dtype is not None and jnp.dtype(s.dtype) != dtype:
        raise SettingsError(f"the network is {dtype}: cast it (network.astype) rather than set dtype", ("dtype",))
    from ..model.checks import check_states

    check_states(x0, "x0", finite=True)  # a NaN start has no steady state: said here, not at run time
    x0 = network.init_state(x0, dtype=dtype)
    batched = network.batch_size(x0) is not None
    method = s.method
    if method == AUTO:
        from .stiffness import resolve_auto

        s, _ = resolve_auto(network, x0, s)
        method = s.method
    m = get_method(method)
    if m is None or not m.continuous:
        raise SettingsError(f"an equilibrium needs an ODE method, got {method!r}", ("method",))
    if method == "rkc":
        raise SettingsError(
            "rkc needs a spectral radius measured per solve: use tsit5, etd or another method", ("method",)
        )
    p = params(s, dtype)
    cfg = _Config(
        _Static(method=method, max_steps=int(s.max_steps), steady=True, initial_dt=s.dt is not None),
        adjoint,
        int(polish),
        _held(network),
    )
    n = sum(network.neurons[a].size for a in _dynamic(network, cfg.held))
    solver = _linear_solver(linear_solver, n)
    return _run(network, x0, p, cfg, solver, throw, info, batched)


@eqx.filter_jit
def _run(network, x0, p, cfg, solver, throw: bool, info: bool, batched: bool):
    """The solve and its adjoint as one compiled program, cached by the network's
    structure and the settings: a second call, a second ``jax.grad`` included,
    reuses it (run eagerly, every call traced and compiled Diffrax's solve and
    its reverse pass again, since the terms closing over the network are new
    objects each time)."""
    one = lambda x: _one(network, x, p, cfg, solver, throw, info)  # noqa: E731
    return jax.vmap(one)(x0) if batched else one(x0)
