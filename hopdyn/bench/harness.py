"""``hopdyn bench``: hopdyn's solves against the ways people integrate these
networks by hand, measured in the same run on the same machine.

Baselines, each run on the same equations from the same starts:

- ``python_loop``: seed 000's tutorial — a Python ``for`` loop of Euler steps in
  numpy, one trajectory at a time;
- ``diffrax``: what a Diffrax user writes by hand — ``jit(vmap(diffeqsolve))``
  with Tsit5, a PI controller, Diffrax's steady-state event, the end state
  saved only — on the same network and starts (same end states checked).
- ``euler_scan``: a jitted fixed-step Euler ``lax.scan`` over the batch (the
  HAMUX way), its step and its number of steps the fewest that reach hopdyn's final accuracy;
- ``solve_ivp``: ``scipy.integrate.solve_ivp`` (RK45, or LSODA for stiff cases)
  per trajectory with hopdyn's tolerances;
- ``torchdiffeq``: ``odeint`` (dopri5) where torch and torchdiffeq are installed.

Accuracy is measured against a tight float64 reference (Tsit5, rtol 1e-10).
hopdyn and the jitted Euler loop are timed after compiling, best of up to three
runs (fewer when the runs add up to over 10 s).  Slow baselines are timed on a
few trajectories and scaled to the batch
(``extrapolated: true``).  Achieved GFLOP/s counts ``6 K D`` flops per
vector-field evaluation and member (the overlaps, and the two products of the
energy's gradient) against the machine's measured matrix-multiply rate.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.progress import bar
from ..model.network import Network
from ..model.neurons import Neuron


def machine() -> dict:
    dev = jax.devices()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in dev],
    }


def best_seconds(fn, *args, reps: int = 10) -> float:
    """The fastest of ``reps`` timed calls of ``fn(*args)`` (each waited for),
    after one call that compiles it."""
    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(dtype="float32", n: int = 2048, reps: int = 5) -> float:
    """Measured GFLOP/s of an ``n x n`` matrix product (best of ``reps``)."""
    a = jnp.ones((n, n), dtype)
    return 2 * n**3 / best_seconds(jax.jit(lambda x: x @ x), a, reps=reps) / 1e9


def product_rate(m: int, k: int, n: int, dtype="float32", iters: int = 32, reps: int = 3) -> float:
    """Measured GFLOP/s of a case's own products: ``(m x k) @ (k x n)`` and
    back, ``(m x n) @ (n x k)`` — what one vector-field evaluation of a batch
    of ``m`` states of ``k`` units against ``n`` patterns multiplies — in
    ``dtype``, ``iters`` round trips in one compiled loop (no dispatch between
    products, as inside a solve), best of ``reps``.  The matrix has orthonormal
    rows or columns, so the loop neither grows nor decays its values."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(max(k, n), min(k, n))))
    w = jnp.asarray(q.T if n <= k else q, dtype)  # (n, k)
    x = jnp.asarray(rng.normal(size=(m, k)), dtype)
    f = jax.jit(lambda x, w: jax.lax.fori_loop(0, iters, lambda i, y: (y @ w.T) @ w, x))
    return 4 * m * k * n * iters / best_seconds(f, x, w, reps=reps) / 1e9


def field_cost(net: Network, y: dict) -> tuple[float, float]:
    """Flops and bytes of one evaluation of the batched field at ``y``
    (``{layer: (batch, ...)}``): XLA's cost analysis of it, compiled at those
    shapes and dtype."""
    cost = jax.jit(jax.vmap(net.vector_field)).lower(y).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))


def field_flops(net: Network, x0: dict) -> float:
    """Flops of one vector-field evaluation per member: ``field_cost`` of the
    batched field at the case's shapes and dtype, over the batch."""
    y = {k: jnp.asarray(v) for k, v in net.init_state(x0).items()}
    return field_cost(net, y)[0] / next(iter(y.values())).shape[0]


