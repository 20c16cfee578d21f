"""``simulate``: integrate a network's vector field with Diffrax.

One jitted region per solve; batches (a leading axis on the initial state) go
through ``jax.vmap``.  Every number a user may vary (tolerances, horizon, save
times, ``beta``...) enters as an array, so only a new network *structure*, a
new solver method or a new number of saved times recompiles.  Methods come
from the registry (``registry.py``); settings from ``SolveSettings``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ..core.budget import require, solve_bytes
from ..core.errors import SettingsError
from ..core.progress import phase
from ..model.checks import traced as is_traced
from ..model.network import Network, State, all_finite, cast, max_abs, rms
from .compile import compiled
from .registry import AUTO, AUTO_NEEDS_VALUES, get_method
from .settings import SolveSettings
from .sharding import shard_batch, want_sharding
from .stopping import FieldStop, StopController
from .trajectory import FAILED, HORIZON, LYAPUNOV_TOLERANCE, MAX_STEPS, STEADY_STATE, Trajectory, descent


class _Static(NamedTuple):
    method: str
    max_steps: int
    steady: bool
    initial_dt: bool
    adjoint: object = None  # a Diffrax adjoint given by the user (None: Diffrax's default, RecursiveCheckpointAdjoint)


class _Params(NamedTuple):
    t0: Array
    t1: Array
    dt: Array
    rtol: Array
    atol: Array
    pcoeff: Array
    icoeff: Array
    dcoeff: Array
    ss_rtol: Array
    ss_atol: Array
    divergence: Array
    dtmin: Array
    dtmax: Array
    rho: Array
    ts: Array


# ---------------------------------------------------------------- the solve
def _trouble(y: State, f: State, p: _Params) -> Array:
    """Non-finite state or field, or a state beyond the divergence bound."""
    return ~all_finite(y) | ~all_finite(f) | (max_abs(y) > p.divergence)


@eqx.filter_jit
def _field(t, y: State, net: Network) -> State:
    """The ODE right-hand side as the solver sees it (every solver evaluation goes
    through here).

    A compiled function of its own, so the field is traced once per solve, not
    once per stage: a Tsit5 step evaluates it six times, and under ``grad``
    each evaluation is linearized and transposed again; JAX reuses one trace
    (and one linearization) for all of them.  XLA inlines the call, so the
    compiled solve is the same program (its optimized HLO is identical up to
    names) and gives the same numbers; only tracing is shorter.  Test:
    ``test_the_field_is_traced_once_per_solve_not_once_per_stage``."""
    return net.vector_field(y)


def stop_test(network: Network, p: _Params, steady: bool):
    """``done(y, f)``: end the solve on trouble or (when ``steady``) at a steady
    state.  Shared by ``simulate`` and the slot solver (``slots.py``)."""

    def done(y, f):
        bad = _trouble(y, f, p)
        if steady:
            # tau_a dx_a/dt (the energy gradient): how far each layer moves per
            # time constant, comparable across layers with different tau.
            g = {a: f[a] * n.tau for a, n in network.neurons.items()}
            return bad | (rms(g) < p.ss_atol + p.ss_rtol * rms(y))
        return bad

    return done


def params(s: SolveSettings, dtype, pcoeff=None, icoeff=None, dtmax=None, rho=0.0, ts=()) -> _Params:
    """The numbers of a solve as arrays of ``dtype`` (so a new value never
    recompiles); ``pcoeff``/``icoeff``/``dtmax``: the controller's, after
    ``method: auto`` (default: the settings')."""
    arr = lambda v: cast(v, dtype)  # noqa: E731
    steady = s.steady
    pcoeff, icoeff = (s.pcoeff if pcoeff is None else pcoeff), (s.icoeff if icoeff is None else icoeff)
    dtmax = s.dtmax if dtmax is None else dtmax
    return _Params(
        t0=arr(s.t0),
        t1=arr(s.t1),
        dt=arr(s.dt if s.dt is not None else 0.0),
        rtol=arr(s.rtol),
        atol=arr(s.atol),
        pcoeff=arr(0.0 if pcoeff is None else pcoeff),
        icoeff=arr(1.0 if icoeff is None else icoeff),
        dcoeff=arr(s.dcoeff),
        ss_rtol=arr(steady.rtol if steady else 0.0),
        ss_atol=arr(steady.atol if steady else 0.0),
        divergence=arr(s.divergence),
        dtmin=arr(s.dtmin if s.dtmin is not None else 1e-10 * (s.t1 - s.t0)),
        dtmax=arr(dtmax if dtmax is not None else np.inf),
        rho=arr(rho),
        ts=arr(ts),
    )


def solver_parts(network: Network, p: _Params, cfg: _Static) -> dict:
    """The ``diffeqsolve`` arguments of one solve (term, solver, controller, first
    step, stop event), shared by ``simulate`` and ``equilibrium``: the method's
    solver stopped by ``stop_test`` on trouble or at a steady state."""
    method = get_method(cfg.method)
    term = dfx.ODETerm(_field)
    done = stop_test(network, p, cfg.steady)
    solver = method.make(network, p)
    if isinstance(cfg.adjoint, dfx.ForwardMode):  # JVPs cannot pass Equinox's checkpointed loops
        if getattr(solver, "scan_kind", "set") is None:
            solver = eqx.tree_at(lambda s: s.scan_kind, solver, "lax", is_leaf=lambda x: x is None)
        if getattr(solver, "stage_loop", "lax") != "lax":
            solver = eqx.tree_at(lambda s: s.stage_loop, solver, "lax")
    if method.fsal is not None:  # the solver has f(y1) already: test it, no extra evaluation
        solver, event = FieldStop(solver, method.fsal, done), None
    else:
        event = dfx.Event(lambda t, y, net, **kw: done(y, _field(t, y, net)))
    if method.adaptive:
        # A NaN inside a step makes the controller reject and shrink the step
        # without end; dtmin with force_dtmin=False turns that into a failure.
        controller = (StopController if event is None else dfx.PIDController)(
            rtol=p.rtol,
            atol=p.atol,
            pcoeff=p.pcoeff,
            icoeff=p.icoeff,
            dcoeff=p.dcoeff,
            dtmin=p.dtmin,
            dtmax=p.dtmax,
            force_dtmin=False,
        )
        dt0 = p.dt if cfg.initial_dt else None
    else:
        controller = dfx.ConstantStepSize()
        dt0 = p.dt
    return dict(terms=term, solver=solver, t0=p.t0, t1=p.t1, dt0=dt0, stepsize_controller=controller, event=event)


def _solve_one(network: Network, x0: State, p: _Params, cfg: _Static):
    method = get_method(cfg.method)
    sol = dfx.diffeqsolve(
        y0=x0,
        args=network,
        saveat=dfx.SaveAt(ts=p.ts, t1=True, solver_state=method.counts_evals),
        max_steps=cfg.max_steps,
        throw=False,
        **({} if cfg.adjoint is None else {"adjoint": cfg.adjoint}),
        **solver_parts(network, p, cfg),
    )
    ts, ys = sol.ts, sol.ys
    rows = jnp.arange(ts.shape[0])
    reached = jnp.isfinite(ts)  # rows the solve got to; the end of the solve is the last
    end = jnp.max(jnp.where(reached, rows, 0))
    # Rows past the end hold inf; mask them before evaluating anything on them.
    ys = jax.tree.map(lambda a: jnp.where(reached.reshape((-1,) + (1,) * (a.ndim - 1)), a, 0), ys)
    # every row's energy terms, activations, dE/dt and dx/dt from one flow and one JVP
    # (quasi-static layers reported at their equilibrium)
    obs = jax.vmap(network.observables)(ys)
    ys, xhat, terms, dEdt, dEdt_scale = (obs[k] for k in ("x", "xhat", "energy_terms", "dEdt", "dEdt_scale"))
    energy = sum(terms.values())
    at_end = lambda a: a[end]
    bad_end = _trouble(jax.tree.map(at_end, ys), jax.tree.map(at_end, obs["xdot"]), p) | ~jnp.isfinite(energy[end])

    # A row is valid if the solve reached it, it does not repeat the previous save
    # time (the end row does when the solve stops on a save time, e.g. t1), and its
    # state and energy are finite.  Rows after the first invalid one are invalid.
    repeat = jnp.concatenate([jnp.zeros(1, bool), ts[1:] == ts[:-1]])
    finite = jax.vmap(lambda i: all_finite(jax.tree.map(lambda a: a[i], (ys, xhat))))(rows)
    row_ok = reached & ~repeat & finite & jnp.isfinite(energy)
    valid = jnp.cumprod(row_ok.astype(jnp.int32)).astype(bool)
    last = jnp.maximum(jnp.sum(valid) - 1, 0)
    fill = lambda a: jnp.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, a[last])
    xs, xhat, terms, energy, dEdt, dEdt_scale = jax.tree.map(fill, (ys, xhat, terms, energy, dEdt, dEdt_scale))
    ts_out = fill(jnp.where(reached, ts, ts[end]))

    res = sol.result
    status = jnp.where(
        res == dfx.RESULTS.successful,
        HORIZON,
        jnp.where(
            res == dfx.RESULTS.event_occurred,
            STEADY_STATE,
            jnp.where(res == dfx.RESULTS.max_steps_reached, MAX_STEPS, FAILED),
        ),
    )
    status = jnp.where(bad_end, FAILED, status).astype(jnp.int32)

    stats = sol.stats
    n_steps = jnp.asarray(stats["num_steps"], jnp.int32)
    if method.counts_evals:
        counted = sol.solver_state[-1]  # evaluations on accepted steps, init included
        accepted = jnp.maximum(jnp.asarray(stats["num_accepted_steps"], jnp.int32), 1)
        rejected = jnp.asarray(stats["num_rejected_steps"], jnp.int32)
        evals = (counted + jnp.round(rejected * (counted - 1) / accepted)).astype(jnp.int32)
    elif method.evals_per_step is None:
        evals = jnp.asarray(-1, jnp.int32)
    else:
        evals = (method.evals_per_step * n_steps + method.evals_init).astype(jnp.int32)
    return dict(
        **descent(energy, terms, dEdt, dEdt_scale, valid),
        ts=ts_out,
        x=xs,
        xhat=xhat,
        energy=energy,
        energy_terms=terms,
        dEdt=dEdt,
        dEdt_scale=dEdt_scale,
        valid=valid,
        status=status,
        t_final=ts[end],
        n_steps=n_steps,
        n_accepted=jnp.asarray(stats["num_accepted_steps"], jnp.int32),
        n_rejected=jnp.asarray(stats["num_rejected_steps"], jnp.int32),
        vf_evals=evals,
    )


