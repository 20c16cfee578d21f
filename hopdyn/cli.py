"""The ``hopdyn`` command.

Exit codes: 0 ran and every requested check held; 1 ran but a check failed
(energy rose, no steady state when one was required, a solve failed, a readout
missed); 2 invalid input, reported on one line of stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import NamedTuple


def resolve(name: str) -> str:
    from .scenario.loader import resolve as _resolve

    return _resolve(name)


def shipped_dir():
    from .scenario.loader import shipped_dir as _shipped

    return _shipped()


EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


# ------------------------------------------------------------------ helpers
def _enable_x64():
    import jax

    # Networks are cast to the scenario's dtype explicitly, so enabling x64
    # only makes float64 scenarios possible; float32 ones stay float32.
    jax.config.update("jax_enable_x64", True)
    # verify's and the analyses' own programs multiply at the precision the solves
    # use (JAX's default on NVIDIA GPUs is TF32 for float32; see solvers.compile)
    from .solvers.compile import MATMUL_PRECISION

    jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION)


# ------------------------------------------------------------------ run
def _figures(built, traj, members, out) -> list[str]:
    """Draw the scenario's run figures into the output folder; their file names."""
    from .core.progress import phase

    with phase("loading matplotlib"):
        from .figures.run import run_figures

    sc = built.scenario
    o = sc.outputs
    written = []
    for name, write in run_figures(
        o.plots,
        members,
        built.network.astype(sc.dtype),
        layer=o.layer or next(iter(sc.neurons)),
        patterns=built.patterns.get(o.patterns) if o.patterns else None,
        image_shape=tuple(o.image_shape) if o.image_shape else None,
        space="xhat" if o.show == "activation" else "x",
        title=sc.name,
    ):
        with phase(f"plotting {name}"):
            out.write(name, write)
        written.append(name)
    return written


def _stale(removed: list[str], args) -> None:
    if removed and not args.quiet:
        print(f"hopdyn: removed {', '.join(removed)}: written for another version of the scenario", file=sys.stderr)


def _prepare(args, command: str, extra: list[str] | None = None, worker: bool = False):
    """Everything before the work, in order: load and validate the file, estimate
    the memory the command needs against the budget, check (and lock) the output
    folder — a worker of a distributed run only names it —, then build the
    scenario.  Returns (built, output folder)."""
    from .core.outputs import OutputFolder, WorkerFolder
    from .core.progress import note
    from .scenario import resources
    from .scenario.build import build, scenario_identity
    from .scenario.loader import load

    _enable_x64()
    path = resolve(args.file)
    overrides = list(args.set) + list(extra or [])
    sc, _ = load(path, overrides)  # a bad override is refused here, before anything
    resources.check(sc, os.path.basename(path), os.path.dirname(os.path.abspath(path)), command)
    where = args.out or os.path.join("plots", sc.name)
    out = WorkerFolder(where) if worker else OutputFolder(where, command, scenario_identity(path, overrides))
    try:
        built = build(sc, path)
    except BaseException:
        out.close()
        raise
    note(
        f"loaded {os.path.basename(path)} ({sc.name}): {sum(n.size for n in built.network.neurons.values())} variables"
    )
    return built, out


def _solve(built):
    import numpy as np

    from .core.progress import note
    from .solvers.simulate import simulate
    from .solvers.trajectory import STATUSES, worst_status

    traj = simulate(built.network, built.x0, built.settings)
    note(
        f"solved: {STATUSES[worst_status(traj.status)]} at t = {float(np.max(np.asarray(traj.t_final))):.6g}, "
        f"{int(np.max(np.asarray(traj.n_accepted)))} steps, {traj.solve_seconds:.3g} s"
    )
    return traj, traj.members()


def cmd_run(args) -> int:
    from .core.io import write_json, write_npz
    from .core.progress import phase
    from .scenario.report import run_report
    from .solvers.trajectory import to_arrays

    built, out = _prepare(args, "run")
    with out:
        traj, members = _solve(built)
        sc = built.scenario
        result = run_report(built, traj, members)
        code = EXIT_OK if all(result["checks"].values()) else EXIT_CHECK_FAILED
        result["compilation"] = args.compile_log.summary()
        with phase("writing trajectory.npz"):
            arrays = to_arrays(traj)
            out.write("trajectory.npz", lambda p: write_npz(p, arrays))
        drawable = all(len(m.ts) for m in members)  # a solve that failed at t0 has nothing to draw
        figures = _figures(built, traj, members, out) if drawable and not args.no_plots else []
        if sc.outputs.compare:
            result["compare"], fig = _compare(built, traj, members, args, out if drawable else None)
            figures += [fig] if fig else []
        result["files"] = ["result.json", "trajectory.npz", *figures]
        report = None
        if args.verify:  # the same trajectory, verified: one solve for both
            report = _verify_report(built, traj, out)
            result["files"].append("verify.json")
        out.write("result.json", lambda p: write_json(p, result))
        _stale(out.commit(), args)
    if not args.quiet:
        _print_run(result, out.path)
        if report is not None:
            print()
            print(verify_table(report))
    if report is not None and not report["ok"]:
        return EXIT_CHECK_FAILED
    return code