def dense_memory(K: int, D: int, B: int, tau_m: float, beta: float, dtype: str, seed: int = 0):
    """A dense associative memory (tanh visible layer, softmax memory layer) with
    K random +-1/sqrt(D) patterns, and B of them with 10% of signs flipped."""
    from ..model.lagrangians import Softmax, Tanh
    from ..model.synapses import Dense

    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], (K, D)) / np.sqrt(D)
    net = Network({"v": Neuron(D, Tanh(1.0)), "m": Neuron(K, Softmax(beta), tau_m)}, [Dense(("m", "v"), xi)]).astype(
        dtype
    )
    x0 = np.sign(xi[np.arange(B) % K]).copy()
    flip = rng.random(x0.shape) < 0.1
    x0[flip] *= -1
    return net, {"v": x0.astype(dtype)}, xi


def seed000(
    kind: str = "dam", K: int = 100, D: int = 30, tau_v: float = 1.0, tau_m: float = 1.0, draw: str = "tutorial"
):
    """Seed 000's network, the one reference the bench and the tests share: a
    sigmoid visible layer (``beta = 1/(2D)``) of D units and a memory layer of
    K units — identity (``chn``, the classical network) or softmax (``dam``)
    — coupled by K uniform patterns, and one start.  ``draw="tutorial"``
    draws them as the seed tutorial does (JAX's generator, key 55 for the
    patterns and keys 3 and 4 for the start, in float32: its published fixed
    point, energy -1260.27, is this network's); ``draw="numpy"`` as the bench
    has since its first table (numpy's generator seeded 55: patterns, then the
    visible and memory starts), kept so that its recorded numbers stay
    comparable.  Returns ``(network, x0, patterns)`` in float64, x0 unbatched."""
    from ..model.lagrangians import Identity, Sigmoid, Softmax
    from ..model.synapses import Dense

    if draw == "tutorial":
        import jax.random as jr

        xi = np.asarray(jr.uniform(jr.PRNGKey(55), (K, D), dtype=jnp.float32), np.float64)
        x0 = {
            "v": np.asarray(jr.uniform(jr.PRNGKey(3), (D,), dtype=jnp.float32), np.float64),
            "m": np.asarray(jr.normal(jr.PRNGKey(4), (K,), dtype=jnp.float32), np.float64),
        }
    else:
        rng = np.random.default_rng(55)
        xi = rng.uniform(0, 1, (K, D))
        x0 = {"v": rng.uniform(0, 1, D), "m": rng.normal(size=K)}
    memory = Identity() if kind == "chn" else Softmax(1.0)
    net = Network({"v": Neuron(D, Sigmoid(1 / (2 * D)), tau_v), "m": Neuron(K, memory, tau_m)}, [Dense(("m", "v"), xi)])
    return net, x0, xi


def seed_dam(dtype: str):
    """Seed 000's DAM (``seed000``, the bench's draw) as the bench solves it: one trajectory, in ``dtype``."""
    net, x0, xi = seed000("dam", draw="numpy")
    return net.astype(dtype), {k: v[None].astype(dtype) for k, v in x0.items()}, xi


# ------------------------------------------------------------------ baselines
def _flat_field(net: Network, x0: dict):
    """A numpy right-hand side on the flattened state of one member (for the
    Python loop, solve_ivp and torchdiffeq), and the pack/unpack helpers."""

    def flat_field(y):
        return net.flatten(net.vector_field(net.unflatten(y)))

    f = jax.jit(flat_field)

    def rhs(t, y):
        return np.asarray(f(jnp.asarray(y, net.dtype)), np.float64)

    pack = lambda s: np.asarray(net.flatten(s), np.float64)
    jac_fn = jax.jit(jax.jacfwd(flat_field))

    def jac(t, y):  # the exact Jacobian, from JAX, for the implicit methods
        return np.asarray(jac_fn(jnp.asarray(y, net.dtype)), np.float64)

    return rhs, jac, pack, net.unflatten


REPEATS, REPEAT_BELOW = 3, 10.0  # timings are the best of up to 3 runs, repeated while under 10 s in all


def _best_seconds(once, first: float | None = None) -> float:
    """The fastest of up to ``REPEATS`` runs of ``once`` (which returns its
    seconds), fewer when they add up to over ``REPEAT_BELOW``; ``first``: a
    run's time already measured."""
    secs = [] if first is None else [first]
    while len(secs) < REPEATS and sum(secs) < REPEAT_BELOW:
        secs.append(once())
    return min(secs)