@eqx.filter_jit
def _run(network: Network, x0: State, p: _Params, cfg: _Static, batched: bool):
    one = lambda x: _solve_one(network, x, p, cfg)
    return jax.vmap(one)(x0) if batched else one(x0)


def _settings_leaves(s: SolveSettings) -> list:
    return [getattr(s, f.name) for f in dataclasses.fields(SolveSettings)] + list(
        dataclasses.astuple(s.steady) if s.steady else ()
    )


def _warn_if_rising(traj: Trajectory) -> None:
    """The ``LyapunovWarning`` of a plain call whose energy rose (once per call)."""
    if traj.descent_excess is None:
        return
    excess = np.asarray(traj.descent_excess)
    if np.all(excess <= 0):
        return
    import warnings

    from ..core.errors import LyapunovWarning

    rise, slope = np.max(np.asarray(traj.max_rise)), np.max(np.asarray(traj.max_dEdt))
    bad = int(np.sum(excess > 0))
    members = f" in {bad} of {excess.size} members" if excess.ndim else ""
    warnings.warn(
        LyapunovWarning(
            f"the energy rises{members}: largest rise between saved times {rise:.3g}, largest dE/dt {slope:.3g} "
            f"(tolerance {LYAPUNOV_TOLERANCE:g} plus rounding); the network does not descend its energy "
            "(a concave Lagrangian, a non-gradient coupling?) and 'steady_state' does not mean a minimum"
        ),
        stacklevel=3,
    )


