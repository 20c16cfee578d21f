"""``simulate``: integrate a network's vector field with Diffrax.

One jitted region per solve; batches (a leading axis on the initial state) go
through ``jax.vmap``.  Every number a user may vary (tolerances, horizon, save
times, ``beta``...) enters as an array, so only a new network *structure*, a
new solver method or a new number of saved times recompiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._compile import compiled
from ._discrete import DISCRETE_METHODS, simulate_discrete
from ._sharding import shard_batch, want_sharding
from ._errors import HopdynError
from ._network import Network, State, all_finite, max_abs, rms
from ._etd import ETDRK4
from ._rkc import RKC2
from ._stopping import FieldStop, StopController

from ._trajectory import FAILED, HORIZON, MAX_STEPS, STATUSES, STEADY_STATE, Trajectory  # noqa: F401  (re-exported)


class SolverError(HopdynError, ValueError):
    """Invalid solver settings."""


class _Method(NamedTuple):
    make: Callable  # (network, params) -> the Diffrax solver
    adaptive: bool
    evals_per_step: int | None  # new vector-field evaluations per step (None: not counted)
    evals_init: int | None
    fsal: Callable | None = None  # where the solver's state keeps f(y1), if it does
    counts_evals: bool = False  # the solver counts its evaluations (last item of its state)


_rk_fsal = lambda state: state[1]  # Diffrax's Runge-Kutta FSAL state: (first_step, f1)

# Evaluations per step include the one the steady-state/divergence event makes
# (none for solvers that keep f(y1), see _stopping.py);
# the counts are checked against a host-side counter in tests/test_solve.py.
METHODS: dict[str, _Method] = {
    "tsit5": _Method(lambda net, p: dfx.Tsit5(), True, 6, 1, _rk_fsal),
    "dopri5": _Method(lambda net, p: dfx.Dopri5(), True, 6, 1, _rk_fsal),
    "dopri8": _Method(lambda net, p: dfx.Dopri8(), True, 14, 2),
    "kvaerno5": _Method(lambda net, p: dfx.Kvaerno5(), True, None, None),
    "euler": _Method(lambda net, p: dfx.Euler(), False, 2, 1),
    # Runge-Kutta-Chebyshev: s + 1 evaluations per step, s chosen per step; counted
    # by the solver itself (accepted steps exactly, rejected ones at the mean).
    "rkc": _Method(lambda net, p: RKC2(rho=p.rho), True, None, None, lambda state: state[0], counts_evals=True),
    # exponential time differencing: the leak -x/tau integrated exactly
    "etd": _Method(lambda net, p: ETDRK4(rate=net.leak_rates()), True, 4, 1, lambda state: state),
}


class _Static(NamedTuple):
    method: str
    max_steps: int
    steady: bool
    initial_dt: bool


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


def _field(t, y: State, net: Network) -> State:
    """The ODE right-hand side as the solver sees it (every solver evaluation goes
    through here)."""
    return net.vector_field(y)


def _solve_one(network: Network, x0: State, p: _Params, cfg: _Static):
    method = METHODS[cfg.method]
    term = dfx.ODETerm(lambda t, y, net: _field(t, y, net))

    def done(y, f):
        """End the solve: trouble, or (when asked) a steady state."""
        bad = _trouble(y, f, p)
        if cfg.steady:
            # tau_a dx_a/dt (the energy gradient): how far each layer moves per
            # time constant, comparable across layers with different tau.
            g = {a: f[a] * n.tau for a, n in network.neurons.items()}
            return bad | (rms(g) < p.ss_atol + p.ss_rtol * rms(y))
        return bad

    solver = method.make(network, p)
    if method.fsal is not None:  # the solver has f(y1) already: test it, no extra evaluation
        solver, event = FieldStop(solver, method.fsal, done), None
    else:
        event = dfx.Event(lambda t, y, net, **kw: done(y, _field(t, y, net)))
    if method.adaptive:
        # A NaN inside a step makes the controller reject and shrink the step
        # without end; dtmin with force_dtmin=False turns that into a failure.
        controller = (StopController if event is None else dfx.PIDController)(
            rtol=p.rtol, atol=p.atol, pcoeff=p.pcoeff, icoeff=p.icoeff, dcoeff=p.dcoeff,
            dtmin=p.dtmin, dtmax=p.dtmax, force_dtmin=False,
        )
        dt0 = p.dt if cfg.initial_dt else None
    else:
        controller = dfx.ConstantStepSize()
        dt0 = p.dt
    sol = dfx.diffeqsolve(
        term,
        solver,
        p.t0,
        p.t1,
        dt0,
        x0,
        args=network,
        saveat=dfx.SaveAt(ts=p.ts, t1=True, solver_state=method.counts_evals),
        stepsize_controller=controller,
        event=event,
        max_steps=cfg.max_steps,
        throw=False,
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
        jnp.where(res == dfx.RESULTS.event_occurred, STEADY_STATE,
                  jnp.where(res == dfx.RESULTS.max_steps_reached, MAX_STEPS, FAILED)),
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
        ts=ts_out, x=xs, xhat=xhat, energy=energy, energy_terms=terms, dEdt=dEdt, dEdt_scale=dEdt_scale, valid=valid,
        status=status, t_final=ts[end], n_steps=n_steps,
        n_accepted=jnp.asarray(stats["num_accepted_steps"], jnp.int32),
        n_rejected=jnp.asarray(stats["num_rejected_steps"], jnp.int32), vf_evals=evals,
    )


@eqx.filter_jit
def _run(network: Network, x0: State, p: _Params, cfg: _Static, batched: bool):
    one = lambda x: _solve_one(network, x, p, cfg)
    return jax.vmap(one)(x0) if batched else one(x0)


def save_times(t0: float, t1: float, n: int, spacing: str = "log") -> np.ndarray:
    """``n`` save times from ``t0`` to ``t1``: ``linear``, or ``log`` (``t0`` then
    ``n - 1`` times log-spaced over five decades up to ``t1``)."""
    if n < 2:
        raise SolverError(f"save.n must be >= 2, got {n}")
    if spacing == "linear":
        return np.linspace(t0, t1, n)
    if spacing == "log":
        return np.concatenate([[t0], t0 + (t1 - t0) * np.logspace(-5, 0, n - 1)])
    raise SolverError(f"save.spacing must be 'log' or 'linear', got {spacing!r}")


def simulate(
    network: Network,
    x0: dict[str, ArrayLike] | None = None,
    *,
    method: str = "auto",
    t0: float = 0.0,
    t1: float = 1000.0,
    dt: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    pcoeff: float | None = None,
    icoeff: float | None = None,
    dcoeff: float = 0.0,
    steady_state: bool | dict = True,
    max_steps: int = 100_000,
    save: int | ArrayLike = 200,
    save_spacing: str = "log",
    divergence: float = 1e8,
    dtmin: float | None = None,
    dtmax: float | None = None,
    dtype=None,
    max_sweeps: int = 100,
    seed: int = 0,
    order=None,
    shard: bool | None = None,
) -> Trajectory:
    """Integrate ``tau dx/dt = -dE/dxhat`` from ``x0`` and return a ``Trajectory``.

    - ``x0``: ``{neuron: state}``; missing layers start at zero.  A leading axis on
      every given layer makes a batch, solved as one ``vmap``ped solve.
    - ``method``: ``auto`` (default: measure stiffness at ``x0`` and choose, see
      ``hopdyn._stiffness.choose_solver``; the choice is ``Trajectory.solver_choice``),
      ``tsit5``, ``dopri5``, ``dopri8``, ``kvaerno5`` (implicit, for small stiff
      networks), ``rkc`` (Runge–Kutta–Chebyshev, explicit, for stiff networks at
      loose tolerances, ``hopdyn._rkc``) or ``euler`` (fixed step ``dt``).
    - ``rtol``, ``atol``, ``pcoeff``, ``icoeff``, ``dcoeff``: the PID step-size
      controller (default: Diffrax's integral controller ``pcoeff=0, icoeff=1``,
      or what ``auto`` chose).
      ``dt`` is the initial step of adaptive methods (estimated when ``None``).
    - ``steady_state``: stop once ``rms(tau dx/dt) < atol + rtol * rms(x)`` (each
      layer's rate in units of its own time constant); ``True``
      uses the solver's ``rtol``/``atol``, a dict ``{rtol, atol}`` sets them,
      ``False`` integrates to ``t1``.
    - ``max_steps``: step limit (status ``max_steps`` when hit).
    - ``save``: the number of saved times (``save_spacing`` ``log`` or ``linear``)
      or an increasing array of times in ``[t0, t1]``.  The end of the solve is
      always saved.
    - ``divergence``: a state with ``max |x|`` above it, or any NaN/inf, ends the
      solve with status ``failed`` at the time it happened.
    - ``dtmax``: the largest step adaptive methods take (default: none, or
      what ``auto`` chose for a stiff network: below the explicit stability limit).
    - ``dtmin``: adaptive methods fail (status ``failed``) when the step size
      collapses below it, as it does when a NaN appears inside a step; default
      ``1e-10 (t1 - t0)``.
    - ``dtype``: ``float32`` or ``float64`` (needs ``jax_enable_x64``); default:
      the dtype of the network's parameters.
    - ``shard``: split a batch over every visible JAX device (default: whenever
      there is more than one); the result is the same as unsharded.

    Discrete rules (``method`` ``async``, ``sync``, ``dense_async``,
    ``retrieval``; see ``hopdyn._discrete.simulate_discrete``) return the same
    ``Trajectory`` with one row per sweep: ``max_sweeps`` bounds the sweeps,
    ``seed`` draws the asynchronous update orders, ``order`` lists the layers
    ``retrieval`` updates, the steady-state tolerances stop ``retrieval``, and
    ``save=2`` keeps only the start and the end; the other arguments belong to
    the ODE solvers and are ignored.
    """
    if method not in METHODS and method not in DISCRETE_METHODS and method != "auto":
        raise SolverError(f"solver.method: unknown method {method!r}; expected one of {', '.join((*METHODS, *DISCRETE_METHODS))}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.dtype(network.dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise SolverError("dtype float64 needs jax.config.update('jax_enable_x64', True) before any JAX work")
    if dtype not in (jnp.float32, jnp.float64):
        raise SolverError(f"dtype: expected float32 or float64, got {dtype}")
    network = network.astype(dtype)
    x0 = network.init_state(x0, dtype=dtype)
    batched = network.batch_size(x0) is not None
    size = None  # the real batch size when the batch was padded for sharding
    if batched and want_sharding(shard):
        x0, size = shard_batch(x0)

    def unpadded(traj: Trajectory) -> Trajectory:
        return traj if size is None else traj.take(size)

    choice = ()
    rho = None  # the spectral radius at the start, for rkc
    if method == "auto":
        from ._stiffness import choose_solver

        picked = choose_solver(network, x0, rtol)
        method = picked.method
        pcoeff = picked.pcoeff if pcoeff is None else pcoeff
        icoeff = picked.icoeff if icoeff is None else icoeff
        dtmax = picked.dtmax if dtmax is None else dtmax
        rho = picked.report["spectral_radius"]
        choice = tuple(sorted({"method": method, "pcoeff": pcoeff, "icoeff": icoeff, "dtmax": dtmax,
                               **picked.report}.items()))
    pcoeff = 0.0 if pcoeff is None else pcoeff
    icoeff = 1.0 if icoeff is None else icoeff
    if method in DISCRETE_METHODS:
        ss = steady_state if isinstance(steady_state, dict) else {} if steady_state else {"rtol": 0.0, "atol": 0.0}
        return unpadded(simulate_discrete(network, x0, method=method, max_sweeps=max_sweeps, seed=seed,
                                          order=order if method == "retrieval" else None,
                                          rtol=ss.get("rtol", rtol), atol=ss.get("atol", atol),
                                          keep_ends=np.ndim(save) == 0 and int(save) == 2))

    t0, t1 = float(t0), float(t1)
    if not (np.isfinite(t0) and np.isfinite(t1) and t1 > t0):
        raise SolverError(f"solver.t1: expected a finite horizon t1 > t0 = {t0}, got {t1}")
    m = METHODS[method]
    if not m.adaptive and (dt is None or not dt > 0):
        raise SolverError(f"solver.dt: method {method!r} takes fixed steps and needs dt > 0, got {dt}")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise SolverError(f"solver.dt: expected a number > 0, got {dt}")
    for key, v in (("rtol", rtol), ("atol", atol)):
        if not (np.isfinite(v) and v >= 0):
            raise SolverError(f"solver.{key}: expected a number >= 0, got {v}")
    if int(max_steps) != max_steps or max_steps < 1:
        raise SolverError(f"solver.max_steps: expected an integer >= 1, got {max_steps}")
    if steady_state is True:
        ss_rtol, ss_atol, steady = rtol, atol, True
    elif steady_state is False or steady_state is None:
        ss_rtol, ss_atol, steady = 0.0, 0.0, False
    else:
        ss_rtol = float(steady_state.get("rtol", rtol))
        ss_atol = float(steady_state.get("atol", atol))
        steady = True
    if np.ndim(save) == 0:
        ts = save_times(t0, t1, int(save), save_spacing)
    else:
        ts = np.asarray(save, dtype=float)
        if ts.ndim != 1 or ts.size < 1 or np.any(np.diff(ts) <= 0) or ts[0] < t0 or ts[-1] > t1:
            raise SolverError(f"solver.save.ts: expected increasing times within [{t0}, {t1}]")

    if method == "rkc" and rho is None:
        from ._stiffness import spectral_radius

        rho = spectral_radius(network, jax.tree.map(lambda a: a[0], x0) if batched else x0)
    if rho is None or not np.isfinite(rho):
        rho = 0.0
    arr = lambda v: jnp.asarray(v, dtype=dtype)
    p = _Params(
        t0=arr(t0), t1=arr(t1), dt=arr(dt if dt is not None else 0.0), rtol=arr(rtol), atol=arr(atol),
        pcoeff=arr(pcoeff), icoeff=arr(icoeff), dcoeff=arr(dcoeff), ss_rtol=arr(ss_rtol), ss_atol=arr(ss_atol),
        divergence=arr(divergence), dtmin=arr(dtmin if dtmin is not None else 1e-10 * (t1 - t0)),
        dtmax=arr(dtmax if dtmax is not None else np.inf), rho=arr(rho), ts=arr(ts),
    )
    cfg = _Static(method=method, max_steps=int(max_steps), steady=steady, initial_dt=dt is not None)
    args = (network, x0, p, cfg, batched)
    fn, compile_seconds = compiled(_run, *args)
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    solve_seconds = time.perf_counter() - start
    return unpadded(Trajectory(**out, method=method, compile_seconds=compile_seconds, solve_seconds=solve_seconds,
                               choice=choice))