def _euler_step(field, x, dt):
    """One Euler step of the batched field (every Euler baseline takes these)."""
    return jax.tree.map(lambda a, d: a + dt * d, x, field(x))


def euler_scan(net: Network, x0: dict, dt: float, steps: int):
    """The jitted fixed-step Euler loop over the batch; returns (final, seconds)."""
    field = jax.vmap(net.vector_field)

    @jax.jit
    def run(x):
        def body(x, _):
            return _euler_step(field, x, dt), None

        return jax.lax.scan(body, x, None, length=steps)[0]

    out = jax.block_until_ready(run(x0))  # compile

    def once():
        t = time.perf_counter()
        jax.block_until_ready(run(x0))
        return time.perf_counter() - t

    return out, _best_seconds(once)


def euler_steps_to(net: Network, x0: dict, dt: float, cap: int, ref: dict, floor: float) -> int | None:
    """The fewest Euler steps after which the visible layer stays within ``floor``
    of ``ref`` up to step ``cap``; None if it is not within it at ``cap`` (to
    tune the Euler baseline's step and length).  Numbers enter as arrays: one
    compilation for every step size tried."""
    last_bad = int(
        _euler_last_bad(
            net,
            x0,
            jnp.asarray(dt, net.dtype),
            jnp.asarray(cap),
            jnp.asarray(ref["v"], net.dtype),
            jnp.asarray(floor, net.dtype),
        )
    )
    return None if last_bad == cap - 1 else last_bad + 2


def _max_err(a, b):
    """``max |a - b|``, infinite where any entry is not finite (XLA's CPU max
    reduction skips NaN: a diverged Euler run would otherwise look exact)."""
    d = jnp.abs(a - b)
    return jnp.where(jnp.all(jnp.isfinite(d)), jnp.max(d), jnp.inf)


@eqx.filter_jit
def _euler_last_bad(net, x, dt, cap, target, floor):
    """The last step index (-1: none) after which the error exceeded ``floor``
    (or was not finite)."""
    field = jax.vmap(net.vector_field)

    def body(i, carry):
        x, last = carry
        x = _euler_step(field, x, dt)
        good = _max_err(x["v"], target) <= floor  # False where not finite
        return x, jnp.where(good, last, i)

    return jax.lax.fori_loop(0, cap, body, (x, jnp.asarray(-1)))[1]


TRAJ_HORIZON, TRAJ_ROWS = 8.0, 16  # the stretch of trajectory compared (slowest tau = 1), rows every 0.5
EULER_TRAJ_DTS = tuple(0.5 / 2**k for k in range(13))  # divide the row spacing: rows fall on steps


def euler_trajectory_error(net: Network, x0: dict, dt: float, ref_rows: np.ndarray) -> float:
    """The largest error of the visible layer against ``ref_rows`` (``[row, member,
    unit]`` at times ``0, s, 2s, ...`` with ``s = TRAJ_HORIZON / TRAJ_ROWS``)
    along a fixed-step Euler run, computed on the fly (nothing stored per step).
    ``dt`` and the steps per row enter as arrays: one compilation for every step
    size tried."""
    every = int(round(TRAJ_HORIZON / TRAJ_ROWS / dt))
    return float(
        _euler_trajectory_run(net, x0, jnp.asarray(dt, net.dtype), jnp.asarray(every), jnp.asarray(ref_rows, net.dtype))
    )


@eqx.filter_jit
def _euler_trajectory_run(net, x, dt, every, rows):
    field = jax.vmap(net.vector_field)

    def body(i, carry):
        x, worst = carry
        x = _euler_step(field, x, dt)
        k = (i + 1) // every
        on_row = ((i + 1) % every == 0) & (k < rows.shape[0])
        err = _max_err(x["v"], rows[jnp.minimum(k, rows.shape[0] - 1)])
        return x, jnp.where(on_row, jnp.maximum(worst, err), worst)

    return jax.lax.fori_loop(0, every * (rows.shape[0] - 1), body, (x, jnp.zeros((), rows.dtype)))[1]


