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

import time
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..core.errors import SettingsError
from ..core.progress import phase
from ..model.network import all_finite, rms
from . import trajectory as T
from .compile import compiled
from .rules import BY_NAME
from .trajectory import Trajectory

FIXED_POINT, CYCLE, MAX_SWEEPS = 0, 1, 2
DISCRETE_STATUSES = ("fixed_point", "cycle", "max_sweeps")


class DiscreteRun(eqx.Module):
    """States and energies after each sweep (row 0: the start).  Rows after the
    last sweep repeat the final state; ``sweeps`` says how many were made.

    **Attributes:** ``states``, ``energy``, ``flips`` (units changed per
    sweep), ``sweeps``, ``status``.
    """

    states: Array  # (S + 1, N)
    energy: Array  # (S + 1,)
    flips: Array  # (S,) units changed in each sweep (or max |change| for retrieval)
    sweeps: Array
    status: Array


def sgn(h: Array) -> Array:
    """Seed 002's sign: +1 if h > 0, else -1."""
    return jnp.where(h > 0, 1.0, -1.0).astype(h.dtype)


def update_orders(seed: int, sweeps: int, n: int) -> np.ndarray:
    """Random unit orders, one permutation per sweep, from a seed.

    **Arguments:**

    - ``seed``: the run's seed
    - ``sweeps``: how many sweeps
    - ``n``: units
    """
    gen = np.random.default_rng(seed)
    return np.stack([gen.permutation(n) for _ in range(sweeps)])


def hebbian(xi: np.ndarray) -> np.ndarray:
    """``W = (1/N) sum_mu xi_mu xi_mu^T`` with zero diagonal.

    **Arguments:**

    - ``xi``: ``(K, N)`` patterns
    """
    xi = np.asarray(xi, np.float64)
    w = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(w, 0.0)
    return w


def unlearn(w: np.ndarray, dreams: int, rate: float, seed: int, max_sweeps: int = 50) -> np.ndarray:
    """Hopfield, Feinstein & Palmer (1983): relax random states to fixed points of
    the asynchronous dynamics ("dreams") and subtract ``rate/N`` of each one's
    outer product, which weakens the spurious attractors most often reached.

    **Arguments:**

    - ``w``: Hebbian weights
    - ``dreams``: how many random starts are relaxed and unlearned
    - ``rate``: the unlearning rate
    - ``seed``: draws the dreams
    - ``max_sweeps``: sweeps per dream
    """
    w = np.array(w, np.float64)
    n = w.shape[0]
    gen = np.random.default_rng(seed)
    for d in range(dreams):
        y0 = np.where(gen.random(n) < 0.5, -1.0, 1.0)
        run = classical_async(
            jnp.asarray(w), jnp.zeros(n), jnp.asarray(y0), jnp.asarray(update_orders(seed + 1 + d, max_sweeps, n))
        )
        y = np.asarray(run.states[-1])
        w -= rate * np.outer(y, y) / n
        np.fill_diagonal(w, 0.0)
    return w


def _energy(w, b, y):
    return -0.5 * y @ (w @ y) - b @ y


def _sweep_loop(step, y0, energy, n_sweeps, stop) -> DiscreteRun:
    """Run ``step(y, k) -> (y_new, change)`` sweep by sweep (``y`` any pytree)
    until ``stop(y_new, y, y_before, change) -> (fixed_point, cycle)`` says so or
    ``n_sweeps`` were made.  ``energy=None`` records zeros."""
    S, tm = n_sweeps, jax.tree.map
    dtype = jax.tree.leaves(y0)[0].dtype
    energy = energy or (lambda y: jnp.zeros((), dtype))
    states = tm(lambda a: jnp.zeros((S + 1,) + a.shape, a.dtype).at[0].set(a), y0)
    energies = jnp.zeros(S + 1, dtype).at[0].set(energy(y0))
    flips = jnp.zeros(S, dtype)

    def cond(c):
        return (c[0] < S) & (c[2] == MAX_SWEEPS)

    def body(c):
        k, y, _, states, energies, flips, prev = c
        y_new, change = step(y, k)
        fixed, cycle = stop(y_new, y, prev, change)
        status = jnp.where(fixed, FIXED_POINT, jnp.where(cycle, CYCLE, MAX_SWEEPS))
        states = tm(lambda s, v: s.at[k + 1].set(v), states, y_new)
        return k + 1, y_new, status, states, energies.at[k + 1].set(energy(y_new)), flips.at[k].set(change), y

    init = (0, y0, jnp.asarray(MAX_SWEEPS), states, energies, flips, y0)
    k, y, status, states, energies, flips, _ = jax.lax.while_loop(cond, body, init)
    rows = jnp.arange(S + 1)
    states = tm(lambda s, v: jnp.where((rows <= k).reshape((-1,) + (1,) * v.ndim), s, v), states, y)
    energies = jnp.where(rows <= k, energies, energy(y))
    return DiscreteRun(states, energies, flips, k, status)