def _verify_report(built, traj, out, source: str = "solved") -> dict:
    from .core.io import write_json
    from .core.progress import phase
    from .scenario.studies import verify_scenario

    with phase("verifying"):
        report = {**verify_scenario(built, traj), "trajectory": source}
    out.write("verify.json", lambda p: write_json(p, report))
    return report


def _compare(built, traj, members, args, out):
    """``outputs.compare``: the other method's summary, and ``compare.png``."""
    from .core.io import write_figure
    from .figures.run import compare_figures
    from .scenario.report import compare_run, compared_layer

    summary, omembers = compare_run(built, traj, members)
    if args.no_plots or out is None:
        return summary, None
    sc = built.scenario
    layer, _, pats = compared_layer(built)
    drawn = compare_figures([(traj.method, members), (summary["method"], omembers)], layer, pats, sc.name)
    for name, fig in drawn:
        out.write(name, lambda p, fig=fig: write_figure(p, fig))
    return summary, (drawn[0][0] if drawn else None)


def _print_run(r: dict, out: str) -> None:
    e, ly = r["energy"], r["lyapunov"]
    from .solvers.registry import get_method

    discrete = not get_method(r["solver"]["method"]).continuous
    when = f"sweep {r['t_final']:.0f}" if discrete else f"t = {r['t_final']:.6g}"
    if "note" in r.get("failure", {}):
        when = "the start (its state or energy is not finite)"
    steps = "sweeps" if discrete else "steps"
    print(
        f"{r['scenario']}: {r['status']} at {when} "
        f"({r['steps']['accepted']} {steps}, compile {r['wall_seconds']['compile']:.2f} s, solve {r['wall_seconds']['solve']:.3g} s)"
    )
    rate = "largest energy change per sweep" if discrete else "max dE/dt"
    print(
        f"  energy {_fmt(e['initial'], '.6g')} -> {_fmt(e['final'], '.6g')}; {rate} {_fmt(ly['max_dEdt'])} "
        f"(allowed there: {ly['tolerance']:g} + rounding {ly['max_dEdt_rounding']:.2g})"
    )
    if "compare" in r:
        c = r["compare"]
        same = c.get("same_end_pattern")
        agree = f"; same end pattern for {sum(same)}/{len(same)}" if same is not None else ""
        print(f"  {c['method']} from the same starts: {c['status']}, energy {c['energy_final']:.6g}{agree}")
    if "readout" in r:
        ro = r["readout"]
        acc = f"accuracy {ro['accuracy']:.2f}, " if "accuracy" in ro else ""
        print(
            f"  readout of {ro['layer']!r}: {acc}nearest {ro['nearest'][:10]}{'...' if len(ro['nearest']) > 10 else ''}, "
            f"max pixel error {ro['max_pixel_error']:.4f}"
        )
    failed = [k for k, v in r["checks"].items() if not v]
    print(f"  checks: {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}; results in {shown(out)}/")


def _earlier_run(built, out):
    """The trajectory of a finished ``run`` of this very scenario in the output
    folder (same content hash, overrides and hopdyn version, file unchanged), or
    ``None``."""
    from .core.errors import printable
    from .core.progress import note, phase
    from .solvers.trajectory import load_trajectory

    path = out.earlier("trajectory.npz", "run")
    if path is None:
        return None
    try:
        with phase("reading the run's trajectory.npz"):
            traj = load_trajectory(path, built.network)
    except Exception as e:  # noqa: BLE001  unreadable, forged or from an older hopdyn: data, never trusted
        note(f"the run's trajectory.npz cannot be used ({printable(str(e))[:120] or type(e).__name__}): solving again")
        return None
    note(f"verifying the trajectory hopdyn run wrote in {out.path} (no new solve)")
    return traj


def cmd_verify(args) -> int:
    built, out = _prepare(args, "verify")
    with out:
        traj = _earlier_run(built, out)
        reused = traj is not None
        if not reused:
            traj, _ = _solve(built)
        report = _verify_report(built, traj, out, "trajectory.npz of the earlier run" if reused else "solved")
        _stale(out.commit(), args)
    if not args.quiet:
        print(verify_table(report))
        source = "the trajectory of the earlier run" if reused else "a new solve"
        print(f"\nverify.json in {shown(out.path)}/ (from {shown(source)})")
    return EXIT_OK if report["ok"] else EXIT_CHECK_FAILED


def _fmt(v, spec=".3g"):
    return "-" if v is None else format(v, spec)