def python_loop(net: Network, x0_one: dict, dt: float, steps: int) -> float:
    """Seed 000's tutorial: Euler steps in a Python loop (numpy field by hand for
    the dense memory).  Seconds for one trajectory."""
    xi = np.asarray(net.synapses[0].weights, np.float64)
    lag_v, lag_m = net.neurons["v"].lagrangian, net.neurons["m"].lagrangian
    tv, tm = float(net.neurons["v"].tau), float(net.neurons["m"].tau)
    v = np.asarray(x0_one["v"], np.float64).copy()
    m = np.asarray(x0_one.get("m", np.zeros(xi.shape[0])), np.float64).copy()
    act_v = jax.jit(lambda x: lag_v.activation(x))
    act_m = jax.jit(lambda x: lag_m.activation(x))
    t = time.perf_counter()
    for _ in range(steps):
        vh, mh = np.asarray(act_v(v)), np.asarray(act_m(m))
        dv = (xi.T @ mh - v) / tv
        dm = (xi @ vh - m) / tm if tm > 0 else 0.0
        v, m = v + dt * dv, m + dt * dm
    return time.perf_counter() - t


def diffrax_by_hand(net: Network, x0: dict, t1: float, rtol: float, atol: float, max_steps: int = 100_000):
    """What a competent Diffrax user writes for the same network and starts:
    ``jit(vmap(diffeqsolve))`` with Tsit5, a PI controller (Diffrax's
    documented PI coefficients), Diffrax's steady-state event at the solve's
    tolerances, and only the end state saved.  Returns ``(seconds, end states,
    steps per member, statuses)``; the compile is done before timing."""
    import diffrax as dfx

    term = dfx.ODETerm(lambda t, y, args: net.vector_field(y))
    controller = dfx.PIDController(rtol=rtol, atol=atol, pcoeff=0.3, icoeff=0.4)
    event = dfx.Event(dfx.steady_state_event())

    @jax.jit
    def solve(xb):
        def one(x):
            sol = dfx.diffeqsolve(
                term, dfx.Tsit5(), 0.0, t1, None, x, stepsize_controller=controller, event=event,
                saveat=dfx.SaveAt(t1=True), max_steps=max_steps, throw=False,
            )  # fmt: skip
            return jax.tree.map(lambda a: a[-1], sol.ys), sol.stats["num_steps"], sol.result._value

        return jax.vmap(one)(xb)

    xb = {k: jnp.asarray(v) for k, v in x0.items()}
    jax.block_until_ready(solve(xb))
    out = []

    def once():
        t = time.perf_counter()
        out[:] = [jax.block_until_ready(solve(xb))]
        return time.perf_counter() - t

    secs = _best_seconds(once)
    ends, steps, results = out[0]
    return secs, {k: np.asarray(v) for k, v in ends.items()}, np.asarray(steps), np.asarray(results)


