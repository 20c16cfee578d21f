"""Ending a solve on the field the solver has already evaluated.

hopdyn ends an ODE solve on trouble (NaN, divergence) or, when asked, at a
steady state: tests on ``y`` and ``f(y)``.  A Diffrax ``Event`` costs one more
field evaluation per step; first-same-as-last solvers (Tsit5, Dopri5, RKC2,
ETDRK4) already hold ``f(y1)``.  ``FieldStop`` wraps such a solver and runs
the test on it, passing the answer beside the error estimate;
``StopController`` (a ``PIDController``) ends the solve with
``RESULTS.event_occurred`` on an accepted step that passed.  Which methods
use it: their ``fsal`` trait in ``registry.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp


class FieldStop(dfx.AbstractAdaptiveSolver, dfx.AbstractWrappedSolver):
    """``solver`` whose error estimate comes with ``test(y1, f1)`` as 0/1."""

    solver: dfx.AbstractAdaptiveSolver
    field: Callable = eqx.field(static=True)
    test: Callable = eqx.field(static=True)

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def scan_kind(self):  # Diffrax's ForwardMode asks Runge-Kutta solvers for it
        return getattr(self.solver, "scan_kind", None) or "lax"

    @property
    def interpolation_cls(self):  # pyright: ignore
        return self.solver.interpolation_cls

    def order(self, terms):
        return self.solver.order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, err, dense, state, result = self.solver.step(terms, t0, t1, y0, args, solver_state, made_jump)
        flag = jnp.where(self.test(y1, self.field(state)), 1.0, 0.0).astype(jax.tree.leaves(err)[0].dtype)
        return y1, (err, flag), dense, state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)


class StopController(dfx.PIDController):
    """A ``PIDController`` for ``FieldStop`` solvers: an accepted step whose end
    passed the test ends the solve (``RESULTS.event_occurred``)."""

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order, controller_state):
        err, flag = y_error
        keep, tprev, tnext, jump, state, result = super().adapt_step_size(
            t0, t1, y0, y1_candidate, args, err, error_order, controller_state
        )
        result = dfx.RESULTS.where(keep & (flag > 0), dfx.RESULTS.event_occurred, result)
        return keep, tprev, tnext, jump, state, result
