"""ETDRK4: exponential time differencing Runge–Kutta (order 4) as a Diffrax solver.

Every layer's energy term contributes exactly ``x_a`` to ``dE/dxhat_a``, so a
hopdyn network is ``dx/dt = -x/tau + N(x)`` with a diagonal, known linear part.
Cox & Matthews' ETDRK4 (2002, eqs. 26–29) integrates the leak exactly and only
``N`` explicitly: fast layers land on their equilibrium over long steps and
fixed points are fixed points of the step.  ``phi_k`` act elementwise on
``z = -h / tau_a``; the embedded third-order estimate is
``h (4 phi_3 - phi_2) (N(c) - N(x1))`` from the first-same-as-last evaluation
(four evaluations per step); dense output integrates the leak exactly.  Where
the rate is 0 (quasi-static layers, clamped units) the step is classical RK4.
When ``auto`` picks it: ``stiffness.choose_solver``; measured costs: README.
"""

from __future__ import annotations

import math
from typing import ClassVar

import diffrax as dfx
import jax
import jax.numpy as jnp
from diffrax._local_interpolation import AbstractLocalInterpolation

TAYLOR_BELOW = 1.0  # |z| below which phi_k come from their series (no cancellation)
TAYLOR_TERMS = 18  # series error < 1 / (18 + 3)! ~ 2e-20 for |z| < 1


def phi(z):
    """``phi_1, phi_2, phi_3`` of ``z`` (elementwise): ``phi_0 = e^z``,
    ``phi_{k+1}(z) = (phi_k(z) - 1/k!) / z``, ``phi_k(0) = 1/k!``."""
    small = jnp.abs(z) < TAYLOR_BELOW
    zs = jnp.where(small, z, 0.0)
    zl = jnp.where(small, 1.0, z)  # the recurrence away from 0, where it is well conditioned

    def series(k):  # sum_j z^j / (j + k)!, by Horner
        out = jnp.zeros_like(zs)
        for j in range(TAYLOR_TERMS, -1, -1):
            out = out * zs + 1.0 / math.factorial(j + k)
        return out

    p1 = jnp.expm1(zl) / zl
    p2 = (p1 - 1.0) / zl
    p3 = (p2 - 0.5) / zl
    return (jnp.where(small, series(1), p1), jnp.where(small, series(2), p2), jnp.where(small, series(3), p3))


def _tmap(f, *trees):
    return jax.tree.map(f, *trees)


def _phis(z):
    """``phi_1, phi_2, phi_3`` of every leaf of ``z``, as three trees."""
    both = _tmap(phi, z)
    return tuple(jax.tree.map(lambda t, k=k: t[k], both, is_leaf=lambda x: isinstance(x, tuple)) for k in range(3))


def _leak_quadratic(s, y0, e, q1, q2, q3, c):
    """``y(t0 + s)`` when ``N`` is the quadratic ``c0 + c1 u + c2 u^2`` (``u`` the
    time into the step) and the leak is integrated exactly: ``e = e^{-r s}``,
    ``q_k = phi_k(-r s)``."""
    return e * y0 + s * q1 * c[0] + s * s * q2 * c[1] + 2 * s**3 * q3 * c[2]


class ExponentialInterpolation(AbstractLocalInterpolation):
    """Dense output that keeps the leak exact: ``N`` along the step as the
    quadratic through ``N(x)``, the mean of the two midpoint stages, and
    ``N(x1)``, integrated against the leak in closed form,

        y(t0 + s) = e^{-r s} y0 + s phi_1 c0 + s^2 phi_2 c1 + 2 s^3 phi_3 c2   (phi_k at -r s),

    plus ``(s/h)`` times its (higher-order) mismatch ``gap`` with ``x1``, so the
    path is continuous (the step computes both, with the ``phi`` it already
    has).  A cubic Hermite polynomial cannot follow ``e^{-s/tau}`` over steps of
    several ``tau``; this is exact there."""

    t0: object
    t1: object
    y0: object
    rate: object
    c: object  # (c0, c1, c2) per leaf
    gap: object  # y1 - (the quadratic's value at s = h)

    def evaluate(self, t0, t1=None, left=True):
        del left
        if t1 is not None:
            return _tmap(lambda b, a: b - a, self.evaluate(t1), self.evaluate(t0))
        s = t0 - self.t0
        theta = s / (self.t1 - self.t0)
        z = _tmap(lambda r: -s * r, self.rate)
        q1, q2, q3 = _phis(z)
        quad = jax.tree.map(
            lambda y, zi, a1, a2, a3, c: _leak_quadratic(s, y, jnp.exp(zi), a1, a2, a3, c),
            self.y0,
            z,
            q1,
            q2,
            q3,
            self.c,
            is_leaf=lambda x: isinstance(x, tuple),
        )
        return _tmap(lambda q, g: q + theta * g, quad, self.gap)