def _binary_stop(yn, y, prev, changed):
    return changed == 0, jnp.all(yn == prev) & (changed != 0)


def _classical_async(w, b, y0, order, n_sweeps, free, energy=None) -> DiscreteRun:
    def step(y, k):
        def upd(y, i):
            yi = jnp.where(free[i], sgn(w[i] @ y + b[i]), y[i])
            return y.at[i].set(yi), yi != y[i]

        y, flipped = jax.lax.scan(upd, y, order(k))
        return y, jnp.sum(flipped).astype(y.dtype)

    return _sweep_loop(step, y0, energy, n_sweeps, _binary_stop)


def _classical_sync(w, b, y0, n_sweeps, free, energy=None) -> DiscreteRun:
    def step(y, k):
        y_new = jnp.where(free, sgn(w @ y + b), y)
        return y_new, jnp.sum(y_new != y).astype(y.dtype)

    return _sweep_loop(step, y0, energy, n_sweeps, _binary_stop)


def _all_free(n):
    return jnp.ones(n, bool)


@eqx.filter_jit
def classical_async(w: Array, b: Array, y0: Array, orders: Array) -> DiscreteRun:
    """Asynchronous sign updates in the order ``orders[k]`` of sweep ``k``; stops
    after the first sweep in which no unit flips (a fixed point)."""
    w, b = jnp.asarray(w, y0.dtype), jnp.asarray(b, y0.dtype)
    return _classical_async(
        w, b, y0, lambda k: orders[k], orders.shape[0], _all_free(y0.size), lambda y: _energy(w, b, y)
    )


@eqx.filter_jit
def classical_sync(w: Array, b: Array, y0: Array, max_sweeps: int = 100) -> DiscreteRun:
    """Synchronous updates ``y <- sgn(W y + b)``.  Stops at a fixed point or when
    the state returns to the one two updates before (a period-2 cycle, status
    ``cycle``) instead of oscillating until ``max_sweeps``."""
    w, b = jnp.asarray(w, y0.dtype), jnp.asarray(b, y0.dtype)
    return _classical_sync(w, b, y0, max_sweeps, _all_free(y0.size), lambda y: _energy(w, b, y))


def _dense_energy(kind, n, rectified, beta):
    """``E(s) = -sum_mu F(s_mu)`` of the overlaps ``s = Xi y``; for ``F = exp`` the
    log-domain ``-(1/beta) logsumexp(beta s)`` (a monotone transform of ``-sum exp``)."""

    def energy(s):
        if kind == "exponential":
            return -jax.nn.logsumexp(beta * s) / beta
        s = jnp.maximum(s, 0.0) if rectified else s
        return -jnp.sum(s**n)

    return energy


def _dense_async(xi, y0, order, n_sweeps, free, kind, n, rectified, beta, record_energy=True) -> DiscreteRun:
    e_of = _dense_energy(kind, n, rectified, beta)

    def step(y, k):
        def upd(carry, i):
            y, s = carry
            base = s - xi[:, i] * y[i]
            e_on, e_off = e_of(base + xi[:, i]), e_of(base - xi[:, i])
            yi = jnp.where(free[i], sgn(e_off - e_on), y[i])
            return (y.at[i].set(yi), base + xi[:, i] * yi), yi != y[i]

        (y, _), flipped = jax.lax.scan(upd, (y, xi @ y), order(k))
        return y, jnp.sum(flipped).astype(y.dtype)

    energy = (lambda y: e_of(xi @ y)) if record_energy else None
    return _sweep_loop(step, y0, energy, n_sweeps, _binary_stop)