def verify_table(r: dict) -> str:
    """The verification report as a readable table."""
    ly, pr = r["lyapunov"], r["premises"]
    conv, grad, bnd = pr["convex"], pr["gradient"], pr["bounded_below"]
    certs = r["certificates"]
    details = {
        "solved": "no solve failed" if r["checks"]["solved"] else "a solve failed (NaN, divergence or step collapse)",
        "lyapunov": f"max dE/dt {_fmt(ly['max_dEdt'])} (allowed there: {ly['tolerance']:g} + rounding "
        f"{ly['max_dEdt_rounding']:.2g}); largest rise of saved E "
        f"{_fmt(ly['max_rise'])} (allowed {ly['rise_tolerance']:.3g})",
        "convexity": f"smallest Lagrangian curvature {_fmt(conv['min_curvature'])} (layer {conv['layer']!r})",
        "gradient": "every coupling derives from the energy"
        if grad["ok"]
        else "non-gradient: " + ", ".join(grad["non_gradient"]),
        "bounded_below": f"lowest energy visited {_fmt(bnd['min_energy'], '.6g')}",
        "converged": f"{sum(c['status'] == 'steady_state' for c in certs)}/{len(certs)} members reached a steady state",
        "fixed_point": f"largest residual |dx/dt| {_fmt(max((c['fixed_point'].get('residual', 0.0) for c in certs), default=None))}",
        "stable": ", ".join(f"{n} {k}" for k, n in r["fixed_points"].items()),
    }
    n = r["members"]
    lines = [
        f"verification of {r.get('scenario', 'a network')} ({n} {'trajectory' if n == 1 else 'trajectories'})",
        "",
        f"{'check':<14} {'result':<7} detail",
    ]
    for name, ok in r["checks"].items():
        lines.append(f"{name:<14} {'PASS' if ok else 'FAIL':<7} {details.get(name, '')}")
    if r.get("diagnosis"):
        lines += ["", "why energy rose: " + r["diagnosis"]]
    if r.get("note"):
        lines += ["", r["note"]]
    lines += [
        "",
        f"{'member':>6} {'status':<13} {'t_steady':>9} {'energy':>12} {'fixed point':<22} {'residual':>9}  best description",
    ]
    for c in certs[:20]:
        fp = c["fixed_point"]
        kind = fp["kind"] + (f" ({fp['unstable_directions']} unstable)" if fp["kind"] == "saddle" else "")
        kind += f" (dim {fp['manifold_dimension']})" if fp["kind"] == "degenerate" else ""
        near = f"{c['described']['name']} (cosine {c['described']['cosine']:.4f})" if "described" in c else ""
        lines.append(
            f"{c['member']:>6} {c['status']:<13} {_fmt(c['t_steady'], '9.4g')} {_fmt(c['energy_final'], '>12.6g')} "
            f"{kind:<22} {_fmt(fp.get('residual'), '9.2g')}  {near}"
        )
    if len(certs) > 20:
        lines.append(f"   ... {len(certs) - 20} more members in verify.json")
    if r.get("members", 0) > len(certs):
        lines.append(
            f"   fixed points refined and classified for the first {len(certs)} of {r['members']} members "
            "(checks.classify: all for every one)"
        )
    return "\n".join(lines)


