"""Ensembles without lock-step: slot refilling (continuous batching).

A ``vmap``ped adaptive solve steps every member until the slowest finishes.
Here a fixed number of *slots* is advanced a bounded number of steps per
round (one compiled program: Diffrax's solver step and step-size controller,
the same ones ``simulate`` uses, in a loop of our own); after each round the
members that finished leave their slots and new starts take them, until the
ensemble is done.  Each member's arithmetic does not depend on the round it is
in or on its neighbours, so its end state is what solving it alone gives (up
to how XLA evaluates a batch).

Steps per round adapt: doubled while fewer than a tenth of the busy slots
finish in a round, halved when more than half do (4 to 1024), so short
members do not wait long for a free slot and long ones do not cost a round
trip per step.  Only adaptive methods that stop on the field they already hold
(``fsal``: tsit5, dopri5, rkc, etd) run this way; ``supported`` says.
"""

from __future__ import annotations

from typing import NamedTuple

import diffrax as dfx
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..model.network import Network, all_finite, max_abs
from .compile import compiled
from .registry import AUTO, get_method
from .settings import SolveSettings
from .simulate import _field, _Params, params, stop_test
from .stopping import FieldStop, StopController
from .trajectory import FAILED, HORIZON, MAX_STEPS, STEADY_STATE

ROUND_MIN, ROUND_MAX, ROUND_START = 4, 1024, 16
_SHAPES: dict = {}


def supported(settings: SolveSettings, network: Network | None = None) -> bool:
    """Whether ``settings`` (and ``network``) can run in slots: an adaptive
    method that stops on the field it holds, a steady-state stop, no
    quasi-static layer (``tau = 0``, solved inside each evaluation by
    ``simulate`` only)."""
    if settings.method == AUTO:
        return False
    m = get_method(settings.method)
    ok = m is not None and m.continuous and m.adaptive and m.fsal is not None and settings.steady is not None
    if network is not None:
        ok = ok and all(float(np.min(np.asarray(n.tau))) > 0 for n in network.neurons.values())
    return ok


class _Slot(NamedTuple):
    tprev: Array
    tnext: Array
    y: dict
    solver_state: object
    controller_state: object
    made_jump: Array
    steps: Array
    result: Array  # 0 running; else the status it ended with
    bad: Array


# a slot round's program carries slots in and out: the compilation cache serialises their tree
jax.export.register_namedtuple_serialization(_Slot, serialized_name="hopdyn.solvers.slots._Slot")


def _parts(network: Network, p: _Params, method: str):
    m = get_method(method)
    term = dfx.ODETerm(_field)
    solver = FieldStop(m.make(network, p), m.fsal, stop_test(network, p, True))
    controller = StopController(
        rtol=p.rtol, atol=p.atol, pcoeff=p.pcoeff, icoeff=p.icoeff, dcoeff=p.dcoeff,
        dtmin=p.dtmin, dtmax=p.dtmax, force_dtmin=False,
    )  # fmt: skip
    return term, solver, controller


def _init(network: Network, y0: dict, p: _Params, method: str, initial_dt: bool = False) -> _Slot:
    term, solver, controller = _parts(network, p, method)
    dt0 = p.dt if initial_dt else None
    tnext, cstate = controller.init(term, p.t0, p.t1, y0, dt0, network, solver.func, solver.error_order(term))
    tnext = jnp.minimum(tnext, p.t1)
    sstate = solver.init(term, p.t0, tnext, y0, network)
    zero = jnp.zeros((), jnp.int32)
    return _Slot(p.t0, tnext, y0, sstate, cstate, jnp.asarray(False), zero, zero, jnp.asarray(False))


