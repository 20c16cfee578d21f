"""Stiffness: estimate it at the initial state and choose a solver that fits.

``choose_solver`` measures the Jacobian's spectral radius times the slowest
``tau`` (power iteration with JVPs) and, for non-stiff networks, the radius of
the couplings alone, and picks ETDRK4 (stiff through the leaks, or couplings
slower than the leaks), Tsit5 (not stiff), RKC2 (stiff through self-coupled
layers at loose tolerances) or a PI-controlled Tsit5 with capped steps
(tighter tolerances).  Implicit methods are never chosen automatically.  It
also names layers that could be quasi-static (``tau: 0``) but never changes
the model.  The reasons and measured costs are in the README.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..model.network import cast, norm
from .compile import compiled

STIFF_RATIO = 10.0  # spectral radius x slowest tau above which a network counts as stiff
PI_COEFFS = (0.3, 0.3)  # (pcoeff, icoeff) for explicit solves of stiff networks
DT_SAFETY = 2.0  # their steps stay below DT_SAFETY / spectral radius (Tsit5 is stable to about 3.5)
ETD_DTMAX = (
    2.0  # ETDRK4's steps stay below this x slowest tau: the stop test (at step ends) then resolves convergence times
)
SLOW_COUPLING = 1.0  # coupling spectral radius x slowest tau below which a non-stiff network gets ETDRK4
RKC_MIN_RTOL = 1e-5  # RKC2 (order 2) for stiff networks at rtol >= this; measured crossover with Tsit5 ~1e-6


class SolverChoice(NamedTuple):
    method: str
    pcoeff: float
    icoeff: float
    dtmax: float | None
    report: dict

    def applied(self, settings):
        """``settings`` with this method, and this controller wherever the user
        left the field unset (``None``)."""
        keep = lambda mine, picked: picked if mine is None else mine  # noqa: E731
        return dataclasses.replace(
            settings,
            method=self.method,
            pcoeff=keep(settings.pcoeff, self.pcoeff),
            icoeff=keep(settings.icoeff, self.icoeff),
            dtmax=keep(settings.dtmax, self.dtmax),
        )


def _coupling_field(network):
    """``N(x) = dx/dt + x / tau``: the field without the layers' leaks."""
    rate = network.leak_rates()
    return lambda x: jax.tree.map(lambda f, r, y: f + r * y, network.vector_field(x), rate, x)


@eqx.filter_jit
def _power_iteration(network, x, v, iters: int, coupling: bool):
    """Norms of ``iters`` power-iteration steps with JVPs of the field (or of its
    couplings alone) at ``x``: one program per structure, kept like the solves."""
    field = _coupling_field(network) if coupling else network.vector_field

    def jv(u):
        return jax.jvp(field, (x,), (u,))[1]

    def body(carry, _):
        u, _ = carry
        w = jv(u)
        size = norm(w)
        tiny = jnp.finfo(size.dtype).tiny
        return (jax.tree.map(lambda a: a / jnp.maximum(size, tiny), w), size), size

    (_, _), norms = jax.lax.scan(body, (v, jnp.zeros((), jax.tree.leaves(x)[0].dtype)), None, length=iters)
    return norms


