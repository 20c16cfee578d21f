"""Discrete-time update rules of seed 002, next to the ODE solvers.

- classical binary Hopfield network: Hebbian storage (optionally followed by
  unlearning, Hopfield, Feinstein & Palmer 1983), synchronous and asynchronous
  sign updates, energy ``-1/2 y^T W y - b^T y``;
- dense associative memory (Krotov & Hopfield 2016; Demircigil et al. 2017):
  asynchronous updates comparing the energy with the unit on and off, for
  ``F(x) = x^n`` (optionally rectified) and ``F = exp`` (compared in the log
  domain, so it never overflows);
- continuous modern Hopfield retrieval (Ramsauer et al. 2020):
  ``xi <- X^T softmax(beta X xi)`` to a fixed point, with its energy.

The sign function is seed 002's: ``+1`` if the input is positive, ``-1``
otherwise.  Asynchronous sweeps visit the units in the order given by
``orders[k]`` for sweep ``k`` (draw it with ``update_orders``), so a run is
reproducible and can be replayed by any other implementation.  Every rule
works on one state; batches go through ``jax.vmap``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

FIXED_POINT, CYCLE, MAX_SWEEPS = 0, 1, 2
DISCRETE_STATUSES = ("fixed_point", "cycle", "max_sweeps")


class DiscreteRun(eqx.Module):
    """States and energies after each sweep (row 0: the start).  Rows after the
    last sweep repeat the final state; ``sweeps`` says how many were made."""

    states: Array  # (S + 1, N)
    energy: Array  # (S + 1,)
    flips: Array  # (S,) units changed in each sweep (or max |change| for retrieval)
    sweeps: Array
    status: Array


def sgn(h: Array) -> Array:
    """Seed 002's sign: +1 if h > 0, else -1."""
    return jnp.where(h > 0, 1.0, -1.0).astype(h.dtype)


def update_orders(seed: int, sweeps: int, n: int) -> np.ndarray:
    """Random unit orders, one permutation per sweep, from a seed."""
    gen = np.random.default_rng(seed)
    return np.stack([gen.permutation(n) for _ in range(sweeps)])


def hebbian(xi: np.ndarray) -> np.ndarray:
    """``W = (1/N) sum_mu xi_mu xi_mu^T`` with zero diagonal."""
    xi = np.asarray(xi, np.float64)
    w = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(w, 0.0)
    return w


def unlearn(w: np.ndarray, dreams: int, rate: float, seed: int, max_sweeps: int = 50) -> np.ndarray:
    """Hopfield, Feinstein & Palmer (1983): relax random states to fixed points of
    the asynchronous dynamics ("dreams") and subtract ``rate/N`` of each one's
    outer product, which weakens the spurious attractors most often reached."""
    w = np.array(w, np.float64)
    n = w.shape[0]
    gen = np.random.default_rng(seed)
    for d in range(dreams):
        y0 = np.where(gen.random(n) < 0.5, -1.0, 1.0)
        run = classical_async(jnp.asarray(w), jnp.zeros(n), jnp.asarray(y0), jnp.asarray(update_orders(seed + 1 + d, max_sweeps, n)))
        y = np.asarray(run.states[-1])
        w -= rate * np.outer(y, y) / n
        np.fill_diagonal(w, 0.0)
    return w


def _energy(w, b, y):
    return -0.5 * y @ (w @ y) - b @ y


def _sweep_loop(step, y0, energy, n_sweeps, converged):
    """Run ``step(y, k) -> (y_new, changed)`` sweep by sweep until ``converged``."""
    S = n_sweeps
    states = jnp.zeros((S + 1,) + y0.shape, y0.dtype).at[0].set(y0)
    energies = jnp.zeros(S + 1, y0.dtype).at[0].set(energy(y0))
    flips = jnp.zeros(S, y0.dtype)

    def cond(c):
        k, _, done, *_ = c
        return (k < S) & ~done

    def body(c):
        k, y, _, states, energies, flips, prev = c
        y_new, changed = step(y, k)
        status_done = converged(y_new, y, prev, changed)
        return (k + 1, y_new, status_done, states.at[k + 1].set(y_new), energies.at[k + 1].set(energy(y_new)),
                flips.at[k].set(changed), y)

    init = (0, y0, jnp.asarray(False), states, energies, flips, y0)
    k, y, done, states, energies, flips, prev = jax.lax.while_loop(cond, body, init)
    rows = jnp.arange(S + 1)
    states = jnp.where((rows <= k)[:, None], states, y)
    energies = jnp.where(rows <= k, energies, energy(y))
    return k, y, done, states, energies, flips, prev