def _traced_rho(network: Network, x0: State, batched: bool) -> Array:
    """RKC2's spectral-radius bound computed inside the transformed program (no
    host round trip; no gradient: it only sets the number of stages)."""
    from .stiffness import _power_iteration

    x = jax.tree.map(lambda a: a[0], x0) if batched else x0
    key = jax.random.PRNGKey(0)
    v = {a: jax.random.normal(jax.random.fold_in(key, i), jnp.shape(x[a]), x[a].dtype) for i, a in enumerate(x)}
    norms = _power_iteration(network, x, v, 40, False)
    tail = norms[20:]
    return jax.lax.stop_gradient(jnp.max(jnp.where(jnp.isfinite(tail), tail, 0.0)))


def simulate(
    network: Network,
    x0: dict[str, ArrayLike] | None = None,
    settings: SolveSettings | None = None,
    *,
    adjoint=None,
    **overrides,
) -> Trajectory:
    """Integrate ``tau dx/dt = -dE/dxhat`` from ``x0`` and return a ``Trajectory``.

    **Arguments:**

    - ``network``: the ``Network``.
    - ``x0``: ``{neuron: state}``; missing layers start at zero.  A leading axis on
      every given layer makes a batch, solved as one ``vmap``ped solve.
    - ``settings``: a ``SolveSettings`` (default: its defaults); keyword
      arguments override its fields (``simulate(net, x0, rtol=1e-8)``).  See
      ``SolveSettings`` for each one; ``method="auto"`` measures stiffness at
      ``x0`` and chooses (``Trajectory.solver_choice`` says what and why).
    - ``adjoint``: how gradients flow through the solve, a Diffrax adjoint.
      The default is Diffrax's ``RecursiveCheckpointAdjoint`` (reverse mode,
      ``jax.grad``: exact gradients of the discretised solve with memory
      logarithmic in the steps).  Pass ``diffrax.ForwardMode()`` for
      ``jax.jacfwd`` (few inputs, many outputs).  For the gradient of a steady
      state alone, ``hd.equilibrium`` (implicit function theorem) costs one
      linear solve instead of differentiating every step.

    **Returns:**

    A ``Trajectory``: saved rows, the end state, the status, step counts and the
    energy-descent verdict (``descends``, ``max_rise``, ``max_dEdt``).

    **Raises:**

    ``SettingsError`` for bad settings (and for ``method="auto"`` or a discrete
    rule under a JAX transformation), ``NetworkError`` for a start that does not
    fit the network.  A plain call whose energy rises beyond the tolerance warns
    with a ``LyapunovWarning``.

    **JAX transformations.**  ``simulate`` composes with ``jax.jit``,
    ``jax.vmap`` (over starts, network arrays, and the tolerances ``rtol``,
    ``atol``) and ``jax.grad``/``jax.jacfwd`` for every continuous method, as
    ``diffrax.diffeqsolve`` does.  Under a transformation it builds the solve
    inside the caller's program (no compile cache, no timing, no warning: the
    verdict travels in the ``Trajectory``).  ``method="auto"`` needs concrete
    values to measure stiffness and asks for a named method there; RKC2's
    spectral-radius bound is computed inside the program.  A solve stopped at
    a steady state is differentiated at the step where it stopped.

    Discrete rules (``async``, ``sync``, ``dense_async``, ``retrieval``) return the
    same ``Trajectory`` with one row per sweep; the ODE-only settings are ignored.
    They have no derivative and run outside transformations only.
    """
    settings = settings if settings is not None else SolveSettings()
    if not isinstance(settings, SolveSettings):
        raise SettingsError(f"expected a hopdyn.SolveSettings, got {type(settings).__name__}", ("settings",))
    if overrides:
        unknown = [k for k in overrides if k not in {f.name for f in dataclasses.fields(SolveSettings)}]
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}", (unknown[0],))
        settings = dataclasses.replace(settings, **overrides)
    s = settings
    if x0 is not None and not isinstance(x0, dict):
        raise SettingsError(f"expected a dict of {{neuron: initial state}}, got {type(x0).__name__}", ("x0",))
    if not isinstance(network, Network):
        raise SettingsError(f"expected a hopdyn.Network, got {type(network).__name__}", ("network",))
    traced = is_traced(network, x0, _settings_leaves(s))
    dtype = jnp.dtype(s.dtype) if s.dtype is not None else jnp.dtype(network.dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise SettingsError("float64 needs jax.config.update('jax_enable_x64', True) before any JAX work", ("dtype",))
    if dtype not in (jnp.float32, jnp.float64):
        raise SettingsError(f"expected float32 or float64, got {dtype}", ("dtype",))
    network = network.astype(dtype)
    state = sum(n.size for n in network.neurons.values())
    batch = max(
        (
            np.shape(v)[0]
            for k, v in (x0 or {}).items()
            if k in network.neurons and np.ndim(v) > len(network.neurons[k].shape)
        ),
        default=1,
    )
    m0 = get_method(s.method)
    rows = (s.max_sweeps + 1) if m0 is not None and not m0.continuous else len(s.save_times()) + 1
    require(
        solve_bytes(state, batch, rows, dtype.itemsize),
        f"this solve (a state of {state} values x batch {batch} x {rows} saved rows)",
        ("x0",),
    )
    x0 = network.init_state(x0, dtype=dtype)
    batched = network.batch_size(x0) is not None
    size = None  # the real batch size when the batch was padded for sharding
    if batched and not traced and want_sharding(s.shard):
        x0, size = shard_batch(x0)

    def unpadded(traj: Trajectory) -> Trajectory:
        return traj if size is None else traj.take(size)

    choice = ()
    rho = None  # the spectral radius at the start, for rkc
    method, pcoeff, icoeff, dtmax = s.method, s.pcoeff, s.icoeff, s.dtmax
    if traced and method == AUTO:  # (a traced tolerance alone makes the call traced)
        raise SettingsError(AUTO_NEEDS_VALUES, ("method",))
    if traced and not m0.continuous:
        raise SettingsError(
            f"{method!r} is a discrete rule: it has no derivative and runs outside jax.jit/vmap/grad only; "
            "call simulate directly, or use an ODE method under the transformation",
            ("method",),
        )
    if method == AUTO:
        from .stiffness import resolve_auto

        with phase("measuring stiffness (method: auto)"):
            chosen, picked = resolve_auto(network, x0, s)
        method, pcoeff, icoeff, dtmax = chosen.method, chosen.pcoeff, chosen.icoeff, chosen.dtmax
        rho = picked.report["spectral_radius"]
        choice = tuple(
            sorted({"method": method, "pcoeff": pcoeff, "icoeff": icoeff, "dtmax": dtmax, **picked.report}.items())
        )
    m = get_method(method)
    if not m.continuous:
        return unpadded(m.run(network, x0, dataclasses.replace(s, method=method)))
    pcoeff = 0.0 if pcoeff is None else pcoeff
    icoeff = 1.0 if icoeff is None else icoeff
    steady = s.steady
    ts = s.save_times()
    if method == "rkc" and rho is None and traced:
        rho = _traced_rho(network, x0, batched)
    elif method == "rkc" and rho is None:
        from .stiffness import spectral_radius

        rho = spectral_radius(network, jax.tree.map(lambda a: a[0], x0) if batched else x0)
    if rho is None or (not traced and not np.isfinite(rho)):
        rho = 0.0
    p = params(s, dtype, pcoeff, icoeff, dtmax, rho, ts)
    cfg = _Static(
        method=method,
        max_steps=int(s.max_steps),
        steady=steady is not None,
        initial_dt=s.dt is not None,
        adjoint=adjoint,
    )
    args = (network, x0, p, cfg, batched)
    if traced:  # inside the caller's transformation: no compile cache, no host round trip, no timing
        return Trajectory(**_run(*args), method=method, choice=choice)
    shape = f", batch {network.batch_size(x0)}" if batched else ""
    fn, compile_seconds = compiled(_run, *args, what=f"the {method} solve ({state} variables{shape})")
    start = time.perf_counter()
    with phase("solving"):
        out = jax.block_until_ready(fn(*args))
    solve_seconds = time.perf_counter() - start
    traj = unpadded(
        Trajectory(**out, method=method, compile_seconds=compile_seconds, solve_seconds=solve_seconds, choice=choice)
    )
    _warn_if_rising(traj)
    return traj