def _step(network: Network, s: _Slot, p: _Params, floor: Array, method: str, max_steps: int) -> _Slot:
    """One step of one slot (a finished slot is returned unchanged); ``floor``:
    100 ULPs below t1, within which a step ends at t1 (as in ``diffeqsolve``)."""
    term, solver, controller = _parts(network, p, method)
    y1, err, _, sstate, sres = solver.step(term, s.tprev, s.tnext, s.y, network, s.solver_state, s.made_jump)
    err = jax.tree.map(lambda x: jnp.where(jnp.isnan(x), jnp.inf, x), err)
    keep, tprev, tnext, jump, cstate, cres = controller.adapt_step_size(
        s.tprev, s.tnext, s.y, y1, network, err, solver.error_order(term), s.controller_state
    )
    tprev = jnp.minimum(tprev, p.t1)
    tnext = jnp.where(tnext > floor, jnp.where(keep, p.t1, tprev + 0.5 * (p.t1 - tprev)), tnext)
    kept = lambda a, b: jnp.where(keep, a, b)  # noqa: E731
    y = jax.tree.map(kept, y1, s.y)
    sstate = jax.tree.map(kept, sstate, s.solver_state)
    jump = jnp.where(keep, jump, s.made_jump)
    steps = s.steps + 1
    res = dfx.RESULTS.where(keep, sres, dfx.RESULTS.successful)
    res = dfx.RESULTS.where(res == dfx.RESULTS.successful, cres, res)
    ok = res == dfx.RESULTS.successful
    status = jnp.where(
        res == dfx.RESULTS.event_occurred,
        STEADY_STATE,
        jnp.where(ok & (tprev >= p.t1), HORIZON, jnp.where(ok & (steps >= max_steps), MAX_STEPS, FAILED)),
    )
    ended = ~ok | (tprev >= p.t1) | (steps >= max_steps)
    new = _Slot(tprev, tnext, y, sstate, cstate, jump, steps, jnp.where(ended, status + 1, 0).astype(jnp.int32), s.bad)
    return jax.tree.map(lambda a, b: jnp.where(s.result > 0, a, b), s, new)


@eqx.filter_jit
def _round(
    network: Network,
    slots: _Slot,
    fresh: Array,
    y0: dict,
    p: _Params,
    n: Array,
    method: str,
    max_steps: int,
    initial_dt: bool,
):
    """Refill the ``fresh`` slots from ``y0``, then advance every busy slot up to
    ``n`` steps (fewer when all have finished)."""

    def refill(slots):
        init = jax.vmap(lambda y: _init(network, y, p, method, initial_dt))(y0)
        pick = lambda a, b: jnp.where(fresh.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)  # noqa: E731
        return jax.tree.map(pick, init, slots)

    # the initial steps (two field evaluations and the solver's first) only when a slot was refilled
    slots = jax.lax.cond(jnp.any(fresh), refill, lambda s: s, slots)
    floor = p.t1
    for _ in range(100):
        floor = eqxi.prevbefore(floor)
    step = jax.vmap(lambda s: _step(network, s, p, floor, method, max_steps))

    def body(carry):
        i, s = carry
        return i + 1, step(s)

    _, slots = jax.lax.while_loop(lambda c: (c[0] < n) & jnp.any(c[1].result == 0), body, (jnp.asarray(0), slots))
    energy = jax.vmap(network.energy)(slots.y)
    bad = jax.vmap(lambda y: ~all_finite(y) | (max_abs(y) > p.divergence))(slots.y) | ~jnp.isfinite(energy)
    return slots._replace(bad=bad), energy


class SlotStats(NamedTuple):
    """How a slot solve went: rounds, steps per round each time, and the share
    of slot-steps that advanced a member (the rest idled at the tail)."""

    rounds: int
    steps_per_round: list
    busy: float