def cmd_basins(args) -> int:
    from .core.io import write_figure, write_json, write_npz
    from .core.progress import bar, note, phase
    from .scenario import studies
    from .scenario.loader import ScenarioError, load
    from .solvers.sharding import process_options, start_processes

    options = process_options(args.distributed, args.coordinator, args.num_processes, args.process_id)
    _enable_x64()
    path = resolve(args.file)
    sc, _ = load(path, args.set)
    file = os.path.basename(path)
    if sc.basins is None and sc.capacity is None and sc.rules is None:
        raise ScenarioError(file, "basins", "the scenario has no basins:, capacity: or rules: section")
    extra = studies.sample_overrides(sc, args.samples, file)
    if sc.continuation is not None:  # every value checked before any work
        studies.continuation_scenarios(path, [*args.set, *extra], load(path, [*args.set, *extra])[0])
    worker = False
    if args.distributed:  # joined after the input is checked, before any JAX work
        index, count = start_processes(options)
        worker = index != 0
        note(f"process {index} of {count}" + (": results are written by process 0" if worker else ""))
    built, out = _prepare(args, "basins", extra, worker=worker)
    sc = built.scenario
    code = EXIT_OK
    with out:
        report: dict | None = {"scenario": sc.name}
        cont = None
        figures = []
        if sc.continuation is not None:
            from .figures.continuation import continuation_figures

            n = len(sc.continuation.all_values())
            with bar(f"continuation of {sc.name} over {sc.continuation.parameter}: values", n) as counter:
                cont, arrays = studies.run_continuation(
                    built, path, [*args.set, *extra], out.path, _resume(args), on_value=counter.update, log=note
                )
            if cont is not None:  # else a worker of a distributed run: process 0 writes the results
                out.write("continuation.npz", lambda p: write_npz(p, arrays))
                figures += continuation_figures(cont, arrays, sc.name)
            report = None
        elif sc.basins is not None:
            from .figures.basins import basins_figures

            with bar(f"basins of {sc.name}: chunks", 0) as counter:
                report, arrays = studies.run_basins(
                    built, out.path, resume=_resume(args), on_chunk=counter.update, log=note
                )
            if report is not None:  # else a worker of a distributed run: process 0 writes the report
                out.write("basins.npz", lambda p: write_npz(p, arrays))
                figures += basins_figures(report, arrays, sc.name)
                if not studies.basins_answered(report, built.settings):
                    code = EXIT_CHECK_FAILED  # the question was not answered for every start
        if sc.capacity is not None:
            from .figures.capacity import capacity_figures

            with bar(f"capacity of {sc.name}: loads", 0) as counter:
                cap = studies.capacity_study(built, on_step=counter.update, out=out.path, resume=_resume(args))
            if cap is not None:
                report = report or {"scenario": sc.name}
                report["capacity"] = cap
                figures += capacity_figures(cap, sc.name)
        if sc.rules is not None:
            from .figures.capacity import rules_figures

            with bar(f"learning rules of {sc.name}: loads", 0) as counter:
                rules = studies.rules_study(built, on_step=counter.update, out=out.path, resume=_resume(args))
            if rules is not None:
                report = report or {"scenario": sc.name}
                report["rules"] = rules
                figures += rules_figures(rules, sc.name)
        if worker:
            return EXIT_OK  # its pieces are written; process 0 writes the results
        with phase("writing results"):
            for name, fig in figures:
                out.write(name, lambda p, fig=fig: write_figure(p, fig))
            if cont is not None:
                out.write("continuation.json", lambda p: write_json(p, cont))
            if report is not None:
                out.write("basins.json", lambda p: write_json(p, report))
        _stale(out.commit(), args)
    if not args.quiet:
        if cont is not None:
            _print_continuation(cont, out.path)
        if report is not None:
            _print_basins(report, out.path)
    return code