def spectral_radius(network, x: dict, iters: int = 40, seed: int = 0, coupling: bool = False) -> float:
    """An estimate of the largest |eigenvalue| of the vector field's Jacobian at
    ``x`` (one unbatched state): power iteration with JVPs, the largest growth
    factor over the last iterations (robust to complex pairs).  ``coupling``:
    of the field without the leaks ``-x/tau`` (``N`` in ``etd.py``)."""
    gen = np.random.default_rng(seed)
    dtype = jax.tree.leaves(x)[0].dtype
    v = {a: cast(gen.normal(size=np.shape(x[a])), dtype) for a in x}
    args = (network, x, v, iters, coupling)
    run, _ = compiled(_power_iteration, *args, what="the stiffness estimate")
    norms = np.asarray(run(*args), np.float64)
    tail = norms[iters // 2 :]
    return float(np.max(tail[np.isfinite(tail)])) if np.any(np.isfinite(tail)) else float("inf")


def _free_variables(network) -> int:
    n = 0
    for a, neuron in network.neurons.items():
        if neuron.quasi_static:
            continue
        mask = network.clamps.get(a)
        n += neuron.size if mask is None else int(np.sum(~np.asarray(mask)))
    return n


def resolve_auto(network, x0: dict, settings):
    """``settings`` with ``method: auto`` resolved, and the choice (``None`` when
    a method is named).  The one place ``auto`` becomes a method: ``simulate``,
    ``equilibrium``, the ensembles of ``basins`` and ``train`` all call it (an
    ensemble on its first start, so that every chunk runs one solve).  The
    controller fields the user set are kept; ``x0`` must be concrete arrays.

    **Arguments:**

    - ``network``: the ``Network``
    - ``x0``: a full (batched or single) state; the first member is probed
    - ``settings``: a ``SolveSettings``

    **Raises:** ``SettingsError`` on ``method`` when ``x0`` or the network is
    traced (under ``jax.jit``/``vmap``/``grad``: name a method there)."""
    from ..model.checks import traced
    from .registry import AUTO, AUTO_NEEDS_VALUES

    if settings.method != AUTO:
        return settings, None
    if traced(network, x0):
        from ..core.errors import SettingsError

        raise SettingsError(AUTO_NEEDS_VALUES, ("method",))
    picked = choose_solver(network, x0, settings.rtol)
    return picked.applied(settings), picked


def choose_solver(network, x0: dict, rtol: float | None = None) -> SolverChoice:
    """The solver for ``network`` from the full state ``x0`` (batched or not: the
    first member is probed) at relative tolerance ``rtol`` (None: tight), with a
    report for ``result.json``."""
    if network.batch_size(x0) is not None:
        x0 = jax.tree.map(lambda a: a[0], x0)
    taus = [float(n.tau) for n in network.neurons.values() if not n.quasi_static]
    slow = max(taus)
    rho = spectral_radius(network, x0)
    ratio = rho * slow
    n_free = _free_variables(network)
    report = {
        "spectral_radius": rho,
        "slowest_tau": slow,
        "stiffness_ratio": ratio,
        "threshold": STIFF_RATIO,
        "free_variables": n_free,
    }
    hints = [
        a
        for a, n in network.neurons.items()
        if not n.quasi_static and float(n.tau) <= 0.1 * slow and network.inputs_independent(network.quasi_static + (a,))
    ]
    if hints:
        report["hint"] = (
            f"layer{'s' if len(hints) > 1 else ''} {', '.join(map(repr, hints))} could be quasi-static "
            f"(tau: 0): {'their' if len(hints) > 1 else 'its'} equilibrium has a closed form"
        )
    free = [a for a, n in network.neurons.items() if not n.quasi_static]
    self_free = all(network.inputs_independent((a,)) for a in free)
    stiff = not np.isfinite(ratio) or ratio > STIFF_RATIO
    if stiff and np.isfinite(ratio) and self_free:
        report["reason"] = (
            "stiff through its leaks (no layer's input depends on the layer itself): ETDRK4, "
            "exponential integrator, the leaks -x/tau integrated exactly"
        )
        return SolverChoice("etd", 0.0, 1.0, ETD_DTMAX * slow, report)
    if not stiff:  # the couplings' own radius decides between the two explicit choices
        rho_c = report["coupling_spectral_radius"] = spectral_radius(network, x0, coupling=True)
        if np.isfinite(rho_c) and rho_c * slow <= SLOW_COUPLING:
            report["reason"] = (
                f"not stiff, couplings slower than the leaks (coupling spectral radius x slowest tau "
                f"<= {SLOW_COUPLING:g}): ETDRK4, exponential integrator, the leaks integrated exactly"
            )
            return SolverChoice("etd", 0.0, 1.0, ETD_DTMAX * slow, report)
        report["reason"] = "not stiff: explicit Tsit5, integral step control"
        return SolverChoice("tsit5", 0.0, 1.0, None, report)
    if rtol is not None and rtol >= RKC_MIN_RTOL:
        report["reason"] = (
            f"stiff, rtol >= {RKC_MIN_RTOL:g}: RKC2 (Runge-Kutta-Chebyshev, order 2), as many stages per "
            "step as the spectral radius needs, the radius tracked along the solve"
        )
        return SolverChoice("rkc", 0.0, 1.0, None, report)
    dtmax = DT_SAFETY / rho
    report["reason"] = (
        f"stiff, rtol < {RKC_MIN_RTOL:g}: Tsit5 with PI step control, steps capped at {DT_SAFETY:g}/spectral radius "
        "(below the stability limit)"
    )
    return SolverChoice("tsit5", *PI_COEFFS, dtmax, report)