def solve_in_slots(
    network: Network, x0: dict, settings: SolveSettings, slots: int, on_done=None
) -> tuple[dict[str, np.ndarray], SlotStats]:
    """Solve every member of ``x0`` (internal states, ``{layer: (M, *shape)}``,
    every layer given) in ``slots`` slots, members entering in order; returns
    per member ``status``, ``t_final``, ``energy_end``, ``n_steps`` and
    ``x_end/<layer>``, in member order, and the ``SlotStats``.
    ``on_done(members, out)`` is called after each round with the members that
    finished in it (their rows of ``out`` are final)."""
    if not supported(settings, network):
        raise ValueError(f"method {settings.method!r} does not run in slots")
    dtype = jnp.dtype(settings.dtype or network.dtype)
    network = network.astype(dtype)
    M = len(next(iter(x0.values())))
    slots = int(max(1, min(slots, M)))
    s = settings
    p = params(s, dtype)
    if s.method == "rkc":
        from .stiffness import spectral_radius

        p = params(s, dtype, rho=spectral_radius(network, {k: jnp.asarray(v[0], dtype) for k, v in x0.items()}))
    host = {k: np.asarray(v, dtype) for k, v in x0.items()}
    first = {k: jnp.asarray(v[:slots]) for k, v in host.items()}
    dyn, stat = eqx.partition(network, eqx.is_array)
    key = (
        jax.tree.structure(dyn), jax.tree.structure(stat), tuple(jax.tree.leaves(stat)),
        tuple((x.shape, x.dtype) for x in jax.tree.leaves(dyn)), tuple((k, v.shape) for k, v in first.items()),
        s.method, str(dtype),
    )  # fmt: skip
    if key not in _SHAPES:  # tracing the init costs more than a round: once per structure
        _SHAPES[key] = jax.eval_shape(lambda y: jax.vmap(lambda x: _init(network, x, p, s.method))(y), first)
    empty = _SHAPES[key]
    state = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), empty)
    state = state._replace(result=jnp.ones(slots, jnp.int32))  # every slot free
    member = np.full(slots, -1)
    out = {
        "status": np.zeros(M, np.int32),
        "t_final": np.zeros(M, dtype),
        "energy_end": np.zeros(M, dtype),
        "n_steps": np.zeros(M, np.int32),
    }
    out.update({f"x_end/{k}": np.zeros_like(v) for k, v in host.items()})
    nxt, n, rounds, history, busy, total = 0, ROUND_START, 0, [], 0, 0
    static = (s.method, int(s.max_steps), s.dt is not None)
    args = (network, state, jnp.zeros(slots, bool), first, p, jnp.asarray(n), *static)
    fn, _ = compiled(_round, *args, what=f"the {s.method} slot round ({slots} slots)")
    while True:
        result = np.asarray(state.result)
        free = np.flatnonzero(result > 0)
        fresh = np.zeros(slots, bool)
        y0 = {k: np.zeros((slots,) + v.shape[1:], v.dtype) for k, v in host.items()}
        for i in free:
            if nxt >= M:
                break
            fresh[i], member[i] = True, nxt
            for k in host:
                y0[k][i] = host[k][nxt]
            nxt += 1
        running = int(np.sum((result == 0) | fresh))
        if running == 0:
            break
        before = np.asarray(state.steps) * ~fresh
        y0j = {k: jnp.asarray(v) for k, v in y0.items()}
        state, energy = fn(network, state, jnp.asarray(fresh), y0j, p, jnp.asarray(n), *static)
        rounds += 1
        history.append(n)
        result = np.asarray(state.result)
        steps = np.asarray(state.steps)
        busy += int(np.sum(np.where(member >= 0, steps - before, 0)))
        total += slots * int(np.max(steps - before))
        done = np.flatnonzero((result > 0) & (member >= 0))
        ended = member[done].copy()
        if done.size:
            ys = {k: np.asarray(v) for k, v in state.y.items()}
            bad, tprev, en = np.asarray(state.bad), np.asarray(state.tprev), np.asarray(energy)
            for i in done:
                j = member[i]
                out["status"][j] = FAILED if bad[i] else result[i] - 1
                out["t_final"][j] = tprev[i]
                out["energy_end"][j] = en[i]
                out["n_steps"][j] = steps[i]
                for k in host:
                    out[f"x_end/{k}"][j] = ys[k][i]
                member[i] = -1
        finished = done.size / max(1, running)
        if finished < 0.1:
            n = min(ROUND_MAX, 2 * n)
        elif finished > 0.5:
            n = max(ROUND_MIN, n // 2)
        if on_done and done.size:
            on_done(np.sort(ended), out)
    return out, SlotStats(rounds, history, busy / max(1, total))