class ETDRK4(dfx.AbstractAdaptiveSolver):
    """Cox–Matthews ETDRK4 with an embedded third-order error estimate, for
    ``dy/dt = -rate * y + N(y)``.

    **Arguments:**

    - ``rate``: the leak rate ``1 / tau`` of every element of ``y`` (a pytree
      like ``y``, or of arrays that broadcast to it); 0 where an element has no
      leak.  ``N`` is recovered as ``f(y) + rate * y`` from the term's field, so
      the solver is exact for any field — the rate only says which part it
      integrates exactly (``Network.leak_rates`` gives hopdyn's).
    """

    rate: object

    term_structure: ClassVar = dfx.AbstractTerm
    interpolation_cls: ClassVar = ExponentialInterpolation

    def order(self, terms):
        return 4

    def error_order(self, terms):
        return 4  # the embedded result is order 3: its local error is O(h^4)

    def init(self, terms, t0, t1, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del made_jump
        f0 = solver_state
        dtype = jax.tree.leaves(y0)[0].dtype
        h = jnp.asarray(t1 - t0, dtype)
        rate = _tmap(lambda r: jnp.asarray(r, dtype), self.rate)  # as given: per layer (scalar) or per element
        nonlin = lambda y, f: _tmap(lambda fi, r, yi: fi + r * yi, f, rate, y)
        z = _tmap(lambda r: -h * r, rate)
        zh = _tmap(lambda r: -0.5 * h * r, rate)
        e, eh = _tmap(jnp.exp, z), _tmap(jnp.exp, zh)
        p1, p2, p3 = _phis(z)
        p1h = _phis(zh)[0]
        tm = t0 + 0.5 * h
        n0 = nonlin(y0, f0)
        a = _tmap(lambda y, ei, q, n: ei * y + 0.5 * h * q * n, y0, eh, p1h, n0)
        na = nonlin(a, terms.vf(tm, a, args))
        b = _tmap(lambda y, ei, q, n: ei * y + 0.5 * h * q * n, y0, eh, p1h, na)
        nb = nonlin(b, terms.vf(tm, b, args))
        c = _tmap(lambda y, ei, q, n, m: ei * y + 0.5 * h * q * (2 * m - n), a, eh, p1h, n0, nb)
        nc = nonlin(c, terms.vf(t1, c, args))
        y1 = _tmap(
            lambda y, ei, q1, q2, q3, n, ma, mb, k: (
                ei * y + h * ((q1 - 3 * q2 + 4 * q3) * n + 2 * (q2 - 2 * q3) * (ma + mb) + (4 * q3 - q2) * k)
            ),
            y0,
            e,
            p1,
            p2,
            p3,
            n0,
            na,
            nb,
            nc,
        )
        f1 = terms.vf(t1, y1, args)
        n1 = nonlin(y1, f1)
        err = _tmap(lambda q2, q3, k, m: h * (4 * q3 - q2) * (k - m), p2, p3, nc, n1)
        # dense output: N along the step as the quadratic through N(x), the midpoint stages' mean, N(x1)
        coeffs = _tmap(
            lambda u, ma, mb, w: (u, (2 * (ma + mb) - 3 * u - w) / h, (2 * u - 2 * (ma + mb) + 2 * w) / (h * h)),
            n0,
            na,
            nb,
            n1,
        )
        at_end = jax.tree.map(
            lambda y, ei, q1, q2, q3, cc: _leak_quadratic(h, y, ei, q1, q2, q3, cc),
            y0,
            e,
            p1,
            p2,
            p3,
            coeffs,
            is_leaf=lambda x: isinstance(x, tuple),
        )
        dense = dict(y0=y0, rate=rate, c=coeffs, gap=_tmap(jnp.subtract, y1, at_end))
        return y1, err, dense, f1, dfx.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