def same_fixed_point(got, ref, rel: float = 1e-2) -> float:
    """The fraction of members whose end state is within ``rel`` times the
    reference's largest component of the reference (distinct stored patterns
    differ in O(1) of it; signs alone misjudge components that end near 0)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.mean(np.max(np.abs(got - ref), axis=1) <= rel * np.max(np.abs(ref), axis=1)))


def _err(a: dict, b: dict) -> float:
    return float(max(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64))) for k in ("v",)))


EULER_DTS = (2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


def _first(x: dict, n: int) -> dict:
    return {k: v[:n] for k, v in x.items()}


def run_case(
    name: str,
    net: Network,
    x0: dict,
    *,
    t1: float,
    rtol: float,
    atol: float,
    stiff: bool,
    flops_per_eval: float | None,
    peak: Callable[[], float] | None,
    check: int = 8,
    slow_members: int = 2,
    budget: float = 120.0,
    baselines: tuple = ("diffrax", "euler_scan", "python_loop", "solve_ivp", "torchdiffeq"),
    log=print,
) -> dict:
    """Time hopdyn's default solve of ``x0`` (batched) and each baseline."""
    from ..solvers.simulate import simulate

    x0 = {k: np.asarray(v) for k, v in net.init_state(x0).items()}  # every layer, batched
    B = next(iter(x0.values())).shape[0]
    kw = dict(t1=t1, rtol=rtol, atol=atol, save=2)
    warm = simulate(net, _first(x0, 1), **kw)  # warm the auto-selection's own compile
    tr = simulate(net, x0, **kw)
    # compiling for this case (one member, then the batch); 0 where an earlier
    # case of the same shapes compiled it: tau, beta and weights are arrays
    compile_seconds = warm.compile_seconds + tr.compile_seconds
    # the matrix-multiply peak measured beside the solve, interleaved with its
    # repeats (best of each): contention at one moment cannot make the other look faster
    peaks = []

    def once() -> float:
        if peak is not None:
            peaks.append(peak())
        return simulate(net, x0, **kw).solve_seconds

    wall = _best_seconds(once, first=tr.solve_seconds)
    if peak is not None:
        peaks.append(peak())
    steps = np.asarray(tr.n_steps)
    evals = np.asarray(tr.vf_evals)
    out = {
        "name": name,
        "batch": B,
        "hopdyn": {
            "method": tr.method,
            "auto": tr.solver_choice,
            "wall_seconds": wall,
            "compile_seconds": compile_seconds,
            "trajectories_per_second": B / wall,
            "steps_median": float(np.median(steps)),
            "steps_max": int(steps.max()),
            "vector_field_evals_max": int(evals.max()) if evals.min() >= 0 else None,
            "statuses": sorted({str(v) for v in np.atleast_1d(tr.status_name)}),
        },
    }
    if flops_per_eval and evals.min() >= 0:
        # under vmap every member is evaluated until the slowest finishes
        gflops = float(flops_per_eval) * B * float(evals.max()) / wall / 1e9
        out["hopdyn"]["gflops"] = gflops
        if peaks:
            best = max(peaks)
            out["hopdyn"]["matmul_peak_gflops"] = best
            out["hopdyn"]["matmul_peak_samples"] = len(peaks)
            if gflops <= best:
                out["hopdyn"]["fraction_of_matmul_peak"] = gflops / best
            else:  # above the peak measured beside it: the measurement is wrong, not the solve fast
                out["hopdyn"]["fraction_of_matmul_peak"] = None
                out["hopdyn"]["measurement_fault"] = (
                    f"{gflops:.3g} GFLOP/s is above the matmul peak measured beside it ({best:.3g})"
                )
    # accuracy against a tight float64 reference on the first members
    n = min(check, B)
    ref_net = net.astype("float64")
    ref = simulate(
        ref_net, _first(x0, n), method="tsit5", t1=t1, rtol=1e-10, atol=1e-12, save=2, max_steps=10**6, dtype="float64"
    )
    ref_end = {k: np.asarray(v) for k, v in ref.final_state.items()}
    hop_end = {k: np.asarray(v)[:n] for k, v in tr.final_state.items()}
    err = _err(hop_end, ref_end)
    same = same_fixed_point(hop_end["v"], ref_end["v"])
    out["hopdyn"].update(error=err, same_fixed_point_as_reference=same)
    T = float(np.max(np.asarray(tr.t_final)))
    out["horizon_for_baselines"] = T
    log(
        f"  hopdyn {tr.method}: {wall:.3g} s, {B / wall:.3g} traj/s, steps median {np.median(steps):.0f} max "
        f"{steps.max()}, error {err:.2g}"
        + (f", {out['hopdyn'].get('gflops', 0):.3g} GFLOP/s" if "gflops" in out["hopdyn"] else "")
    )
    floor = max(err, 20 * float(np.finfo(net.dtype).eps) * max(1.0, float(np.max(np.abs(ref_end["v"])))))
    base = {}
    dt = None
    if "diffrax" in baselines:
        import diffrax as dfx

        secs, ends, steps_d, results = diffrax_by_hand(net, x0, t1, rtol, atol)
        steady = int(np.sum(results == dfx.RESULTS.event_occurred._value))
        base["diffrax"] = {
            "what": "jit(vmap(diffeqsolve)), Tsit5, PIDController(pcoeff=0.3, icoeff=0.4), steady_state_event, "
            "SaveAt(t1=True)",
            "wall_seconds": secs,
            "ratio": secs / wall,
            "steps_median": float(np.median(steps_d)),
            "steps_max": int(steps_d.max()),
            "steady": steady,
            "batch": B,
            "same_end_states": same_fixed_point(ends["v"], np.asarray(tr.final_state["v"])),
        }
        log(
            f"  diffrax by hand: {secs:.3g} s ({secs / wall:.3g}x hopdyn), steps median {np.median(steps_d):.0f} "
            f"max {steps_d.max()}, {steady}/{B} steady, same end states {base['diffrax']['same_end_states']:.2f}"
        )
    if "euler_scan" in baselines:
        for cand in EULER_DTS:
            cap = int(np.ceil(T / cand))
            if cap > 200_000:
                break
            steps_e = euler_steps_to(net, _first(x0, n), cand, cap, ref_end, floor)
            if steps_e is not None:
                dt = cand
                break
        if dt is None:
            base["euler_scan"] = {"note": f"no step in {EULER_DTS} reached error {floor:.2g}"}
        else:
            _, secs = euler_scan(net, x0, dt, steps_e)
            base["euler_scan"] = {"dt": dt, "steps": steps_e, "wall_seconds": secs, "ratio": secs / wall}
            log(f"  euler_scan dt {dt}, {steps_e} steps: {secs:.3g} s ({secs / wall:.3g}x hopdyn)")
    if "euler_scan" in baselines:
        base["euler_scan_trajectory"] = _euler_at_trajectory_accuracy(net, x0, n, T, kw, wall, floor, log)
    one = {k: v[0] for k, v in x0.items()}
    if "python_loop" in baselines and dt is not None and all(float(nn.tau) > 0 for nn in net.neurons.values()):
        steps_p = steps_e
        m = min(steps_p, 2000)
        secs = python_loop(net, one, dt, m) * steps_p / m * B
        base["python_loop"] = {
            "dt": dt,
            "wall_seconds": secs,
            "ratio": secs / wall,
            "extrapolated": m < steps_p or B > 1,
        }
        log(
            f"  python_loop: {secs:.3g} s ({secs / wall:.3g}x){' (extrapolated)' if base['python_loop']['extrapolated'] else ''}"
        )
    if "solve_ivp" in baselines:
        try:
            from scipy.integrate import solve_ivp
        except ImportError:
            base["solve_ivp"] = {"note": "scipy not installed"}
        else:
            rhs, jac, pack, _ = _flat_field(net, x0)
            y0 = pack(one)
            rhs(0.0, y0)  # compile the field
            method = "LSODA" if stiff else "RK45"
            extra = {"jac": jac} if stiff else {}
            if stiff:
                jac(0.0, y0)
            k = min(slow_members, B)
            deadline = [0.0]

            def timed(t, y):
                if time.perf_counter() > deadline[0]:
                    raise TimeoutError
                return rhs(t, y)

            t = time.perf_counter()
            capped = False
            nfev = []
            for i in range(k):
                deadline[0] = time.perf_counter() + budget
                try:
                    sol = solve_ivp(
                        timed,
                        (0.0, T),
                        pack({a: v[i] for a, v in x0.items()}),
                        method=method,
                        rtol=rtol,
                        atol=atol,
                        **extra,
                    )
                    nfev.append(int(sol.nfev))
                except TimeoutError:
                    capped = True
            per = (time.perf_counter() - t) / k
            base["solve_ivp"] = {
                "method": method + (" (exact Jacobian from JAX)" if stiff else ""),
                "seconds_per_trajectory": per,
                "wall_seconds": per * B,
                "ratio": per * B / wall,
                "ratio_per_trajectory": per / (wall / B),
                "extrapolated": k < B,
                "lower_bound": capped,
                # where the ratio comes from: evaluations per trajectory, and
                # seconds per evaluation (one state) against hopdyn's per member
                "evals_per_trajectory": float(np.mean(nfev)) if nfev else None,
                "seconds_per_eval": per / np.mean(nfev) if nfev else None,
            }
            hop_evals = out["hopdyn"].get("vector_field_evals_max")
            if nfev and hop_evals:
                base["solve_ivp"]["per_eval_cost_ratio"] = base["solve_ivp"]["seconds_per_eval"] / (
                    wall / B / hop_evals
                )
            more = f" (stopped at the {budget:g} s budget: a lower bound)" if capped else ""
            log(f"  solve_ivp: {per:.3g} s per trajectory ({per / (wall / B):.3g}x hopdyn per trajectory){more}")
    if "torchdiffeq" in baselines:
        try:
            import torch  # noqa: F401
            import torchdiffeq  # noqa: F401
        except ImportError:
            base["torchdiffeq"] = {"note": "not installed"}
    out["baselines"] = base
    return out


