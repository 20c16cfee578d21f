"""Tsit5 with its stages written out: the method ``tsit5``.

Diffrax's ``Tsit5`` keeps its seven stages in one stacked buffer and forms
each stage point as the product of a tableau row with the whole buffer, then
writes the new stage into it.  Under ``vmap`` — every ensemble hopdyn solves
— that is several passes over a ``(7, batch, units)`` buffer per stage.  Here
each stage point is the sum of the terms its row has and the stages stay
separate arrays, so a step reads each stage once per use and writes nothing
it does not need.  Same tableau (read from ``diffrax.Tsit5.tableau``), same
embedded error estimate, same fifth-order dense output (Tsitouras' polynomials
as Diffrax writes them), same first-same-as-last state: the solutions agree
with Diffrax's to rounding (``tests/test_tsit5.py``).  What it gave: the
performance page (docs/performance.md).
"""

from __future__ import annotations

from typing import ClassVar

import diffrax as dfx
import jax
import numpy as np
from diffrax._local_interpolation import AbstractLocalInterpolation

_T = dfx.Tsit5.tableau
C = tuple(float(c) for c in _T.c)
A = tuple(tuple(float(a) for a in row) for row in _T.a_lower)
B_ERROR = tuple(float(b) for b in _T.b_error)
# First same as last: the seventh stage point is the solution, so f(y1) is the seventh stage.
assert np.allclose(_T.a_lower[-1], _T.b_sol[:-1]) and _T.b_sol[-1] == 0 and C[-1] == 1.0


def _combine(y0, h, coeffs, fs):
    """``y0 + h * sum_j coeffs_j fs_j`` leaf by leaf, skipping zero coefficients
    (``y0=None``: without ``y0``)."""

    def leaf(y, *f):
        s = sum(c * fj for c, fj in zip(coeffs, f) if c != 0.0)
        return h * s if y is None else y + h * s

    if y0 is None:
        return jax.tree.map(lambda *f: leaf(None, *f), *fs)
    return jax.tree.map(leaf, y0, *fs)


def dense_weights(theta):
    """Tsitouras' fifth-order interpolation weights ``b_1..b_7`` at ``theta`` in
    [0, 1] (the polynomials of Diffrax's ``Tsit5`` dense output)."""
    t = theta
    return (
        -1.0530884977290216 * t * (t - 1.3299890189751412) * (t**2 - 1.4364028541716351 * t + 0.7139816917074209),
        0.1017 * t**2 * (t**2 - 2.1966568338249754 * t + 1.2949852507374631),
        2.490627285651252793 * t**2 * (t**2 - 2.38535645472061657 * t + 1.57803468208092486),
        -16.54810288924490272 * (t - 1.21712927295533244) * (t - 0.61620406037800089) * t**2,
        47.37952196281928122 * (t - 1.203071208372362603) * (t - 0.658047292653547382) * t**2,
        -34.87065786149660974 * (t - 1.2) * (t - 0.666666666666666667) * t**2,
        2.5 * (t - 1) * (t - 0.6) * t**2,
    )


class Tsit5Interpolation(AbstractLocalInterpolation):
    """Fifth-order dense output over one step from its start ``y0`` and its seven
    stage fields ``fs``: ``y(t0 + theta h) = y0 + h sum_j b_j(theta) fs_j``."""

    t0: object
    t1: object
    y0: object
    fs: tuple

    def evaluate(self, t0, t1=None, left=True):
        del left
        if t1 is not None:
            return jax.tree.map(lambda b, a: b - a, self.evaluate(t1), self.evaluate(t0))
        h = self.t1 - self.t0
        theta = (t0 - self.t0) / h
        w = dense_weights(theta)

        def leaf(y, *f):
            return y + h * sum(wj * fj for wj, fj in zip(w, f))

        return jax.tree.map(leaf, self.y0, *self.fs)


class Tsit5(dfx.AbstractAdaptiveSolver):
    """Tsitouras' 5(4) pair, seven stages, first same as last, its stages
    written out (see the module's docstring for why).

    **Arguments:** none.  The solver's state is ``f(y)`` at the step's start.
    """

    term_structure: ClassVar = dfx.AbstractTerm
    interpolation_cls: ClassVar = Tsit5Interpolation

    def order(self, terms):
        return 5

    def init(self, terms, t0, t1, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del made_jump  # hopdyn's fields are continuous in time: f(y0) stays valid
        h = t1 - t0
        fs = [solver_state]
        for c, row in zip(C, A):
            yi = _combine(y0, h, row, fs)
            fs.append(terms.vf(t0 + c * h, yi, args))
        y1 = yi  # the last stage point (first same as last)
        err = _combine(None, h, B_ERROR, fs)
        dense = dict(y0=y0, fs=tuple(fs))
        return y1, err, dense, fs[-1], dfx.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