@eqx.filter_jit
def classical_async(w: Array, b: Array, y0: Array, orders: Array) -> DiscreteRun:
    """Asynchronous sign updates in the order ``orders[k]`` of sweep ``k``; stops
    after the first sweep in which no unit flips (a fixed point)."""
    w, b = jnp.asarray(w, y0.dtype), jnp.asarray(b, y0.dtype)

    def step(y, k):
        def upd(y, i):
            yi = sgn(w[i] @ y + b[i])
            return y.at[i].set(yi), yi != y[i]

        y, flipped = jax.lax.scan(upd, y, orders[k])
        return y, jnp.sum(flipped).astype(y.dtype)

    k, y, done, states, energies, flips, _ = _sweep_loop(
        step, y0, lambda y: _energy(w, b, y), orders.shape[0], lambda yn, y, prev, ch: ch == 0)
    return DiscreteRun(states, energies, flips, k, jnp.where(done, FIXED_POINT, MAX_SWEEPS))


@eqx.filter_jit
def classical_sync(w: Array, b: Array, y0: Array, max_sweeps: int = 100) -> DiscreteRun:
    """Synchronous updates ``y <- sgn(W y + b)``.  Stops at a fixed point or when
    the state returns to the one two updates before (a period-2 cycle, status
    ``cycle``) instead of oscillating until ``max_sweeps``."""
    w, b = jnp.asarray(w, y0.dtype), jnp.asarray(b, y0.dtype)

    def step(y, k):
        y_new = sgn(w @ y + b)
        return y_new, jnp.sum(y_new != y).astype(y.dtype)

    k, y, done, states, energies, flips, prev = _sweep_loop(
        step, y0, lambda y: _energy(w, b, y), max_sweeps,
        lambda yn, y, prev, ch: (ch == 0) | jnp.all(yn == prev))
    fixed = flips[jnp.maximum(k - 1, 0)] == 0
    status = jnp.where(done, jnp.where(fixed, FIXED_POINT, CYCLE), MAX_SWEEPS)
    return DiscreteRun(states, energies, flips, k, status)


def _dense_energy(xi, kind, n, rectified, beta):
    """``E(y) = -sum_mu F(xi_mu . y)``; for ``F = exp`` the log-domain
    ``-(1/beta) logsumexp(beta Xi y)`` (a monotone transform of ``-sum exp``)."""

    def energy(s):
        if kind == "exponential":
            return -jax.nn.logsumexp(beta * s) / beta
        s = jnp.maximum(s, 0.0) if rectified else s
        return -jnp.sum(s**n)

    return energy


@eqx.filter_jit
def dense_async(xi: Array, y0: Array, orders: Array, kind: str = "polynomial", n: int = 2, rectified: bool = False,
                beta: float | Array = 1.0) -> DiscreteRun:
    """Asynchronous updates of a dense associative memory: unit ``i`` becomes +1
    when the energy with it on is lower than with it off (seed 002's
    ``y_i = sgn(E(y_i = -1) - E(y_i = +1))``).  The overlaps ``Xi y`` are
    updated incrementally, so a sweep costs ``O(K N)``."""
    xi, beta = jnp.asarray(xi, y0.dtype), jnp.asarray(beta, y0.dtype)
    e_of = _dense_energy(xi, kind, n, rectified, beta)

    def step(y, k):
        def upd(carry, i):
            y, s = carry
            base = s - xi[:, i] * y[i]
            e_on, e_off = e_of(base + xi[:, i]), e_of(base - xi[:, i])
            yi = sgn(e_off - e_on)
            return (y.at[i].set(yi), base + xi[:, i] * yi), yi != y[i]

        (y, _), flipped = jax.lax.scan(upd, (y, xi @ y), orders[k])
        return y, jnp.sum(flipped).astype(y.dtype)

    k, y, done, states, energies, flips, _ = _sweep_loop(
        step, y0, lambda y: e_of(xi @ y), orders.shape[0], lambda yn, y, prev, ch: ch == 0)
    return DiscreteRun(states, energies, flips, k, jnp.where(done, FIXED_POINT, MAX_SWEEPS))


def modern_energy(x: Array, beta, xi: Array) -> Array:
    """Ramsauer et al.: ``E = -lse(beta, X xi) + xi.xi/2 + log(K)/beta + M^2/2``
    with ``M`` the largest pattern norm (rows of ``x`` are the patterns)."""
    m = jnp.max(jnp.linalg.norm(x, axis=1))
    return -jax.nn.logsumexp(beta * (x @ xi)) / beta + 0.5 * xi @ xi + jnp.log(x.shape[0]) / beta + 0.5 * m**2


@eqx.filter_jit
def modern_retrieval(x: Array, xi0: Array, beta, max_iter: int = 100, tol: float = 1e-6) -> DiscreteRun:
    """Iterate ``xi <- X^T softmax(beta X xi)`` until no entry moves by more than
    ``tol`` (patterns are the rows of ``x``)."""
    x, beta = jnp.asarray(x, xi0.dtype), jnp.asarray(beta, xi0.dtype)

    def step(v, k):
        v_new = x.T @ jax.nn.softmax(beta * (x @ v))
        return v_new, jnp.max(jnp.abs(v_new - v))

    k, v, done, states, energies, flips, _ = _sweep_loop(
        step, xi0, lambda v: modern_energy(x, beta, v), max_iter, lambda vn, v, prev, ch: ch <= tol)
    return DiscreteRun(states, energies, flips, k, jnp.where(done, FIXED_POINT, MAX_SWEEPS))
