"""The report of one run — what ``hopdyn run`` writes to ``result.json`` and
the checks whose failure is its exit 1 — beside ``studies.verify_scenario``,
which does the same for ``hopdyn verify``.  The command line prints these
reports and maps their checks to exit codes; it decides nothing itself."""

from __future__ import annotations


def run_report(built, traj, members) -> dict:
    """What ``hopdyn run`` reports of one solve (``result.json``): the worst
    status, steps, energies and their terms, the Lyapunov verdict, the solver
    and ``auto``'s choice, a failure's member and time, the readout, and
    ``checks`` — each a verdict whose failure is the run's exit 1.

    **Arguments:**

    - ``built``: the built scenario
    - ``traj``: its ``Trajectory``; ``members``: one truncated trajectory per member
    """
    import numpy as np

    from ..analysis import verify as _verify
    from ..solvers.registry import get_method
    from ..solvers.trajectory import STATUSES, worst_status

    sc = built.scenario
    status = np.atleast_1d(np.asarray(traj.status))
    worst = worst_status(status)  # steady_state < horizon < cycle < max_steps < failed
    t_final = np.atleast_1d(np.asarray(traj.t_final, np.float64))
    evals = np.atleast_1d(np.asarray(traj.vf_evals))
    first = lambda a: float(a[0]) if len(a) else float("nan")  # a member that failed at t0 has no valid row
    last = lambda a: float(a[-1]) if len(a) else float("nan")
    E0 = np.array([first(m.energy) for m in members])
    E1 = np.array([last(m.energy) for m in members])
    order = list(built.network.names) + [f"synapse:{i}" for i in range(len(built.network.synapses))]
    terms_final = {k: float(np.mean([last(m.energy_terms[k]) for m in members])) for k in order}
    lyap_cfg = sc.checks.lyapunov
    tol = lyap_cfg.tolerance if not isinstance(lyap_cfg, bool) else 1e-6
    lyap = _verify.energy_descent(members, tol)
    result = {
        "scenario": sc.name,
        "status": STATUSES[worst],
        "t_final": float(t_final.max()),
        "steps": {
            "accepted": int(np.max(np.asarray(traj.n_accepted))),
            "rejected": int(np.max(np.asarray(traj.n_rejected))),
            "vector_field_evals": int(evals.max()) if evals.min() >= 0 else None,
        },
        "wall_seconds": {"compile": traj.compile_seconds, "solve": traj.solve_seconds},
        "energy": {"initial": float(E0.mean()), "final": float(E1.mean()), "terms_final": terms_final},
        "lyapunov": lyap,
        "solver": {"method": traj.method, "dtype": sc.dtype, "rtol": sc.solver.rtol, "atol": sc.solver.atol},
    }
    if traj.solver_choice is not None:
        result["solver"]["auto"] = traj.solver_choice
    if worst == STATUSES.index("failed"):
        bad = int(np.argmax(status == worst))
        result["failure"] = {"member": bad, "t": float(t_final[bad])}
        if not len(members[bad].ts):
            result["failure"]["t"] = built.settings.t0
            result["failure"]["note"] = "the state or its energy is not finite at t0: nothing was integrated"
    checks = {"solved": bool(worst != STATUSES.index("failed"))}
    if get_method(traj.method).continuous:  # a step limit left the question unanswered (exit 1)
        checks["within_max_steps"] = bool(not np.any(status == STATUSES.index("max_steps")))
    if lyap_cfg is not False and get_method(traj.method).descent_guaranteed:  # sync may cycle: reported, not required
        checks["lyapunov"] = lyap["ok"]
    if sc.checks.converged:
        checks["converged"] = bool(np.all(status == STATUSES.index("steady_state")))
    if sc.outputs.readout is not None:
        r = sc.outputs.readout
        finals = np.asarray(traj.final_xhat[r.layer]).reshape(len(members), -1)
        ro = _verify.readout(finals, built.patterns[r.patterns], built.expect)
        result["readout"] = {"layer": r.layer, "patterns": r.patterns, **ro}
        rc = sc.checks.readout
        if rc is not None:
            ok = True
            if rc.min_accuracy is not None:
                ok &= ro.get("accuracy", 0.0) >= rc.min_accuracy
            if rc.max_error is not None:
                ok &= ro["max_pixel_error"] <= rc.max_error
            checks["readout"] = bool(ok)
    if built.batch is not None:
        result["batch"] = {
            "size": built.batch,
            "note": "energy.initial/final and terms_final are means over the batch; status is the worst member's",
            "members": [
                {"status": STATUSES[int(s)], "t_final": float(t), "energy_initial": float(a), "energy_final": float(b)}
                for s, t, a, b in zip(status, t_final, E0, E1)
            ],
        }
    result["checks"] = checks
    return result


def compared_layer(built) -> tuple[str, str | None, object]:
    """(layer, pattern name, patterns) a comparison of two methods looks at:
    the stored patterns' layer, or the outputs' layer with no patterns."""
    from .studies import stored_patterns

    target = stored_patterns(built)
    sc = built.scenario
    return target if target is not None else (sc.outputs.layer or next(iter(sc.neurons)), None, None)


def compare_run(built, traj, members) -> tuple[dict, list]:
    """The scenario's starts solved with ``outputs.compare`` too: the summary
    ``result.json`` keeps (status, time, energy; with stored patterns, each
    member's nearest pattern under both methods) and the other run's members."""
    import numpy as np

    from ..analysis import verify as _verify
    from ..core.progress import phase
    from ..solvers.simulate import simulate
    from ..solvers.trajectory import STATUSES, worst_status

    sc = built.scenario
    method = sc.outputs.compare
    with phase(f"comparing with {method}"):
        other = simulate(built.network, built.x0, built.with_method(method))
    omembers = other.members()
    layer, pname, pats = compared_layer(built)
    summary = {
        "method": method,
        "status": STATUSES[worst_status(other.status)],
        "t_final": float(np.max(np.asarray(other.t_final))),
        "energy_final": float(np.mean([float(m.energy[-1]) for m in omembers])),
    }
    if pats is not None:
        near = lambda ms: [_verify.nearest_pattern(np.sign(np.asarray(m.xhat[layer][-1])), pats) for m in ms]  # noqa: E731
        a, b = near(members), near(omembers)
        summary["nearest"] = {"layer": layer, "patterns": pname, traj.method: a, method: b}
        summary["same_end_pattern"] = [
            x["pattern"] == y["pattern"] and x["negated"] == y["negated"] for x, y in zip(a, b)
        ]
    return summary, omembers