@eqx.filter_jit
def dense_async(
    xi: Array,
    y0: Array,
    orders: Array,
    kind: str = "polynomial",
    n: int = 2,
    rectified: bool = False,
    beta: float | Array = 1.0,
) -> DiscreteRun:
    """Asynchronous updates of a dense associative memory: unit ``i`` becomes +1
    when the energy with it on is lower than with it off (seed 002's
    ``y_i = sgn(E(y_i = -1) - E(y_i = +1))``).  The overlaps ``Xi y`` are
    updated incrementally, so a sweep costs ``O(K N)``."""
    xi, beta = jnp.asarray(xi, y0.dtype), jnp.asarray(beta, y0.dtype)
    return _dense_async(xi, y0, lambda k: orders[k], orders.shape[0], _all_free(y0.size), kind, n, rectified, beta)


def modern_energy(x: Array, beta, xi: Array) -> Array:
    """Ramsauer et al.: ``E = -lse(beta, X xi) + xi.xi/2 + log(K)/beta + M^2/2``
    with ``M`` the largest pattern norm (rows of ``x`` are the patterns).

    **Arguments:**

    - ``x``: a state
    - ``beta``: the inverse temperature
    - ``xi``: ``(K, N)`` patterns
    """
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

    return _sweep_loop(
        step,
        xi0,
        lambda v: modern_energy(x, beta, v),
        max_iter,
        lambda vn, v, prev, ch: (ch <= tol, jnp.asarray(False)),
    )


# ====================================================================== networks
# The rules above, applied to a ``Network`` so scenarios, ``verify`` and
# ``basins`` treat them like the ODE solvers (``simulate(method=...)``).


class DiscreteError(SettingsError):
    """A network the chosen discrete rule cannot run (located at ``method`` or ``order``)."""


def _refuse(message: str) -> DiscreteError:
    return DiscreteError(message, ("method",))


def sweep_orders(seed: int, sweeps: int, n: int, member: int = 0) -> np.ndarray:
    """The unit orders ``simulate(method="async" | "dense_async", seed=seed)``
    uses for batch member ``member`` (0 for an unbatched run): one permutation
    of ``n`` units per sweep, from ``jax.random``.  For replays.

    **Arguments:**

    - ``seed``: the run's seed
    - ``sweeps``: how many sweeps
    - ``n``: units
    - ``member``: the batch member
    """
    key = jax.random.fold_in(jax.random.PRNGKey(seed), member)
    return np.stack([np.asarray(jax.random.permutation(jax.random.fold_in(key, k), n)) for k in range(sweeps)])


def free_layers(network) -> list[str]:
    """Layers with at least one unclamped element."""
    return [a for a in network.names if not (a in network.clamps and bool(np.all(np.asarray(network.clamps[a]))))]


def _synapse_energy(network, layer, y, xhat):
    """The synapses' energy with ``layer``'s activations set to ``y`` (flat)."""
    xhat = {**xhat, layer: y.reshape(network.neurons[layer].shape)}
    return sum((s(*(xhat[c] for c in s.connects)) for s in network.synapses), jnp.zeros((), y.dtype))


def _free_mask(network, layer) -> Array:
    mask = network.clamps.get(layer)
    return jnp.ones(network.neurons[layer].size, bool) if mask is None else ~mask.ravel()


@eqx.filter_jit
def _quadratic_parts(network, x, layer: str, probes):
    """``W = -Hessian``, ``b = -gradient`` of the synapse energy in ``layer`` at 0,
    the energy at 0 and at each probe (one program: the check that a binary
    rule's energy is quadratic in the layer)."""
    xhat = network.activations(x)
    f = lambda y: _synapse_energy(network, layer, y, xhat)  # noqa: E731
    zero = jnp.zeros(probes.shape[1], probes.dtype)
    return -jax.hessian(f)(zero), -jax.grad(f)(zero), f(zero), jax.vmap(f)(probes)


class _Plan(NamedTuple):
    """What a discrete run needs besides the state, prepared (and checked) once."""

    method: str
    layers: tuple[str, ...]  # the binary layer, or the retrieval order
    weights: Array | None  # async/sync: -Hessian of the synapse energy, zero diagonal
    dense: tuple | None  # dense_async: (patterns, kind, n, rectified, beta)