def _euler_at_trajectory_accuracy(net, x0, n, T, kw, wall, floor, log) -> dict:
    """Euler tuned to follow the trajectory (rows every 0.5 over ``[0, 8]``) as
    accurately as hopdyn does, timed over hopdyn's horizon ``T``: what a
    hand-written loop costs when the transient matters, not only the end."""
    from ..solvers.simulate import simulate

    ts = np.linspace(0.0, TRAJ_HORIZON, TRAJ_ROWS + 1)
    first = _first(x0, n)
    ref = simulate(
        net.astype("float64"),
        first,
        method="tsit5",
        t1=TRAJ_HORIZON,
        rtol=1e-10,
        atol=1e-12,
        save=ts,
        steady_state=False,
        max_steps=10**6,
        dtype="float64",
    )
    ref_rows = np.asarray(ref.x["v"])[:, : len(ts)].transpose(1, 0, 2)  # [row, member, unit]
    hop = simulate(net, first, **{**kw, "t1": TRAJ_HORIZON, "save": ts, "steady_state": False})
    hop_err = float(np.max(np.abs(np.asarray(hop.x["v"], np.float64)[:, : len(ts)].transpose(1, 0, 2) - ref_rows)))
    target = max(hop_err, floor)
    dt = next((c for c in EULER_TRAJ_DTS if euler_trajectory_error(net, first, c, ref_rows) <= target), None)
    short = dt is None  # even the smallest step is less accurate: its time is a lower bound
    dt = EULER_TRAJ_DTS[-1] if short else dt
    steps = int(np.ceil(T / dt))
    m = min(steps, 400)
    _, secs = euler_scan(net, x0, dt, m)
    secs *= steps / m
    log(
        f"  euler_scan at hopdyn's trajectory error {hop_err:.2g}: dt {dt:g}, {steps} steps, {secs:.3g} s "
        f"({secs / wall:.3g}x hopdyn){' (extrapolated)' if m < steps else ''}"
        + (" - a lower bound: even this step is less accurate" if short else "")
    )
    return {
        "hopdyn_trajectory_error": hop_err,
        "dt": dt,
        "steps": steps,
        "wall_seconds": secs,
        "ratio": secs / wall,
        "extrapolated": m < steps,
        "lower_bound": short,
    }


