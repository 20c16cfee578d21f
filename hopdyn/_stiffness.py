"""Stiffness: estimate it at the initial state and choose a solver that fits.

Memory layers are usually fast (small ``tau``) and sharp (large ``beta``): the
Jacobian of the vector field then has eigenvalues far larger than the rate at
which the slow layers settle, and an explicit solver with Diffrax's default
integral step controller oscillates at its stability limit.  ``choose_solver``
measures the ratio and picks:

- not stiff: Tsit5 with the integral controller;
- stiff, at tolerances ``rtol >= 1e-5``: RKC2, the second-order
  Runge–Kutta–Chebyshev method (``_rkc.py``).  The field of an energy-based
  network has a real spectrum, where Chebyshev methods buy a stability interval
  growing like the square of the evaluations spent; on the bench's stiff memory
  (K = 1000, D = 1024, batch 1024) it needs 743 evaluations where the choice
  below needs 907, and 22 s instead of 32 s;
- stiff, tighter tolerances (a second-order method would need many small
  steps): Tsit5 with a PI controller (``pcoeff 0.3, icoeff 0.3``) and steps
  capped below the stability limit (``2 / spectral radius``): at the limit the
  fast modes' errors are not damped and, in float32, the steady-state test may
  never be met.

Implicit methods are not chosen automatically: measured on the shipped
image/label network (20 free variables, ratio 22), Kvaerno5 in float32 at
rtol 1e-6 took 8,500 steps and ten minutes where the explicit solve takes
0.1 s.  Ask for ``kvaerno5`` explicitly where it pays (small, very stiff,
float64).

It also names layers that could be made quasi-static (``tau: 0``), the
cheapest cure, but never changes the model itself.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._network import norm

STIFF_RATIO = 10.0  # spectral radius x slowest tau above which a network counts as stiff
PI_COEFFS = (0.3, 0.3)  # (pcoeff, icoeff) for explicit solves of stiff networks
DT_SAFETY = 2.0  # their steps stay below DT_SAFETY / spectral radius (Tsit5 is stable to about 3.5)
RKC_MIN_RTOL = 1e-5  # RKC2 (order 2) for stiff networks at rtol >= this; measured crossover with Tsit5 ~1e-6


class SolverChoice(NamedTuple):
    method: str
    pcoeff: float
    icoeff: float
    dtmax: float | None
    report: dict


@functools.cache
def _power_iteration():
    @eqx.filter_jit
    def run(network, x, v, iters: int):
        def jv(u):
            return jax.jvp(network.vector_field, (x,), (u,))[1]

        def body(carry, _):
            u, _ = carry
            w = jv(u)
            size = norm(w)
            return (jax.tree.map(lambda a: a / jnp.maximum(size, 1e-300), w), size), size

        (_, _), norms = jax.lax.scan(body, (v, jnp.zeros((), jax.tree.leaves(x)[0].dtype)), None, length=iters)
        return norms

    return run


def spectral_radius(network, x: dict, iters: int = 40, seed: int = 0) -> float:
    """An estimate of the largest |eigenvalue| of the vector field's Jacobian at
    ``x`` (one unbatched state): power iteration with JVPs, the largest growth
    factor over the last iterations (robust to complex pairs)."""
    gen = np.random.default_rng(seed)
    dtype = jax.tree.leaves(x)[0].dtype
    v = {a: jnp.asarray(gen.normal(size=np.shape(x[a])), dtype) for a in x}
    norms = np.asarray(_power_iteration()(network, x, v, iters), np.float64)
    tail = norms[iters // 2:]
    return float(np.max(tail[np.isfinite(tail)])) if np.any(np.isfinite(tail)) else float("inf")


def _free_variables(network) -> int:
    n = 0
    for a, neuron in network.neurons.items():
        if neuron.quasi_static:
            continue
        mask = network.clamps.get(a)
        n += neuron.size if mask is None else int(np.sum(~np.asarray(mask)))
    return n


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
    report = {"spectral_radius": rho, "slowest_tau": slow, "stiffness_ratio": ratio, "threshold": STIFF_RATIO,
              "free_variables": n_free}
    hints = [a for a, n in network.neurons.items()
             if not n.quasi_static and float(n.tau) <= 0.1 * slow
             and network.inputs_independent(network.quasi_static + (a,))]
    if hints:
        report["hint"] = (f"layer{'s' if len(hints) > 1 else ''} {', '.join(map(repr, hints))} could be quasi-static "
                          f"(tau: 0): {'their' if len(hints) > 1 else 'its'} equilibrium has a closed form")
    if not np.isfinite(ratio) or ratio <= STIFF_RATIO:
        report["reason"] = "not stiff: explicit Tsit5, integral step control"
        return SolverChoice("tsit5", 0.0, 1.0, None, report)
    if rtol is not None and rtol >= RKC_MIN_RTOL:
        report["reason"] = (f"stiff, rtol >= {RKC_MIN_RTOL:g}: RKC2 (Runge-Kutta-Chebyshev, order 2), as many stages per "
                            "step as the spectral radius needs, the radius tracked along the solve")
        return SolverChoice("rkc", 0.0, 1.0, None, report)
    dtmax = DT_SAFETY / rho
    report["reason"] = (f"stiff, rtol < {RKC_MIN_RTOL:g}: Tsit5 with PI step control, steps capped at {DT_SAFETY:g}/spectral radius "
                        "(below the stability limit)")
    return SolverChoice("tsit5", *PI_COEFFS, dtmax, report)