def plan(network, x0: dict, method: str, order=None) -> _Plan:
    """Check that ``method`` can run ``network`` and precompute what it needs.
    Raises ``DiscreteError`` with a sentence saying why not."""
    if method not in BY_NAME:
        raise DiscreteError(f"{method!r} is not a discrete rule", ("method",))
    free = free_layers(network)
    if method == "retrieval":
        free = [a for a in free if not network.neurons[a].quasi_static]  # those follow the others
        if order is None:
            order = sorted(free, key=lambda a: float(network.neurons[a].tau))  # fast layers first (stable)
        order = tuple(order)
        bad = [a for a in order if a not in free]
        if bad or not order:
            raise DiscreteError(f"expected names of free layers ({', '.join(free)}), got {list(order)}", ("order",))
        return _Plan(method, order, None, None)
    if order is not None:
        raise DiscreteError(f"only method retrieval takes a layer order, not {method}", ("order",))
    if not network.is_gradient:
        raise _refuse(f"{method} needs an energy for every coupling; this network has directed synapses")
    if len(free) != 1:
        raise _refuse(
            f"{method} updates one layer of binary units; this network has {len(free)} free "
            f"layers ({', '.join(free) or 'none'}): clamp the others"
        )
    (a,) = free
    touching = [s for s in network.synapses if a in s.connects]
    if method == "dense_async":
        from ..model.synapses import Exponential, Polynomial

        if len(touching) != 1 or not isinstance(touching[0], (Polynomial, Exponential)):
            raise _refuse(
                f"dense_async needs exactly one polynomial or exponential synapse on layer "
                f"{a!r}, found {', '.join(s.kind for s in touching) or 'none'}"
            )
        s = touching[0]
        if not float(s.scale) > 0:
            raise _refuse(f"dense_async needs a positive synapse scale, got {float(s.scale)}")
        xi = s.patterns.reshape(s.patterns.shape[0], -1)
        kind = "exponential" if isinstance(s, Exponential) else "polynomial"
        dense = (xi, kind, getattr(s, "n", 2), getattr(s, "rectified", False), getattr(s, "beta", jnp.ones(())))
        return _Plan(method, (a,), None, dense)
    # async / sync: the synapse energy must be quadratic in the layer.
    first = jax.tree.map(lambda v: v[0] if network.batch_size(x0) is not None else v, x0)
    n = network.neurons[a].size
    probes = jnp.asarray(np.random.default_rng(0).choice([-1.0, 1.0], (3, n)), network.dtype)
    w, *parts = _quadratic_parts(network, first, a, probes)
    W, b, f0, fy, Y = (np.asarray(v, np.float64) for v in (w, *parts, probes))  # the check, on the host
    scale = 1.0 + abs(f0) + 0.5 * np.sum(np.abs(W)) + np.sum(np.abs(b))
    for y, e in zip(Y, fy):
        quad = f0 - 0.5 * y @ (W @ y) - b @ y
        if not abs(float(e - quad)) <= 1e-4 * scale:
            raise _refuse(
                f"{method} needs an energy quadratic in layer {a!r} (hebbian, dense, bias "
                f"synapses); its synapses ({', '.join(s.kind for s in touching)}) are not — use dense_async "
                f"for polynomial/exponential memories or retrieval"
            )
    w = jnp.asarray(W * (1 - np.eye(n)), w.dtype)  # y_i^2 = 1: the diagonal only adds a constant
    return _Plan(method, (a,), w, None)


class _DParams(NamedTuple):
    key: Array
    ss_rtol: Array
    ss_atol: Array


class _DStatic(NamedTuple):
    method: str
    layers: tuple[str, ...]
    sweeps: int
    keep_ends: bool
    dense_static: tuple | None  # (kind, n, rectified)