def cmd_train(args) -> int:
    import yaml

    from .core.io import atomic_write, write_figure, write_json, write_npz
    from .core.progress import bar, note, phase
    from .figures.training import training_figures
    from .scenario import learning
    from .scenario.loader import ScenarioError, load

    _enable_x64()
    path = resolve(args.file)
    sc, data = load(path, args.set)
    file = os.path.basename(path)
    if sc.training is None:
        raise ScenarioError(file, "training", "the scenario has no training: section")
    X, y = learning.load_data(sc, path)  # the data and every key checked before the folder is touched
    built, out = _prepare(args, "train")
    t = built.scenario.training
    code = EXIT_OK
    with out:
        learning.check(built, X, y)  # (leaving the folder as it was when a key is wrong)
        folder = os.path.join(out.path, "training.partial")
        from .analysis.training import TrainingDiverged, data_digest

        # the training data is part of what a resume must share (an edited data file is another run)
        identity = json.dumps({**out.identity, "data": data_digest(X, y)}, sort_keys=True)
        with bar(f"training {sc.name}: batches", 0) as counter:
            step = lambda done, total: (
                counter.update(done, total) if done == total or done % max(1, total // 40) == 0 else None
            )  # noqa: E731
            try:
                got = learning.train_study(
                    built, data, folder, _resume(args), identity, on_batch=step, log=note,
                    keep_checkpoints=args.keep_checkpoints,
                )  # fmt: skip
            except TrainingDiverged as e:
                print(f"hopdyn: {e.message}", file=sys.stderr)
                return EXIT_CHECK_FAILED
        report = got["report"]
        figures = training_figures(report, got["arrays"], t.learn, t.image_shape, sc.name)
        with phase("writing results"):
            for name, fig in figures:
                out.write(name, lambda p, fig=fig: write_figure(p, fig))
            out.write("trained.npz", lambda p: write_npz(p, got["arrays"]))
            text = yaml.safe_dump(got["scenario"], sort_keys=False, default_flow_style=None, width=120)
            out.write("trained.yaml", lambda p: atomic_write(p, lambda f: f.write(text.encode())))
            out.write("training.json", lambda p: write_json(p, report))
        _stale(out.commit(), args)
    if not args.quiet:
        last = report["epochs"][-1] if report["epochs"] else {}
        if t.loss == "cross_entropy":
            print(
                f"{sc.name}: {len(report['epochs'])} epochs, held-out accuracy {last.get('test_accuracy', float('nan')):.4f} "
                f"({report['knn_test_accuracy']['k']}-nearest neighbours: {report['knn_test_accuracy']['accuracy']:.4f})"
            )
        else:
            print(
                f"{sc.name}: {len(report['epochs'])} epochs, held-out hidden error {last.get('test_hidden_error', float('nan')):.4g}"
            )
        print(
            f"  trained.yaml, trained.npz, training.json in {shown(out.path)}/ (hopdyn run/verify/basins {shown(out.path)}/trained.yaml)"
        )
    return code


def _print_continuation(r: dict, out: str) -> None:
    from .figures.plots import _continuation_names

    values = r["values"]
    fmt = lambda v: f"{v:.4g}" if not isinstance(v, list) else str(v)  # noqa: E731
    print(
        f"{r['scenario']}: continuation over {r['parameter']} ({len(values)} values, {fmt(values[0])} to "
        f"{fmt(values[-1])}), {r['samples'][0]} starts each: {len(r['attractors'])} attractors"
    )
    names = _continuation_names(r)
    order = sorted(range(len(names)), key=lambda i: -max((row[i] or 0) for row in r["fractions"]))
    for i in order[:15]:
        a = r["attractors"][i]
        peak = max((row[i] or 0) for row in r["fractions"])
        print(
            f"  {a['id']:>3}  {names[i]:<18} from {fmt(a['first'])} to {fmt(a['last'])}, largest basin {100 * peak:.1f}%"
        )
    if len(order) > 15:
        print(f"  ... {len(order) - 15} more in continuation.json")
    if r["recompiles"]:
        print("  note: the parameter changes more than array values; values after the first compiled their own solve")
    print(f"  continuation.json in {shown(out)}/")


def _print_basins(r: dict, out: str) -> None:
    import numpy as np

    from .analysis.naming import attractor_name

    if "attractors" in r:
        print(
            f"{r['scenario']}: {r['samples']} initial states of {r['layer']!r}, {len(r['attractors'])} attractors, "
            f"{r['undecided']} undecided ({r['failed']} failed, {r['max_steps']} stopped at max_steps)"
        )
        for a in r["attractors"][:15]:
            stab = f", {a['stability']}" if "stability" in a else ""
            print(
                f"  {a['label']:>3}  {attractor_name(a, r['patterns']):<18} {100 * r['fractions'][str(a['label'])]:6.2f}%  "
                f"E = {a['energy']:.6g}{stab}"
            )
        if len(r["attractors"]) > 15:
            print(f"  ... {len(r['attractors']) - 15} more in basins.json")
        if r.get("retrieval"):
            pairs = ", ".join(
                f"{c:g}: {a:.2f}" for c, a in zip(r["retrieval"]["corruption"], r["retrieval"]["accuracy"])
            )
            print(f"  retrieval by corruption level: {pairs}")
            radius = [x for x in r["retrieval"].get("basin_radius", {}).get("radius", []) if x is not None]
            if radius:
                print(
                    f"  basin radius (largest corruption retrieved with probability >= 1/2): median "
                    f"{np.median(radius):.3g} over {len(radius)} patterns (range {min(radius):.3g}-{max(radius):.3g})"
                )
    if "capacity" in r:
        c = r["capacity"]
        for run in [c] + ([c["compare"]] if "compare" in c else []):
            for N, ser in zip(*((run["N"], run["series"]) if "series" in run else ([run["N"]], [run]))):
                pairs = ", ".join(
                    f"{lo:.3g}: {f:.2f}/{e:.2g}" for lo, f, e in zip(ser["loads"], ser["retrieved"], ser["bit_error"])
                )
                print(f"  {c['family']} memory, {run['method']}, N = {N}: retrieved/bit error by load: {pairs}")
            if "scaling_exponent" in run:
                print(f"  {run['method']}: critical K grows like N^{run['scaling_exponent']:.2f}")
            fs = run.get("finite_size")
            if fs and fs["estimate"] is not None:
                iv = f" (95% interval {fs['interval'][0]:.3f}-{fs['interval'][1]:.3f})" if fs["interval"] else ""
                print(
                    f"  {run['method']}: retrieval curves of N = {fs['N'][-2]}, {fs['N'][-1]} cross at load {fs['estimate']:.3f}{iv}"
                )
    for rule in r.get("rules", {}).get("rules", []):
        radius = ", ".join(
            f"{lo:.3g}: {'<' + format(r['rules']['flips'][0], 'g') if x is None else format(x, '.2f')}"
            for lo, x in zip(rule["loads"], rule["radius"])
        )
        upto = "none" if rule["fixed_up_to"] is None else f"{rule['fixed_up_to']:.3g}"
        print(f"  {rule['label']}: every pattern a fixed point up to load {upto}; basin radius by load: {radius}")
    print(f"  basins.json in {shown(out)}/")


def cmd_validate(args) -> int:
    from .scenario.build import load_and_build

    _enable_x64()
    path = resolve(args.file)
    built = load_and_build(path, args.set)  # with the resource estimate of a run
    sc = built.scenario
    sizes = ", ".join(f"{n}{tuple(s.shape)}" for n, s in sc.neurons.items())
    batch = f", batch of {built.batch}" if built.batch else ""
    print(f"{shown(path)}: valid scenario {sc.name!r}: neurons {sizes}; {len(sc.synapses)} synapses{batch}")
    return EXIT_OK


def cmd_schema(args) -> int:
    from .scenario.schema import scenario_model

    schema = scenario_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hopdyn scenario"
    print(json.dumps(schema, indent=2))
    return EXIT_OK


def cmd_list(args) -> int:
    """Every shipped scenario, the verbs it is for, and its whole description
    (wrapped to the terminal, never cut)."""
    import shutil
    import textwrap

    import yaml

    folder = shipped_dir()
    files = sorted(folder.glob("*.yaml"))
    width = max((len(f.stem) for f in files), default=0)
    columns = max(60, shutil.get_terminal_size((100, 24)).columns)
    print(f"{'scenario':<{width}}  {'verbs':<19} description")
    for f in files:
        try:
            data = yaml.safe_load(f.read_text())
            desc = " ".join(str(data.get("description", "")).split())
            verbs = "run, verify" + (", basins" if "basins" in data or "capacity" in data or "rules" in data else "")
        except Exception:  # a listing never fails on one file
            desc, verbs = "(unreadable)", "-"
        indent = width + 2 + 19 + 1
        lines = textwrap.wrap(desc, max(30, columns - indent)) or [""]
        print(f"{f.stem:<{width}}  {verbs:<19} {lines[0]}")
        for line in lines[1:]:
            print(" " * indent + line)
    print(
        f"\n{len(files)} scenarios in {folder}; run one with `hopdyn run NAME`; "
        f"start your own with `hopdyn init --template {{{','.join(templates())}}} FILE`"
    )
    return EXIT_OK


def templates() -> list[str]:
    from pathlib import Path

    return sorted(p.stem for p in (Path(__file__).parent / "scenario" / "templates").glob("*.yaml"))


def cmd_init(args) -> int:
    """Write a commented starting scenario from a template."""
    from pathlib import Path

    from .core.errors import HopdynError

    names = templates()
    if args.template not in names:
        raise HopdynError(f"unknown template {args.template!r}; expected one of {', '.join(names)}", ("--template",))
    target = Path(args.file)
    if target.exists() and not args.force:
        raise HopdynError(f"{target} exists; choose another name or pass --force", ("FILE",))
    if target.suffix not in (".yaml", ".yml"):
        raise HopdynError(f"expected a .yaml file name, got {target.name}", ("FILE",))
    text = (Path(__file__).parent / "scenario" / "templates" / f"{args.template}.yaml").read_text()
    stem = "".join(c if c.isalnum() else "-" for c in target.stem.lower()).strip("-") or "my-scenario"
    text = text.replace(f"name: my-{args.template}", f"name: {stem}", 1)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as e:
        raise HopdynError(f"cannot write {target}: {e.strerror}", ("FILE",)) from None
    if not args.quiet:
        print(f"{target}: written from the {args.template} template; edit it, then `hopdyn run {target}`")
    return EXIT_OK


def cmd_bench(args) -> int:
    from .bench import suite
    from .core.errors import HopdynError
    from .core.io import write_json

    _enable_x64()
    cases = tuple(c.strip() for c in args.cases.split(",")) if args.cases else None
    bad = [c for c in cases or () if c not in suite.NAMES]
    if bad:
        raise HopdynError(f"--cases: unknown case {bad[0]!r}; expected some of {', '.join(suite.NAMES)}")
    out = args.out or os.path.join("plots", "bench")
    path = os.path.join(out, "bench.json")
    report = suite.earlier(path) if cases else {}  # a part measured alone updates that part only
    log = (lambda *a: None) if args.quiet else print
    report = suite.run(cases, quick=args.quick, dtype=args.dtype, report=report, log=log)
    write_json(path, report)
    if not args.quiet:
        print()
        print(suite.table(report))
        print(f"\nbench.json in {shown(out)}/")
    return EXIT_OK


def cmd_serve(args) -> int:
    """The live page: validate the scenario, bind the address, compile, serve."""
    import ipaddress

    from .core.errors import HopdynError
    from .core.progress import phase
    from .live.app import bind, serve, warm
    from .live.spec import load_spec

    _enable_x64()
    spec = load_spec(args.file, list(args.set))  # a bad scenario is refused before anything listens
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    try:
        sock = bind(args.host, args.port)
    except OSError as e:
        raise HopdynError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})", ("--port",)) from None
    with sock:
        with phase("compiling the frame program"):
            seconds = warm(spec)
        if not loopback:
            print(
                f"hopdyn: warning: serving on {args.host}: other machines can open the page and drive the network "
                "(the default, 127.0.0.1, is this machine only)",
                file=sys.stderr,
            )

        def ready(url):
            print(
                f"hopdyn serve: {spec.built.scenario.name} at {url} (ready in {seconds:.1f} s; Ctrl-C stops)",
                flush=True,
            )

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server stops: not an interruption
            serve(spec, sock, fps=args.fps, on_ready=ready)
    print("hopdyn serve: stopped")
    return EXIT_OK