def scaling(dtype: str, sizes: dict, log=print) -> dict:
    """Solve seconds per step of the non-stiff dense memory as batch, K and D
    grow (each from a base point), and the fitted exponents."""
    from ..solvers.simulate import simulate

    res = {}
    base = sizes["base"]
    for axis, values in sizes["series"].items():
        pts = []
        for v in values:
            K, D, B = (
                (v if axis == "K" else base[0]),
                (v if axis == "D" else base[1]),
                (v if axis == "batch" else base[2]),
            )
            net, x0, _ = dense_memory(K, D, B, 1.0, 10.0, dtype)
            kw = dict(method="tsit5", t1=50.0, rtol=1e-5, atol=1e-6, save=2)
            simulate(net, x0, **kw)
            best = np.inf
            for _ in range(3):
                tr = simulate(net, x0, **kw)
                best = min(best, tr.solve_seconds / int(np.max(np.asarray(tr.n_steps))))
            pts.append(best)
        slope = float(np.polyfit(np.log(values), np.log(pts), 1)[0])
        res[axis] = {"values": list(values), "seconds_per_step": pts, "exponent": slope}
        log(
            f"  scaling in {axis}: exponent {slope:.2f} ({', '.join(f'{v}: {p:.3g}' for v, p in zip(values, pts))} s/step)"
        )
    return res


SIZES = {
    "full": {
        "K": 1000,
        "D": 1024,
        "B": 1024,
        "scaling": {
            "base": (500, 512, 128),
            "series": {"batch": (32, 64, 128, 256), "K": (250, 500, 1000, 2000), "D": (256, 512, 1024, 2048)},
        },
    },
    "quick": {
        "K": 250,
        "D": 256,
        "B": 32,
        "scaling": {
            "base": (125, 128, 16),
            "series": {"batch": (8, 16, 32), "K": (125, 250, 500), "D": (128, 256, 512)},
        },
    },
}