def _one(network, x, arrays, p: _DParams, cfg: _DStatic, member):
    """One member: run the rule, then express the run as a ``Trajectory``'s arrays."""
    S = cfg.sweeps
    rows = jnp.arange(S + 1)
    xhat0 = network.activations(x)
    key = jax.random.fold_in(p.key, member)
    if BY_NAME[cfg.method].binary:
        (a,) = cfg.layers
        shape = network.neurons[a].shape
        y0 = sgn(x[a].ravel())
        n = y0.size
        free = _free_mask(network, a)
        order = lambda k: jax.random.permutation(jax.random.fold_in(key, k), n)
        if cfg.method == "dense_async":
            kind, deg, rectified = cfg.dense_static
            xi, beta = arrays
            run = _dense_async(xi, y0, order, S, free, kind, deg, rectified, beta, record_energy=False)
        else:
            (w,) = arrays
            b = -jax.grad(lambda y: _synapse_energy(network, a, y, xhat0))(jnp.zeros_like(y0))
            if cfg.method == "async":
                run = _classical_async(w, b, y0, order, S, free)
            else:
                run = _classical_sync(w, b, y0, S, free)
        ys = run.states.reshape((S + 1,) + shape)
        xs = {c: (ys if c == a else jnp.broadcast_to(v, (S + 1,) + v.shape)) for c, v in x.items()}
        xhats = {c: (ys if c == a else jnp.broadcast_to(v, (S + 1,) + v.shape)) for c, v in xhat0.items()}
        terms = jax.vmap(network._energy_terms)(xhats, xs)
        terms[a] = jnp.zeros(S + 1, ys.dtype)  # binary units: no Lagrangian term
    else:
        taus = {c: network.neurons[c].tau for c in cfg.layers}

        def step(y, k):
            new = y
            for c in cfg.layers:  # each layer jumps to its equilibrium given the others
                new = {**new, c: new[c] + taus[c] * network.vector_field(new)[c]}
            new = network.equilibrate(new)  # and quasi-static layers follow
            return new, rms(jax.tree.map(jnp.subtract, new, y))

        def stop(yn, y, prev, change):
            tol = p.ss_atol + p.ss_rtol * rms(yn)
            back = rms(jax.tree.map(jnp.subtract, yn, prev))
            return change <= tol, (back <= tol) & (change > tol)

        run = _sweep_loop(step, network.equilibrate(x), None, S, stop)
        xs = run.states
        xhats = jax.vmap(network.activations)(xs)
        terms = jax.vmap(network.energy_terms)(xs)
    k = run.sweeps
    energy = sum(terms.values())
    mag = sum(jnp.abs(v) for v in terms.values())
    dEdt = jnp.concatenate([jnp.zeros(1, energy.dtype), jnp.diff(energy)])  # change per sweep
    scale = jnp.concatenate([mag[:1], mag[1:] + mag[:-1]])
    status = jnp.asarray([T.STEADY_STATE, T.CYCLE, T.MAX_STEPS])[run.status]  # from the rule's codes
    finite = jnp.all(jnp.isfinite(energy)) & all_finite(xs)
    status = jnp.where(finite, status, T.FAILED).astype(jnp.int32)
    ts = rows.astype(energy.dtype)
    valid = rows <= k
    out = dict(ts=ts, x=xs, xhat=xhats, energy=energy, energy_terms=terms, dEdt=dEdt, dEdt_scale=scale, valid=valid)
    if cfg.keep_ends:  # the start and the end only (what an ensemble needs)
        pick = jnp.stack([jnp.zeros((), k.dtype), k])
        out = jax.tree.map(lambda v: v[pick], out)
        out["dEdt"] = out["energy"] - out["energy"][0]
        out["dEdt_scale"] = mag[0] + mag[k] + jnp.zeros(2, energy.dtype)
        out["valid"] = jnp.stack([jnp.asarray(True), k > 0])
    sweeps = k.astype(jnp.int32)
    return dict(
        **out,
        status=status,
        t_final=k.astype(energy.dtype),
        n_steps=sweeps,
        n_accepted=sweeps,
        n_rejected=jnp.zeros((), jnp.int32),
        vf_evals=jnp.asarray(-1, jnp.int32),
    )


@eqx.filter_jit
def _run(network, x0, arrays, p: _DParams, cfg: _DStatic, batched: bool):
    if batched:
        b = network.batch_size(x0)
        return jax.vmap(lambda x, m: _one(network, x, arrays, p, cfg, m))(x0, jnp.arange(b))
    return _one(network, x0, arrays, p, cfg, 0)