def cmd_export_html(args) -> int:
    from .live.export import export_run

    path = export_run(args.folder, scenario=args.scenario, out=args.out)
    if not args.quiet:
        print(f"{shown(path)}: one self-contained page (open it in any browser, offline)")
    return EXIT_OK


# ------------------------------------------------------------------ the verbs and their options
def _scenario_file(s) -> None:
    s.add_argument("file", metavar="FILE", help="a scenario file, or the name of a shipped scenario")
    _overrides(s)


def _overrides(s) -> None:
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a key, e.g. --set solver.rtol=1e-8 (repeatable)",
    )


def _no_compilation_cache(s) -> None:
    s.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="compile everything afresh (also HOPDYN_COMPILATION_CACHE=off)",
    )


def _memory_budget(s) -> None:
    s.add_argument(
        "--memory-budget",
        metavar="SIZE",
        help="refuse work estimated to need more memory (e.g. 2G; default half the available memory)",
    )


def _output(s) -> None:
    s.add_argument("--out", metavar="DIR", help="output folder (default plots/<name>/)")
    s.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    _no_compilation_cache(s)


def _resumable(s) -> None:
    unfinished = s.add_mutually_exclusive_group()
    unfinished.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from what it saved (chunks, values, epoch checkpoints)",
    )
    unfinished.add_argument(
        "--restart", action="store_true", help="discard an interrupted run's saved work and start over"
    )


