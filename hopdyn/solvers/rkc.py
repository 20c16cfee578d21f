"""RKC2: the second-order Runge–Kutta–Chebyshev method as a Diffrax solver.

The Jacobian of ``tau dx/dt = -dE/dxhat`` is similar to a symmetric matrix, so
its spectrum is real; Chebyshev methods (Sommeijer, Shampine & Verwer 1997)
spend ``s`` evaluations per step on a stability interval of about
``0.65 s^2`` along the negative axis, so stiffness costs ``sqrt(rho)`` instead
of ``rho`` with no linear solves.  Per step: ``s`` stages of the damped
recursion (their eq. 2.4) with stage times, their error estimate (2.10) with
``f(y1)`` kept for the next step, one warm-started power-iteration step that
tracks the spectral radius, and cubic Hermite dense output.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from diffrax._local_interpolation import ThirdOrderHermitePolynomialInterpolation
from jaxtyping import Array

from ..model.network import norm

DAMPING = 2.0  # eps: stability interval ~0.54 s^2, |R| <= 0.6 inside it (see RKC2)
RHO_SAFETY = 1.2


def _axpy(*pairs):
    """sum of coefficient * tree."""
    out = None
    for c, tree in pairs:
        term = jax.tree.map(lambda a: c * a, tree)
        out = term if out is None else jax.tree.map(jnp.add, out, term)
    return out


def _chebyshev(s: int, eps: float) -> tuple[float, float]:
    """``beta(s)`` and ``w1 = T_s'(w0) / T_s''(w0)``, ``w0 = 1 + eps/s^2``: with
    ``w0`` both depend on ``s`` only, so the solver reads them from a table."""
    w0 = 1.0 + eps / s**2
    t1, t0, d1, d0, e1, e0 = w0, 1.0, 1.0, 0.0, 0.0, 0.0
    for _ in range(1, s):  # T_j, T_j', T_j'' by the three-term recurrence
        t1, t0, d1, d0, e1, e0 = 2 * w0 * t1 - t0, t1, 2 * t1 + 2 * w0 * d1 - d0, d1, 4 * d1 + 2 * w0 * e1 - e0, e1
    return (1.0 + w0) * e1 / d1, d1 / e1


def stability_interval(s: int, eps: float = DAMPING) -> float:
    """``beta(s)``: the method is stable for real eigenvalues ``h lambda`` in
    ``[-beta(s), 0]``; ``(1 + w0) T_s''(w0) / T_s'(w0)`` with ``w0 = 1 + eps/s^2``
    (where the Chebyshev argument ``w0 + w1 h lambda`` reaches -1)."""
    return _chebyshev(s, eps)[0]


@functools.cache
def _tables(eps: float, max_stages: int) -> tuple[np.ndarray, np.ndarray]:
    """``beta(s)`` and ``w1(s)`` for ``s = 2 .. max_stages``."""
    beta, w1 = zip(*(_chebyshev(s, eps) for s in range(2, max_stages + 1)))
    return np.array(beta), np.array(w1)


def stages_for(h_rho, eps: float, max_stages: int):
    """The fewest stages (>= 2, <= ``max_stages``) whose stability interval covers ``h rho``."""
    table = jnp.asarray(_tables(eps, max_stages)[0], jnp.result_type(h_rho))
    return jnp.minimum(2 + jnp.searchsorted(table, h_rho), max_stages).astype(jnp.int32)


class RKC2(dfx.AbstractAdaptiveSolver):
    """Second-order Runge–Kutta–Chebyshev with a tracked spectral radius.

    **Arguments:**

    - ``rho``: a bound on the spectral radius of the field's Jacobian at the
      start (``stiffness.spectral_radius``); the solver tracks it from
      there and never uses less than ``rho_floor``.
    - ``rho_floor``: the smallest spectral radius assumed (default 0).
    - ``damping``: Sommeijer et al.'s ``eps``.  Theirs, 2/13, gives the longest
      interval (~0.65 s^2) but leaves modes inside it damped only to ~0.95 per
      step, which a steady-state test then waits for; 2 (default) costs 9% more
      stages for a damping of ~0.6 (``tests/test_rkc.py`` measures both).
    - ``max_stages``: the most stages per step; longer steps are left to the
      step-size controller to reject.
    """

    rho: Array
    rho_floor: Array = eqx.field(default_factory=lambda: jnp.asarray(0.0))
    damping: float = eqx.field(static=True, default=DAMPING)
    max_stages: int = eqx.field(static=True, default=250)
    stage_loop: str = eqx.field(static=True, default="checkpointed")
    """How the stages loop: ``checkpointed`` (Equinox's while loop, reverse-mode
    differentiable with a dynamic stage count) or ``lax`` (forward mode)."""

    term_structure: ClassVar = dfx.AbstractTerm
    interpolation_cls: ClassVar = ThirdOrderHermitePolynomialInterpolation

    def order(self, terms):
        return 2

    def error_order(self, terms):
        return 3  # the estimate is the local error of the order-2 result, O(h^3)

    def init(self, terms, t0, t1, y0, args):
        f0 = terms.vf(t0, y0, args)
        leaves = jax.tree.leaves(y0)
        dtype = leaves[0].dtype
        # a fixed, deterministic start direction for the power iteration
        v = jax.tree.map(lambda a: jnp.cos(jnp.arange(a.size, dtype=dtype).reshape(a.shape) * 0.7 + 0.3), y0)
        v = jax.tree.map(lambda a: a / norm(v), v)
        rho = jnp.maximum(jnp.asarray(self.rho, dtype), jnp.asarray(self.rho_floor, dtype))
        return f0, v, rho, jnp.asarray(1, jnp.int32)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del made_jump
        f0, v, rho, count = solver_state
        dtype = jax.tree.leaves(y0)[0].dtype
        h = jnp.asarray(t1 - t0, dtype)
        s = stages_for(h * RHO_SAFETY * rho, self.damping, self.max_stages)
        w0 = 1.0 + self.damping / jnp.square(s.astype(dtype))
        w1 = jnp.asarray(_tables(self.damping, self.max_stages)[1], dtype)[s - 2]
        b1 = 1.0 / (4.0 * jnp.square(w0))  # b0 = b1 = b2 = T2''/T2'^2
        mu1 = b1 * w1
        y1 = _axpy((1.0, y0), (mu1 * h, f0))

        def body(j, carry):
            # carry: Y_{j-1}, Y_{j-2}, c_{j-1}, Chebyshev values at j-1 and j-2, b_{j-1}, b_{j-2}
            yj1, yj2, cj1, t1_, t0_, d1, d0, e1, e0, bj1, bj2 = carry
            tj = 2 * w0 * t1_ - t0_
            dj = 2 * t1_ + 2 * w0 * d1 - d0
            ej = 4 * d1 + 2 * w0 * e1 - e0
            bj = ej / jnp.square(dj)
            mu = 2 * w0 * bj / bj1
            nu = -bj / bj2
            mut = 2 * w1 * bj / bj1
            gam = -(1.0 - bj1 * t1_) * mut
            fj1 = terms.vf(t0 + cj1 * h, yj1, args)
            yj = _axpy((1.0 - mu - nu, y0), (mu, yj1), (nu, yj2), (mut * h, fj1), (gam * h, f0))
            cj = w1 * ej / dj
            return yj, yj1, cj, tj, t1_, dj, d1, ej, e1, bj, bj1

        one, zero = jnp.ones_like(w0), jnp.zeros_like(w0)
        carry = (y1, y0, mu1, w0, one, one, zero, zero, zero, b1, b1)
        if self.stage_loop == "lax":
            ys = jax.lax.fori_loop(2, s + 1, body, carry)[0]
        else:
            import equinox.internal as eqxi

            ys = eqxi.while_loop(
                lambda c: c[0] <= s,
                lambda c: (c[0] + 1, body(c[0], c[1])),
                (jnp.asarray(2, s.dtype), carry),
                max_steps=self.max_stages,
                kind="checkpointed",
            )[1][0]
        t_end = t0 + h
        f1 = terms.vf(t_end, ys, args)
        err = _axpy((0.8, y0), (-0.8, ys), (0.4 * h, f0), (0.4 * h, f1))  # (12 dy + 6 h (F0 + F1)) / 15

        # one power-iteration step at the new state: |J v| by a finite difference
        scale = jnp.sqrt(jnp.finfo(dtype).eps) * (1.0 + norm(ys))
        fv = terms.vf(t_end, _axpy((1.0, ys), (scale, v)), args)
        jv = _axpy((1.0 / scale, fv), (-1.0 / scale, f1))
        jv_norm = norm(jv)
        ok = jnp.isfinite(jv_norm) & (jv_norm > 0)
        v_new = jax.tree.map(lambda a, b: jnp.where(ok, a / jnp.where(ok, jv_norm, 1.0), b), jv, v)
        # the estimate falls at most 10% a step while the iteration settles
        rho_new = jnp.maximum(jnp.where(ok, jnp.maximum(jv_norm, 0.9 * rho), rho), jnp.asarray(self.rho_floor, dtype))
        dense = dict(y0=y0, y1=ys, k0=jax.tree.map(lambda a: h * a, f0), k1=jax.tree.map(lambda a: h * a, f1))
        return ys, err, dense, (f1, v_new, rho_new, count + s + 1), dfx.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