def simulate_discrete(network, x0: dict, settings) -> Trajectory:
    """Run the discrete rule ``settings.method`` on ``network`` from the full
    (possibly batched) state ``x0``; ``simulate`` calls this.  Rows of the
    ``Trajectory`` are sweeps (``ts = 0, 1, 2...``); ``dEdt`` holds the energy
    change of each sweep.  ``settings.max_sweeps`` bounds the sweeps, ``seed``
    draws the asynchronous update orders, ``order`` lists the layers
    ``retrieval`` updates, the steady-state tolerances stop ``retrieval``, and
    ``save=2`` keeps only the start and the end.

    - ``async`` / ``sync``: the one free layer's units are ``sgn(x0)``; the
      synapse energy must be quadratic in them (Hebbian, dense, bias), with
      ``W`` its negative Hessian (diagonal dropped) and ``b`` its negative
      gradient at 0 (clamped layers act through ``b``).  ``async`` visits the
      units in a fresh random order each sweep (``sweep_orders`` replays it).
    - ``dense_async``: one polynomial or exponential synapse on the free layer.
    - ``retrieval``: each free layer in ``order`` (default: by ``tau``, fast
      first) jumps to its equilibrium given the others, ``x_a <- -dE_syn/dxhat_a``
      (for an identity layer with a log-sum-exp memory: Ramsauer's update);
      stops when ``rms(change) <= atol + rtol rms(x)``.
    Statuses: ``steady_state`` (a fixed point), ``cycle`` (back to the state of
    two sweeps before), ``max_steps`` (``max_sweeps`` made), ``failed``."""
    method, max_sweeps, order = settings.method, settings.max_sweeps, settings.order
    steady = settings.steady
    rtol, atol = (steady.rtol, steady.atol) if steady else (0.0, 0.0)
    keep_ends = isinstance(settings.save, int) and settings.save == 2
    seed = settings.seed
    pl = plan(network, x0, method, order)
    if method == "dense_async":
        xi, kind, deg, rectified, beta = pl.dense
        arrays, dense_static = (xi, beta), (kind, int(deg), bool(rectified))
    else:
        arrays, dense_static = ((pl.weights,) if pl.weights is not None else ()), None
    dtype = network.dtype
    p = _DParams(jax.random.PRNGKey(seed), jnp.asarray(rtol, dtype), jnp.asarray(atol, dtype))
    cfg = _DStatic(method, pl.layers, int(max_sweeps), bool(keep_ends), dense_static)
    args = (network, x0, arrays, p, cfg, network.batch_size(x0) is not None)
    fn, compile_seconds = compiled(_run, *args, what=f"the {method} rule")
    start = time.perf_counter()
    with phase("running the rule"):
        out = jax.block_until_ready(fn(*args))
    return Trajectory(**out, method=method, compile_seconds=compile_seconds, solve_seconds=time.perf_counter() - start)


@eqx.filter_jit
def _flip_energies(network, x_end: dict, layer: str):
    """The synapse energy at sign(x_end[layer]) and with each unit flipped (one
    program per network structure, reused across end states)."""
    xhat = network.activations(x_end)
    y = sgn(jnp.asarray(x_end[layer]).ravel())
    f = lambda y: _synapse_energy(network, layer, y, xhat)  # noqa: E731
    return f(y), jax.vmap(lambda i: f(y.at[i].multiply(-1.0)))(jnp.arange(y.size))


def flip_stability(network, x_end: dict, layer: str) -> dict:
    """Stability of a binary end state against single flips: the energy change of
    flipping each free unit of ``layer``.  ``stable`` when every flip raises the
    energy, ``degenerate`` when some flip leaves it unchanged (within rounding),
    ``unstable`` when one lowers it (not a fixed point of the asynchronous rule)."""
    e0, flipped = _flip_energies(network, x_end, layer)
    y = sgn(jnp.asarray(x_end[layer]).ravel())
    free = np.asarray(_free_mask(network, layer))
    e0 = float(e0)
    gains = (np.asarray(flipped, np.float64) - e0)[free]
    tol = 64 * float(np.finfo(np.asarray(y).dtype).eps) * (1.0 + abs(e0))
    if gains.size == 0:
        kind = "clamped"
    elif gains.min() < -tol:
        kind = "unstable"
    elif gains.min() <= tol:
        kind = "degenerate"
    else:
        kind = "stable"
    return {
        "kind": kind,
        "min_flip_gain": float(gains.min()) if gains.size else None,
        "unstable_units": int(np.sum(gains < -tol)),
        "marginal_units": int(np.sum(np.abs(gains) <= tol)),
    }