def _run_options(s) -> None:
    s.add_argument("--no-plots", action="store_true", help="write result.json and trajectory.npz only")
    s.add_argument("--verify", action="store_true", help="verify the trajectory as well (verify.json)")


def _basins_options(s) -> None:
    s.add_argument(
        "--samples", type=int, metavar="N", help="starts per corruption level / random samples / ~N grid points"
    )
    s.add_argument(
        "--distributed",
        action="store_true",
        help="one process of a multi-process run: basin chunks, continuation values, capacity loads or compared rules, "
        "shared through --out "
        "(the same folder for every process; process 0 writes the results). On a cluster JAX detects (SLURM, "
        "Open MPI) nothing more is needed; elsewhere give the three options below, or set JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES and JAX_PROCESS_ID",
    )
    s.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed: where process 0 listens")
    s.add_argument("--num-processes", type=int, metavar="N", help="with --distributed: how many processes")
    s.add_argument("--process-id", type=int, metavar="I", help="with --distributed: this process's index, 0..N-1")


def _train_options(s) -> None:
    s.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep training.partial/ (a checkpoint per epoch) after a successful run",
    )


def _init_options(s) -> None:
    s.add_argument("file", metavar="FILE", help="the scenario file to write (.yaml)")
    s.add_argument("--template", default="classical", help=f"one of {', '.join(templates())} (default classical)")
    s.add_argument("--force", action="store_true", help="overwrite FILE")
    s.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _bench_options(s) -> None:
    from .bench.suite import PARTS, SOLVER_CASES

    s.add_argument("--quick", action="store_true", help="small sizes (K = 250, D = 256, batch 32)")
    s.add_argument(
        "--cases",
        metavar="A,B",
        help=f"run only these: {', '.join(SOLVER_CASES)} (solver cases against baselines); "
        + "; ".join(f"{p.name} ({p.about}{'' if p.by_default else ', only when named'})" for p in PARTS)
        + " (bench.json keeps the parts not run)",
    )
    s.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    s.add_argument("--out", metavar="DIR", help="output folder (default plots/bench/)")
    s.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {value}")
    return value


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 120:
        raise argparse.ArgumentTypeError(f"expected frames per second from 1 to 120, got {text!r}")
    return value


def _serve_options(s) -> None:
    s.add_argument(
        "file",
        metavar="SCENARIO",
        nargs="?",
        default="image-label-generate",
        help="a scenario file or shipped name (default image-label-generate, the seed's image/label/memory network)",
    )
    _overrides(s)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free port)")
    s.add_argument("--fps", type=_fps, default=30.0, help="the most frames a page is sent per second (default 30)")
    _no_compilation_cache(s)


def _export_options(s) -> None:
    s.add_argument("folder", metavar="RUN_FOLDER", help="a folder `hopdyn run` wrote (with trajectory.npz)")
    s.add_argument(
        "--scenario", metavar="FILE", help="the scenario file of the run (default: the one its manifest names)"
    )
    s.add_argument("--out", metavar="FILE", help="the page to write (default RUN_FOLDER/run.html)")
    s.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


class Verb(NamedTuple):
    """A command: what it runs, its one-line help, the option groups it takes,
    and whether it loads scenarios and solves (a compilation cache, a
    compile log, the progress display)."""

    run: Callable
    help: str
    options: tuple = ()
    solves: bool = False


