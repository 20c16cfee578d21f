"""Checks of a solved trajectory: energy descent (the Lyapunov property) and
retrieval readouts against stored patterns."""

from __future__ import annotations

import functools

import numpy as np

from ..solvers.registry import get_method
from ..solvers.trajectory import STATUSES, Trajectory


def in_float64(fn):
    """Run ``fn`` with JAX's 64-bit mode on, so that its float64 refinements are
    float64 even in a session that left x64 off (JAX would otherwise truncate
    them to float32, warning, and float64 tolerances would fail correct
    float32 networks)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import jax

        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapped


def energy_descent(members: list[Trajectory], tolerance: float = 1e-6) -> dict:
    """The Lyapunov check over the valid rows of each member.

    - ``max_dEdt``: the largest exact ``dE/dt`` (the chain rule through the
      energy along the vector field, ``Network.observables``) at a saved time.
      It may not exceed ``tolerance`` plus its rounding, ``16 eps`` times the sum of the magnitudes of its
      terms (``Network.dEdt_scale``): in float32 a network with 500 saturated
      high-gain units moving fast cannot resolve ``dE/dt`` below ~1e-4.
    - ``max_rise``: the largest increase between consecutive saved energies; no
      increase may exceed ``tolerance`` plus the rounding of the two energies,
      ``16 eps`` times the sum of the magnitudes of the terms each is summed
      from (``rise_tolerance`` at the rise of ``max_rise``): a total of 212
      made of terms of 10^4 is uncertain by ~eps 10^4, not eps 212.
    ``max_dEdt_rounding`` is the rounding allowance at the row of ``max_dEdt``;
    ``where`` the member, time and ``dE/dt`` of the row closest to (or furthest
    past) its allowance, and ``rounding_allowance`` the allowance there.

    **Arguments:**

    - ``members``: unbatched trajectories cut to their valid rows (``Trajectory.members()``)
    - ``tolerance``: the ``dE/dt`` allowed beyond rounding
    """
    worst, where, allow_there, excess, worst_allow = -np.inf, None, 0.0, -np.inf, 0.0
    rise, rise_tol, rise_excess = -np.inf, tolerance, -np.inf
    for i, m in enumerate(members):
        d = np.asarray(m.dEdt, np.float64)
        E = np.asarray(m.energy, np.float64)
        ts = np.asarray(m.ts, np.float64)
        eps = float(np.finfo(np.asarray(m.energy).dtype).eps)
        allow = 16 * eps * np.asarray(m.dEdt_scale, np.float64)
        if d.size:
            over = d - (tolerance + allow)
            j = int(np.argmax(over))
            k = int(np.argmax(d))
            if d[k] > worst:
                worst, worst_allow = float(d[k]), float(allow[k])
            if over[j] > excess:
                excess, where, allow_there = (
                    float(over[j]),
                    {"member": i, "t": float(ts[j]), "dEdt": float(d[j])},
                    float(allow[j]),
                )
        if E.size > 1:
            mag = sum(np.abs(np.asarray(v, np.float64)) for v in m.energy_terms.values())
            allow_rise = tolerance + 16 * eps * (mag[:-1] + mag[1:])
            dE = np.diff(E)
            k = int(np.argmax(dE))
            if dE[k] > rise:
                rise, rise_tol = float(dE[k]), float(allow_rise[k])
            rise_excess = max(rise_excess, float(np.max(dE - allow_rise)))
    ok = bool(excess <= 0 and rise_excess <= 0)
    return {
        "ok": ok,
        "max_dEdt": worst if np.isfinite(worst) else None,
        "max_dEdt_rounding": worst_allow,
        "tolerance": tolerance,
        "where": where,
        "rounding_allowance": allow_there,
        "max_rise": rise if np.isfinite(rise) else None,
        "rise_tolerance": rise_tol,
        "rise_excess": rise_excess if np.isfinite(rise_excess) else None,
    }


def readout(finals: np.ndarray, patterns: np.ndarray, expect: list[int] | None = None) -> dict:
    """Compare final activations (``(B, n)``) with stored patterns (``(K, n)``):
    the nearest pattern of each member (largest cosine similarity), and the
    mean absolute error to the expected (or nearest) pattern as a fraction of
    the patterns' value range ("pixel error").

    **Arguments:**

    - ``finals``: ``(B, n)`` final activations
    - ``patterns``: ``(K, n)`` stored patterns
    - ``expect``: the expected pattern of each member (accuracy)
    """
    from ..core.patterns import cosine_similarity

    p = patterns.reshape(len(patterns), -1).astype(np.float64)
    x = finals.reshape(len(finals), -1).astype(np.float64)
    sim = cosine_similarity(x, p)
    nearest = np.argmax(sim, axis=1)
    target = np.asarray(expect) if expect is not None else nearest
    span = float(p.max() - p.min()) or 1.0
    err = np.mean(np.abs(x - p[target]), axis=1) / span
    out = {
        "nearest": nearest.tolist(),
        "similarity": sim[np.arange(len(x)), nearest].tolist(),
        "pixel_error": err.tolist(),
        "max_pixel_error": float(err.max()),
    }
    if expect is not None:
        out["expected"] = list(map(int, expect))
        out["correct"] = int(np.sum(nearest == target))
        out["accuracy"] = float(np.mean(nearest == target))
    return out


# ====================================================================== premises
def gradient_structure(network) -> dict:
    """Whether every coupling derives from the energy.  ``directed`` couplings
    add forces with no energy: the Lyapunov guarantee then does not apply."""
    bad = [
        f"synapses[{i}] ({s.kind} {s.connects[0]} -> {s.connects[1]})"
        for i, s in enumerate(network.synapses)
        if not s.gradient
    ]
    return {"ok": not bad, "non_gradient": bad}


def _rows(member, k: int) -> list[int]:
    """``k`` rows spread along the trajectory, and the row where the energy rises
    fastest (where a non-convex Lagrangian would show)."""
    n = len(np.asarray(member.ts))
    rows = set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist())
    rate = np.where(np.asarray(member.valid), np.asarray(member.dEdt, np.float64), -np.inf)
    if np.any(np.isfinite(rate)):
        rows.add(int(np.argmax(rate)))
    return sorted(rows)


@in_float64
def convexity(
    network,
    members,
    rows_per_member: int = 8,
    max_members: int = 8,
    dense_limit: int = 512,
    n_directions: int = 16,
    seed: int = 0,
) -> dict:
    """Each layer's Lagrangian must be convex at the visited states: the smallest
    eigenvalue of its Hessian (layers of up to ``dense_limit`` units), or the
    smallest curvature along random directions and the direction of motion
    (larger layers), must not be negative beyond rounding.  Evaluated in
    float64 at rows spread along each trajectory and where its energy rises
    fastest."""
    import jax.numpy as jnp

    net = network.astype(jnp.float64)
    gen = np.random.default_rng(seed)
    worst = {"ok": True, "min_curvature": None, "layer": None, "where": None, "layers": {}}
    for name, neuron in net.neurons.items():
        lag = neuron.lagrangian
        size = neuron.size
        hess = lambda x: _lagrangian_hessian(lag, x, neuron.shape)  # noqa: E731
        hvp = lambda x, v: _lagrangian_hvp(lag, x, v, neuron.shape)  # noqa: E731
        lo, where, scale = np.inf, None, 0.0
        for i, m in enumerate(members[:max_members]):
            if not len(m.ts):
                continue  # not finite at t0: no state was visited
            xs = np.asarray(m.x[name], np.float64).reshape(len(np.asarray(m.ts)), -1)
            ts = np.asarray(m.ts)
            for r in _rows(m, rows_per_member):
                x = jnp.asarray(xs[r])
                if size <= dense_limit:
                    ev = np.linalg.eigvalsh(np.asarray(hess(x)))
                    cur, top = float(ev.min()), float(np.abs(ev).max())
                else:
                    dirs = gen.normal(size=(n_directions, size))
                    if r + 1 < len(xs):
                        dirs = np.vstack([dirs, xs[r + 1] - xs[r]])
                    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True) + 1e-300
                    q = np.array([float(jnp.vdot(d, hvp(x, jnp.asarray(d)))) for d in dirs])
                    cur, top = float(q.min()), float(np.abs(q).max())
                scale = max(scale, top)
                if cur < lo:
                    lo, where = cur, {"member": i, "t": float(ts[r])}
        tol = 1e-9 * max(1.0, scale)
        ok = bool(lo >= -tol)
        worst["layers"][name] = {
            "ok": ok,
            "min_curvature": lo,
            "tolerance": tol,
            "where": where,
            "method": "eigenvalues" if size <= dense_limit else f"{n_directions} random directions + flow",
        }
        if worst["min_curvature"] is None or lo < worst["min_curvature"]:
            worst.update(min_curvature=lo, layer=name, where=where)
        worst["ok"] &= ok
    return worst


def bounded_below(members, statuses) -> dict:
    """Energy bounded below on the visited region: finite wherever visited, and no
    trajectory that ended by running away (status ``failed``) with its energy
    falling to its lowest value (a numerical blow-up drives the energy up, which
    is the integrator's fault, not the energy's)."""
    visited = [np.asarray(m.energy, np.float64) for m in members if len(m.energy)]
    Emin = min((float(np.min(E)) for E in visited), default=float("nan"))
    finite = len(visited) == len(members) and all(np.all(np.isfinite(E)) for E in visited)
    downhill = []
    for i, (m, s) in enumerate(zip(members, statuses)):
        E = np.asarray(m.energy, np.float64)
        if s == "failed" and E.size > 1 and E[-1] <= E.min() and E[-1] < E[0]:
            downhill.append(i)
    return {"ok": bool(finite and not downhill), "min_energy": Emin, "runaway_members": downhill}


# ====================================================================== fixed points
class _Free:
    """The free (unclamped) entries of a state as one flat vector.  ``args`` holds
    everything as arrays (network, indices, clamped base values), so the jitted
    functions below compile once per network structure, not once per state."""

    def __init__(self, network, base: dict):
        import jax.numpy as jnp

        self.names = list(network.neurons)
        # quasi-static layers are functions of the others: not free variables
        index = {
            n: np.zeros(0, int)
            if network.neurons[n].quasi_static
            else np.flatnonzero(~np.asarray(network.clamps[n]).ravel())
            if n in network.clamps
            else np.arange(network.neurons[n].size)
            for n in self.names
        }
        self.size = sum(len(i) for i in index.values())
        self.args = (
            network,
            {n: jnp.asarray(index[n]) for n in self.names},
            {n: jnp.asarray(np.asarray(base[n], np.float64)) for n in self.names},
        )

    def flat(self, state) -> np.ndarray:
        _, index, _ = self.args
        return np.concatenate([np.asarray(state[n], np.float64).ravel()[np.asarray(index[n])] for n in self.names])


def _to_state(v, args):
    net, index, base = args
    out, k = {}, 0
    for n in net.neurons:
        m = index[n].shape[0]
        out[n] = base[n].ravel().at[index[n]].set(v[k : k + m]).reshape(net.neurons[n].shape)
        k += m
    return out


def _free_field(v, args):
    import jax.numpy as jnp

    net, index, _ = args
    f = net.vector_field(_to_state(v, args))
    return jnp.concatenate([jnp.ravel(f[n])[index[n]] for n in net.neurons])


@functools.cache
def _lagrangian_jits():
    """A Lagrangian's Hessian and Hessian-vector product, compiled once per
    Lagrangian structure and shape (not once per call)."""
    import equinox as eqx
    import jax

    hess = eqx.filter_jit(lambda lag, x, shape: jax.hessian(lambda y: lag(y.reshape(shape)))(x))
    hvp = eqx.filter_jit(lambda lag, x, v, shape: jax.jvp(jax.grad(lambda y: lag(y.reshape(shape))), (x,), (v,))[1])
    return hess, hvp


def _lagrangian_hessian(lag, x, shape):
    return _lagrangian_jits()[0](lag, x, tuple(shape))


def _lagrangian_hvp(lag, x, v, shape):
    return _lagrangian_jits()[1](lag, x, v, tuple(shape))


def _refine(v0, args, rtol: float, atol: float, max_steps: int, with_hessian: bool) -> dict:
    """Newton from ``v0`` (quadratic convergence near a root); if it does not
    converge, a trust-region least-squares solve (Levenberg-Marquardt) of
    ``|f|^2``, globally convergent to a stationary point of ``|f|^2``.  Then, at
    the point taken, the field's Jacobian, the energy's Hessian (when asked) and
    the equilibrated state.  One program (kept like the solves)."""
    import jax
    import jax.numpy as jnp
    import optimistix as optx

    residual = lambda v: jnp.max(jnp.abs(_free_field(v, args)))  # noqa: E731
    r0 = residual(v0)
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(v0)))

    def attempt(solver):
        sol = optx.root_find(_free_field, solver, v0, args, max_steps=max_steps, throw=False)
        rc = jnp.where(jnp.all(jnp.isfinite(sol.value)), residual(sol.value), jnp.inf)
        return sol.value, rc, jnp.asarray(sol.stats["num_steps"], jnp.int32), sol.result == optx.RESULTS.successful

    vn, rn, sn, converged = attempt(optx.Newton(rtol=rtol, atol=atol))

    def newton(_):
        return vn, rn, sn, jnp.int32(1)

    def levenberg_marquardt(_):
        vl, rl, sl, _ = attempt(optx.LevenbergMarquardt(rtol=rtol, atol=atol))
        ok = rl <= 1e-8 * scale
        return jnp.where(ok, vl, v0), jnp.where(ok, rl, r0), sn + sl, jnp.where(ok, 2, 0).astype(jnp.int32)

    took_newton = (rn <= 1e-8 * scale) | ((rn <= r0) & converged)
    v, r, steps, method = jax.lax.cond(took_newton, newton, levenberg_marquardt, None)
    energy = lambda v: args[0].energy(args[0].equilibrate(_to_state(v, args)))  # noqa: E731
    return {
        "v": v,
        "residual": r,
        "residual_before": r0,
        "scale": scale,
        "steps": steps,
        "method": method,
        "jacobian": jax.jacfwd(_free_field)(v, args),
        "energy_hessian": jax.hessian(energy)(v) if with_hessian else None,
        "state": args[0].equilibrate(_to_state(v, args)),
    }


@functools.cache
def _refine_jit():
    import equinox as eqx

    return eqx.filter_jit(_refine)


@in_float64
def fixed_point(
    network,
    x_end: dict,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 100,
    zero_tol: float = 1e-7,
    energy_hessian_limit: int = 2000,
) -> dict:
    """Refine ``x_end`` to a fixed point of the free variables with Newton's
    method (optimistix, float64), then classify it from the eigenvalues of the
    vector field's Jacobian there:

    - ``stable``: every eigenvalue has negative real part;
    - ``saddle``: some positive (``unstable_directions`` of them), some negative;
    - ``unstable``: all positive;
    - ``degenerate``: none positive but some zero (``|Re| <= zero_tol * max|eig|``):
      linear stability cannot decide; ``manifold_dimension`` zero modes.

    ``flat_directions`` counts the zero eigenvalues of the energy's Hessian in
    ``x`` (directions along which the activations do not change: the shift of
    a softmax layer, dead ReLU units...).  The dynamics still relax along them
    (through the leak ``-x``), so they do not make the verdict.

    **Arguments:**

    - ``network``: the ``Network``
    - ``x``: one end state ``{layer: array}``
    - other arguments: as the signature says (refinement steps and tolerances)
    """
    import jax.numpy as jnp

    from ..solvers.compile import compiled

    net = network.astype(jnp.float64)
    free = _Free(net, x_end)
    if free.size == 0:
        return {"kind": "clamped", "residual": 0.0, "refined": True}
    args = free.args
    v0 = jnp.asarray(free.flat(x_end))
    call = (v0, args, float(rtol), float(atol), int(max_steps), free.size <= energy_hessian_limit)
    run, _ = compiled(_refine_jit(), *call, what="the fixed-point refinement")
    out = run(*call)
    r0, r, scale = float(out["residual_before"]), float(out["residual"]), float(out["scale"])
    steps, method = int(out["steps"]), ("none", "newton", "levenberg-marquardt")[int(out["method"])]
    v = out["v"]
    found = r <= 1e-6 * scale
    if not found:
        return {
            "kind": "none",
            "residual": r0,
            "residual_before": r0,
            "refined": False,
            "root_finder_steps": steps,
            "note": "no fixed point found near the end state (Newton and Levenberg-Marquardt did not converge)",
        }
    J, H = np.asarray(out["jacobian"]), out["energy_hessian"]
    ev = np.linalg.eigvals(J)
    re = ev.real
    tol = zero_tol * max(1.0, float(np.abs(ev).max()))
    n_pos, n_zero = int(np.sum(re > tol)), int(np.sum(np.abs(re) <= tol))
    n_neg = len(re) - n_pos - n_zero
    if n_pos == 0 and n_zero == 0:
        kind = "stable"
    elif n_pos > 0 and n_neg == 0 and n_zero == 0:
        kind = "unstable"
    elif n_pos > 0:
        kind = "saddle"
    else:
        kind = "degenerate"
    out = {
        "kind": kind,
        "unstable_directions": n_pos,
        "zero_modes": n_zero,
        "stable_directions": n_neg,
        "residual": r,
        "residual_before": r0,
        "refined": True,
        "root_finder": method,
        "root_finder_steps": steps,
        "max_real_eigenvalue": float(re.max()),
        "eigenvalue_tolerance": tol,
        "distance_moved": float(np.max(np.abs(np.asarray(v) - np.asarray(v0)))),
        "state": out["state"],
    }
    if kind == "degenerate":
        out["manifold_dimension"] = n_zero
    if H is not None:
        H = np.asarray(H)
        mu = np.linalg.eigvalsh((H + H.T) / 2)
        out["flat_directions"] = int(np.sum(np.abs(mu) <= zero_tol * max(1.0, float(np.abs(mu).max()))))
    return out


# ====================================================================== certificates
def nearest_pattern(xhat: np.ndarray, patterns: np.ndarray) -> dict:
    """The stored pattern with the largest |overlap| (cosine similarity) with
    ``xhat``; ``negated`` when the overlap is negative (a mirror image).

    **Arguments:**

    - ``xhat``: ``(B, n)`` activations
    - ``patterns``: ``(K, n)`` stored patterns
    """
    from ..core.patterns import cosine_similarity

    cos = cosine_similarity(np.asarray(xhat, np.float64).ravel(), patterns)
    k = int(np.argmax(np.abs(cos)))
    return {"pattern": k, "overlap": float(cos[k]), "negated": bool(cos[k] < 0)}


def described(xhat: np.ndarray, patterns: np.ndarray, name: str | None = None) -> dict:
    """The description of the stored patterns that explains ``xhat`` best
    (``naming.describe``: a pattern, its negation, a sign mixture or the
    average of the most similar patterns): its ``kind``, fields, text ``name``
    and ``cosine``.

    **Arguments:**

    - ``xhat``: activations of one state
    - ``patterns``: ``(K, n)`` stored patterns
    - ``name``: what the patterns are called (``X`` gives ``avg of X[0..3]``)
    """
    from .naming import attractor_name, describe, entry_fields

    key, cos = describe(np.asarray(xhat, np.float64).ravel(), np.asarray(patterns, np.float64))
    entry = {"kind": key[0], **entry_fields(key)}
    return {**entry, "name": attractor_name(entry, name), "cosine": cos}


# ====================================================================== the report
def _diagnose(lyap, grad, conv, bounded) -> str | None:
    if lyap["ok"]:
        return None
    if not grad["ok"]:
        return (
            "non-gradient couplings ("
            + ", ".join(grad["non_gradient"])
            + "): the dynamics are not a descent of the energy, so the Lyapunov guarantee does not apply"
        )
    if not conv["ok"]:
        return (
            f"the Lagrangian of layer {conv['layer']!r} is not convex at visited states "
            f"(curvature {conv['min_curvature']:.3g}): dE/dt = -sum tau xdot^T H xdot can be positive"
        )
    if not bounded["ok"]:
        return "the energy is not bounded below on the visited region (a trajectory ran away)"
    return (
        "every premise holds (convex Lagrangians, gradient couplings, energy bounded below): the rise comes "
        "from the numerical integration; use an adaptive method, a smaller fixed step or tighter tolerances"
    )


@in_float64
def verify(
    network,
    trajectory,
    *,
    lyapunov_tolerance: float | None = 1e-6,
    patterns=None,
    convexity_check: bool = True,
    gradient_check: bool = True,
    converged: bool = False,
    fixed_point_residual: float | None = None,
    stable: bool = False,
    max_members: int = 64,
) -> dict:
    """Verify a solved trajectory (batched or not) of ``network``: what
    ``hopdyn verify`` checks.

    **Arguments:**

    - ``network``: the ``Network`` that was solved.
    - ``trajectory``: the ``Trajectory`` ``simulate`` returned.
    - ``lyapunov_tolerance``: the ``dE/dt`` allowed beyond rounding (``None``
      skips energy descent and its premises: convex Lagrangians, gradient
      couplings, energy bounded below).
    - ``patterns``: ``(layer, name, array)``: names the nearest stored pattern.
    - ``convexity_check``, ``gradient_check``: the premises checked.
    - ``converged``, ``fixed_point_residual``, ``stable``: further
      requirements (every member at a steady state; end states within this
      residual of a fixed point; every fixed point stable).
    - ``max_members``: how many members of a batch are refined and classified.

    **Returns:**

    The report: ``report["checks"]`` maps each requested check to whether it
    held, ``report["ok"]`` is their conjunction; energy descent, fixed points
    and their stability, and the nearest patterns in detail."""
    from ..solvers.discrete import flip_stability, free_layers

    members = trajectory.members()
    net64 = network.astype("float64")
    statuses = [STATUSES[int(s)] for s in np.atleast_1d(np.asarray(trajectory.status))]
    method = get_method(trajectory.method)
    binary = method.binary
    lyap = energy_descent(members, lyapunov_tolerance if lyapunov_tolerance is not None else 1e-6)
    grad = gradient_structure(network)
    conv = (
        convexity(network, members)
        if not binary
        else {"ok": True, "min_curvature": None, "layer": None, "note": "binary units: no Lagrangian"}
    )
    bounded = bounded_below(members, statuses)
    if binary:  # the units' +-1 values are the activations
        xhat_of = lambda st, layer: np.asarray(st[layer])  # noqa: E731
    else:
        xhat_of = lambda st, layer: np.asarray(net64.activations(st)[layer])  # noqa: E731
    certs = []
    for i, m in enumerate(members[:max_members]):
        if not len(m.ts):  # not finite at t0: nothing was integrated, nothing to refine
            certs.append(
                {
                    "member": i,
                    "status": statuses[i],
                    "t_final": None,
                    "t_steady": None,
                    "energy_final": None,
                    "fixed_point": {"kind": "none", "note": "the state or its energy is not finite at t0"},
                }
            )
            continue
        end = {k: np.asarray(v[-1]) for k, v in m.x.items()}
        if binary:
            fp = flip_stability(net64, end, free_layers(network)[0])
            state = {k: np.asarray(v, np.float64) for k, v in end.items()}
        else:
            fp = fixed_point(network, end)
            state = fp.pop("state", None)
        cert = {
            "member": i,
            "status": statuses[i],
            "t_final": float(np.asarray(m.ts)[-1]),
            "t_steady": float(np.asarray(m.ts)[-1]) if statuses[i] == "steady_state" else None,
            "energy_final": float(np.asarray(m.energy)[-1]),
            "fixed_point": fp,
        }
        if patterns is not None and state is not None:
            layer, pname, p = patterns
            cert["nearest"] = {"layer": layer, "patterns": pname, **nearest_pattern(xhat_of(state, layer), p)}
            cert["described"] = described(xhat_of(state, layer), p, pname)
        certs.append(cert)
    # Synchronous updates have no per-sweep Lyapunov guarantee (they may cycle):
    # the energy is reported, not required to fall.
    lyapunov_required = lyapunov_tolerance is not None and method.descent_guaranteed
    checks = {"solved": "failed" not in statuses}
    if lyapunov_required:
        checks["lyapunov"] = lyap["ok"]
    if convexity_check and not binary:
        checks["convexity"] = conv["ok"]
    if gradient_check:
        checks["gradient"] = grad["ok"]
    checks["bounded_below"] = bounded["ok"]
    if converged:
        checks["converged"] = all(s == "steady_state" for s in statuses)
    if fixed_point_residual is not None:
        checks["fixed_point"] = all(c["fixed_point"].get("residual", 0.0) <= fixed_point_residual for c in certs)
    if stable:
        checks["stable"] = all(c["fixed_point"]["kind"] in ("stable", "clamped") for c in certs)
    kinds: dict[str, int] = {}
    for c in certs:
        kinds[c["fixed_point"]["kind"]] = kinds.get(c["fixed_point"]["kind"], 0) + 1
    report = {
        "members": len(members),
        "classified_members": len(certs),
        "lyapunov": lyap,
        "premises": {"convex": conv, "gradient": grad, "bounded_below": bounded},
        "diagnosis": _diagnose(lyap, grad, conv, bounded),
        "fixed_points": kinds,
        "certificates": certs,
        "checks": checks,
        "ok": all(checks.values()),
    }
    if not method.descent_guaranteed and lyapunov_tolerance is not None:
        report["note"] = (
            "synchronous updates need not lower the energy every sweep (they can cycle with period 2): "
            f"the Lyapunov check is reported, not required; energy {'fell' if lyap['ok'] else 'rose'}"
        )
    if not grad["ok"]:
        report["note"] = (
            "non-gradient network: the Lyapunov guarantee does not apply; "
            f"energy {'still fell' if lyap['ok'] else 'rose'} along the solved trajectories"
        )
    return report