def bench(quick: bool = False, cases: tuple | None = None, dtype: str = "float32", log=print) -> dict:
    """The benchmark suite; returns what ``bench.json`` holds."""
    size = SIZES["quick" if quick else "full"]
    K, D, B = size["K"], size["D"], int(os.environ.get("HOPDYN_BENCH_BATCH", size["B"]))  # the GPU script sets it
    report = {"machine": machine(), "dtype": dtype, "mode": "quick" if quick else "full"}
    peak = matmul_peak(dtype, 1024 if quick else 2048)
    report["matmul_peak_gflops"] = peak
    log(
        f"machine: {report['machine']['processor']}, {report['machine']['cpu_count']} cores, {jax.default_backend()}; "
        f"matmul peak {peak:.3g} GFLOP/s ({dtype})"
    )
    all_cases = {
        "seed-dam": lambda: (seed_dam(dtype)[:2], dict(t1=100.0, rtol=1e-6, atol=1e-8, stiff=False)),
        "dense": lambda: (
            dense_memory(K, D, B, 1.0, 10.0, dtype)[:2],
            dict(t1=200.0, rtol=1e-5, atol=1e-6, stiff=False),
        ),
        "dense-stiff": lambda: (
            dense_memory(K, D, B, 0.05, 50.0, dtype)[:2],
            dict(t1=200.0, rtol=1e-5, atol=1e-6, stiff=True),
        ),
        "dense-stiff-tau0": lambda: (
            dense_memory(K, D, B, 0.0, 50.0, dtype)[:2],
            dict(t1=200.0, rtol=1e-5, atol=1e-6, stiff=True),
        ),
    }
    report["cases"] = []
    chosen = [name for name in all_cases if not cases or name in cases]
    with bar("bench: cases", len(chosen)) as counter:
        for name in chosen:
            (net, x0), opts = all_cases[name]()
            fpe = field_flops(net, x0)  # what one evaluation computes, as XLA counts it
            log(
                f"{name}: K = {net.neurons['m'].size}, D = {net.neurons['v'].size}, batch {next(iter(x0.values())).shape[0]}"
            )
            # the bound: this case's own products (batch x D against K patterns), in its dtype
            shape = (next(iter(x0.values())).shape[0], net.neurons["v"].size, net.neurons["m"].size)
            sample = lambda shape=shape: product_rate(*shape, dtype, reps=2)  # noqa: E731
            case = run_case(name, net, x0, flops_per_eval=fpe, peak=sample, log=log, **opts)
            case["hopdyn"]["peak_product"] = list(shape)
            report["cases"].append(case)
            counter.advance()
    stiff = {c["name"]: c for c in report["cases"]}
    if "dense-stiff" in stiff:
        # Tsit5 with Diffrax's default integral controller on the stiff case
        net, x0, _ = dense_memory(K, D, B, 0.05, 50.0, dtype)
        from ..solvers.simulate import simulate

        kw = dict(method="tsit5", t1=200.0, rtol=1e-5, atol=1e-6, save=2, max_steps=20_000)
        simulate(net, _first(x0, 1), **kw)
        tr = simulate(net, x0, **kw)
        ref_wall = tr.solve_seconds
        report["stiff_default_controller"] = {
            "wall_seconds": ref_wall,
            "steps_max": int(np.max(np.asarray(tr.n_steps))),
            "statuses": sorted({str(v) for v in np.atleast_1d(tr.status_name)}),
            "speedup_of_auto": ref_wall / stiff["dense-stiff"]["hopdyn"]["wall_seconds"],
        }
        if "dense-stiff-tau0" in stiff:
            report["stiff_default_controller"]["speedup_of_tau0"] = (
                ref_wall / stiff["dense-stiff-tau0"]["hopdyn"]["wall_seconds"]
            )
        log(
            f"dense-stiff with Tsit5 and the integral controller: {ref_wall:.3g} s, steps max "
            f"{report['stiff_default_controller']['steps_max']}, statuses {report['stiff_default_controller']['statuses']}"
        )
    if not cases or "scaling" in cases:
        log("scaling (non-stiff dense memory, seconds per step):")
        report["scaling"] = scaling(dtype, size["scaling"], log)
    return report