VERBS = {
    "run": Verb(
        cmd_run,
        "simulate one scenario: result.json, trajectory.npz, figures",
        (_scenario_file, _run_options, _memory_budget, _output),
        True,
    ),
    "verify": Verb(
        cmd_verify,
        "Lyapunov, convexity, convergence and stability checks: verify.json and a table",
        (_scenario_file, _memory_budget, _output),
        True,
    ),
    "basins": Verb(
        cmd_basins,
        "ensembles of initial states: attractor labels, basin fractions, retrieval, capacity",
        (_scenario_file, _basins_options, _resumable, _memory_budget, _output),
        True,
    ),
    "train": Verb(
        cmd_train,
        "learn a scenario's patterns through its equilibrium: trained.yaml, trained.npz, curves",
        (_scenario_file, _resumable, _train_options, _memory_budget, _output),
        True,
    ),
    "validate": Verb(cmd_validate, "check a scenario file without simulating", (_scenario_file, _memory_budget)),
    "schema": Verb(cmd_schema, "print the JSON Schema of scenario files"),
    "list": Verb(cmd_list, "list the shipped scenarios and the verbs each is for"),
    "init": Verb(cmd_init, "write a commented starting scenario from a template", (_init_options,)),
    "serve": Verb(
        cmd_serve,
        "a live page of a network (default: the seed's image/label memory): watch and steer it in a browser",
        (_serve_options,),
        True,
    ),
    "export-html": Verb(
        cmd_export_html,
        "one self-contained HTML page of a finished run (state over time, energy, PCA trail), offline",
        (_export_options,),
    ),
    "bench": Verb(
        cmd_bench,
        "the benchmark suite against hand-written baselines: a table and bench.json",
        (_bench_options,),
        True,
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse with bad options answered as every bad input is: one line on
    stderr (no usage block; ``--help`` still shows it) and exit 2.  The verbs'
    parsers are made of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    """The command line, built from each verb's declared option groups."""
    from .core.version import __version__

    p = _Parser(prog="hopdyn", description="Energy-based associative memories as continuous-time dynamical systems.")
    p.add_argument("--version", action="version", version=f"hopdyn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, verb in VERBS.items():
        s = sub.add_parser(name, help=verb.help, description=verb.help)
        for add in verb.options:
            add(s)
    return p


def _resume(args) -> bool | None:
    """``--resume``: continue; ``--restart``: discard; neither: refuse unfinished work."""
    return True if args.resume else False if args.restart else None


def _continues(args, argv: list[str] | None) -> str:
    """What an interrupted command that keeps its work says: the command that continues it."""
    if _resumable not in VERBS[args.command].options:
        return ""
    import shlex

    words = [w for w in (sys.argv[1:] if argv is None else argv) if w not in ("--resume", "--restart")]
    return f"; the finished work is kept: `{shlex.join(['hopdyn', *words, '--resume'])}` continues it"


def main(argv: list[str] | None = None) -> int:
    import warnings

    from .core.budget import memory_budget, parse_size
    from .core.errors import HopdynError, LyapunovWarning
    from .core.outputs import WriteError
    from .core.progress import Reporter

    args = parser().parse_args(argv)
    sys.stdout = _Printable(sys.stdout)
    try:
        limit = getattr(args, "memory_budget", None)
        try:
            limit = parse_size(limit) if limit is not None else None
        except ValueError as e:
            raise HopdynError(str(e), ("--memory-budget",)) from None
        verb = VERBS[args.command]
        quiet = getattr(args, "quiet", False) or not verb.solves
        log = contextlib.nullcontext()
        if verb.solves:
            from .solvers.compile import CompileLog, enable_compilation_cache

            enable_compilation_cache(None if getattr(args, "no_compilation_cache", False) else "default")
            log = args.compile_log = CompileLog()
        with memory_budget(limit), log, contextlib.nullcontext() if quiet else Reporter(), warnings.catch_warnings():
            warnings.simplefilter("ignore", LyapunovWarning)  # the command reports its own Lyapunov check
            return verb.run(args)
    except WriteError as e:  # the work was done but its results could not be written
        print(f"hopdyn: error: {e}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except HopdynError as e:
        print(f"hopdyn: error: {e}", file=sys.stderr)
        for line in getattr(e, "more", []):  # every other problem of a scenario file, a line each
            print(f"hopdyn: error: {e.file}: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"hopdyn: interrupted{_continues(args, argv)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`hopdyn list | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:  # the machine refused a read or write (a full disk): one line, no traceback
        from .core.errors import printable

        print(f"hopdyn: error: {printable(e.strerror or e)}: {printable(e.filename or '')}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    finally:
        if isinstance(sys.stdout, _Printable):
            sys.stdout = sys.stdout.stream


class _Printable:
    """``sys.stdout`` during a command: control characters (terminal escape
    sequences from a path or a scenario's name) are written as escapes, so what
    hopdyn prints never acts on the terminal; line breaks are kept."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        from .core.errors import printable

        self.stream.write("\n".join(printable(line) for line in text.split("\n")))
        return len(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def shown(path: str) -> str:
    """A path as printed: control characters and line breaks escaped."""
    from .core.errors import printable

    return printable(path)


if __name__ == "__main__":
    sys.exit(main())
