"""A scenario's analyses as calls of the library: ``verify`` with the checks the
file asks for, the ``basins:`` ensemble (``hd.basins``) and the ``capacity:``
sweep (``hd.capacity``).  This module only translates; the work is in
``hopdyn.analysis``."""

from __future__ import annotations

import json
import os

import numpy as np

from ..analysis import ensembles as E
from ..analysis.basins import Basins, basins
from ..analysis.capacity import capacity
from ..analysis.naming import Naming
from ..analysis.rule_comparison import compare_rules
from ..analysis.runner import Chunking
from ..analysis.verify import verify
from ..core.errors import AnalysisError, UnfinishedWork
from ..core.patterns import LazyRows, StackedRows
from ..model.params import SYNAPSES, parameters, pattern_ref
from .build import Built
from .loader import ScenarioError


# ------------------------------------------------------------------ stored patterns
def stored_patterns(built: Built) -> tuple[str, str, np.ndarray] | None:
    """(layer, pattern name, patterns) to compare end states with: the readout's,
    the outputs' patterns on the outputs' layer, or the first synapse that
    declares stored patterns (a parameter named ``patterns``: rows of its first
    layer).  A weight matrix is not taken for stored patterns unless the file
    names it (``outputs.patterns``, ``basins.patterns``)."""
    sc = built.scenario
    if sc.outputs.readout is not None:
        r = sc.outputs.readout
        return r.layer, r.patterns, built.patterns[r.patterns]
    if sc.outputs.patterns is not None:
        layer = sc.outputs.layer or next(iter(sc.neurons))
        p = built.patterns[sc.outputs.patterns]
        if p.ndim >= 2 and int(np.prod(p.shape[1:])) == int(np.prod(sc.neurons[layer].shape)):
            return layer, sc.outputs.patterns, p
    for spec in sc.synapses:
        params = parameters(SYNAPSES[spec.type])
        name = getattr(spec, "patterns", None)
        if "patterns" not in params or pattern_ref(params["patterns"][0]) is None or not isinstance(name, str):
            continue
        layer, p = spec.connects[0], built.patterns[name]
        if p.ndim >= 2 and int(np.prod(p.shape[1:])) == int(np.prod(sc.neurons[layer].shape)):
            return layer, name, p
    return None


def verify_scenario(built: Built, traj) -> dict:
    """``verify`` with the checks a scenario asks for (``checks:``).

    **Arguments:**

    - ``built``: a loaded scenario
    - ``traj``: its solved ``Trajectory``
    """
    c = built.scenario.checks
    fpc = c.fixed_point
    report = verify(
        built.network,
        traj,
        lyapunov_tolerance=None if c.lyapunov is False else (1e-6 if c.lyapunov is True else c.lyapunov.tolerance),
        patterns=stored_patterns(built),
        convexity_check=c.convexity,
        gradient_check=c.gradient,
        converged=c.converged,
        fixed_point_residual=None if fpc is False else (1e-6 if fpc is True else fpc.residual),
        stable=c.stable,
        max_members=(traj.batch_size or 1) if c.classify == "all" else c.classify,
    )
    return {"scenario": built.scenario.name, **report}


# ------------------------------------------------------------------ basins
def _scenario_error(built: Built, e: AnalysisError, section: str, what: str) -> ScenarioError:
    """An analysis error as the scenario's: a refused resume names ``--resume``,
    the rest their key under ``section``."""
    if isinstance(e, UnfinishedWork):
        return unfinished(built.file, e)
    if e.location == ("resume",):
        return ScenarioError(
            built.file, "--resume", f"the scenario or {what} changed since the interrupted run; run without --resume"
        )
    return ScenarioError.at(built.file, e, section)


def unfinished(file: str, e: UnfinishedWork) -> ScenarioError:
    """A refusal to discard unfinished work, in the command line's words."""
    return ScenarioError(
        file,
        "--resume",
        f"{e.folder} holds the unfinished work of an interrupted run ({e.files} saved files): "
        "add --resume to continue it, or --restart to discard it",
    )


def basin_target(built: Built) -> tuple[str, str | None, np.ndarray | None]:
    """(layer, pattern name, patterns) of the basins section, with the layer and
    patterns inferred like ``verify`` does when not given."""
    sc = built.scenario
    spec = sc.basins
    inferred = stored_patterns(built) if spec.patterns is not False else None
    layer = spec.layer or (inferred[0] if inferred else sc.outputs.layer or next(iter(sc.neurons)))
    if layer not in sc.neurons:
        raise ScenarioError(built.file, "basins.layer", f"unknown neuron {layer!r} (neurons: {', '.join(sc.neurons)})")
    size = int(np.prod(sc.neurons[layer].shape))
    if isinstance(spec.patterns, str):
        if spec.patterns not in built.patterns:
            raise ScenarioError(built.file, "basins.patterns", f"unknown pattern {spec.patterns!r}")
        p = built.patterns[spec.patterns]
        if p.ndim < 2 or int(np.prod(p.shape[1:])) != size:
            raise ScenarioError(
                built.file,
                "basins.patterns",
                f"rows of {spec.patterns!r} (shape {list(p.shape)}) do not fit layer {layer!r} of {size} units",
            )
        return layer, spec.patterns, p.reshape(len(p), -1)
    if inferred and inferred[0] == layer:
        return layer, inferred[1], inferred[2].reshape(len(inferred[2]), -1)
    return layer, None, None


def _grid_point(pt, patterns, size, file, i) -> np.ndarray:
    if pt.origin:
        return np.zeros(size)
    if pt.values is not None:
        v = np.asarray(pt.values, np.float64)
        if v.size != size:
            raise ScenarioError(
                file, f"basins.ensemble.grid.through[{i}].values", f"expected {size} values, got {v.size}"
            )
        return v
    if patterns is None or pt.pattern >= len(patterns):
        n = 0 if patterns is None else len(patterns)
        raise ScenarioError(
            file,
            f"basins.ensemble.grid.through[{i}].pattern",
            f"pattern index {pt.pattern} out of range ({n} patterns)",
        )
    return -patterns[pt.pattern] if pt.negated else patterns[pt.pattern].copy()


def make_ensemble(built: Built, layer: str, patterns) -> tuple[np.ndarray | LazyRows, dict, tuple | None]:
    """Initial internal states of ``layer`` ``(M, *shape)`` (with random starts,
    lazy rows that draw each chunk's random starts when it is solved: a
    ``DrawnRows``, or a ``StackedRows`` holding the corrupted patterns and the
    grid beside them), per-start metadata
    (``group``: 0 corruption, 1 random, 2 grid; ``source`` pattern; ``level``;
    grid coordinates ``grid_a``/``grid_b``, NaN elsewhere) and the grid's plane
    ``(p0, p1, p2)`` (None without a grid)."""
    sc = built.scenario
    ens = sc.basins.ensemble
    plane = None
    shape = tuple(sc.neurons[layer].shape)
    size = int(np.prod(shape))
    starts, meta = [], {"group": [], "source": [], "level": [], "grid_a": [], "grid_b": []}

    def add(x, group, source=-1, level=np.nan, a=np.nan, b=np.nan):
        n = len(x)
        starts.append(x)
        for k, v in (("group", group), ("source", source), ("level", level), ("grid_a", a), ("grid_b", b)):
            meta[k].append(np.broadcast_to(v, n))  # arrays, not lists of numpy scalars (~100 bytes each)

    if ens.corruption is not None:
        c = ens.corruption
        if patterns is None:
            raise ScenarioError(built.file, "basins.ensemble.corruption", "needs stored patterns (basins.patterns)")
        try:
            x, src, lv = E.corrupted_starts(patterns, c.levels, c.samples, c.kind, c.patterns, sc.seed)
        except AnalysisError as e:
            key = {"which": "patterns"}.get(e.location[0], e.location[0])
            raise ScenarioError(built.file, ("basins", "ensemble", "corruption", key), e.message) from None
        add(x, 0, src, lv)
    if ens.random is not None:
        r = ens.random
        # drawn chunk by chunk as they are solved
        add(E.random_starts(r.samples, size, r.distribution, r.low, r.high, r.mean, r.std, sc.seed, lazy=True), 1)
    if ens.grid is not None:
        g = ens.grid
        plane = tuple(_grid_point(pt, patterns, size, built.file, i) for i, pt in enumerate(g.through))
        x, a, b = E.grid_starts(*plane, extent=g.extent, resolution=g.resolution)
        add(x, 2, -1, np.nan, a, b)
    if len(starts) == 1:
        x0 = starts[0]  # one part: no copy
    elif any(isinstance(x, LazyRows) for x in starts):
        x0 = StackedRows(starts)  # the random part stays lazy beside the others
    else:
        x0 = np.concatenate(starts)
    x0 = x0.reshape((-1,) + shape)
    meta = {
        k: np.concatenate(v).astype(np.float64 if k in ("level", "grid_a", "grid_b") else np.int64)
        for k, v in meta.items()
    }
    return x0, meta, plane


def run_basins(
    built: Built,
    out: str,
    resume: bool | None = None,
    on_chunk=None,
    log=None,
    folder: str | None = None,
    classify: int = 32,
    keep_states: bool = True,
) -> tuple[dict, dict]:
    """The ``basins:`` section: its ensemble through ``hd.basins``, plus the
    retrieval curve and where each attractor sits on a grid's plane.  Returns
    the ``basins.json`` report and the ``basins.npz`` arrays.  Chunks are kept
    in ``folder`` (default ``out/basins.partial``) until the ensemble is done.

    **Arguments:**

    - ``built``: a loaded scenario (``load_scenario``)
    - ``out``: its output folder (chunks go to ``out/basins.partial``)
    - ``resume``, ``on_chunk``, ``log``, ``folder``, ``classify``, ``keep_states``: as ``hd.basins``
    """
    spec = built.scenario.basins
    layer, pname, patterns = basin_target(built)
    x0, meta, plane = make_ensemble(built, layer, patterns)
    base = {
        n: (np.asarray(v)[0] if built.batch is not None else np.asarray(v)) for n, v in built.x0.items() if n != layer
    }
    try:
        res = basins(
            built.network,
            {layer: x0},
            layer=layer,
            base=base,
            settings=built.settings,
            patterns=patterns,
            pattern_name=pname,
            naming=Naming(overlap=spec.overlap, cluster=spec.cluster, mixtures=spec.mixtures, binarize=spec.binarize),
            chunking=Chunking(
                size=spec.chunk,
                folder=folder or os.path.join(out, "basins.partial"),
                resume=resume,
                refill=None if spec.refill == "auto" else spec.refill,
            ),
            classify=classify,
            keep_states=keep_states,
            on_chunk=on_chunk,
            log=log,
        )
    except AnalysisError as e:
        raise _scenario_error(built, e, "basins", "ensemble") from None
    if res is None:  # not process 0 of a distributed run: its chunks are written
        return None, None
    report = {"scenario": built.scenario.name, **res.report}
    report["retrieval"] = res.retrieval(meta["source"], np.where(meta["group"] == 0, meta["level"], np.nan))
    report["chunks"] = report.pop("chunks")
    arrays = {**res.arrays, **meta}
    if plane is not None:
        grid = spec.ensemble.grid.resolution
        labels = np.asarray(res.arrays["labels"])[meta["group"] == 2]
        if grid >= 16 and labels.size == grid * grid:  # the basin map: its entropy and boundary dimension
            from ..analysis.geometry import basin_geometry

            report["geometry"] = basin_geometry(labels.reshape(grid, grid))
        for att in report["attractors"]:
            x = res.arrays[f"attractors/x_end/{layer}"][att["label"]]
            att["plane_coordinates"], att["plane_residual"] = E.plane_coordinates(x, plane)
    return report, arrays


# ------------------------------------------------------------------ capacity
def capacity_study(built: Built, on_step=None, out: str | None = None, resume: bool | None = None) -> dict | None:
    """The ``capacity:`` section through ``hd.capacity`` (and again with
    ``outputs.compare``'s method, on the same patterns).  With ``out``, each
    load is kept in ``out/capacity.partial`` as it is done (``resume``
    continues; the processes of a distributed run share the loads there).

    **Arguments:**

    - ``built``: a loaded scenario with a ``capacity:`` section
    - ``on_step``: progress
    - ``out``, ``resume``: the output folder and whether to resume from it

    **Returns:**

    The ``capacity`` report, or ``None`` on a process other than 0 of a
    distributed run.
    """
    spec = built.scenario.capacity
    compare = built.scenario.outputs.compare
    runs = 2 if compare else 1
    per_run = (len(spec.N) if isinstance(spec.N, list) else 1) * len(spec.loads)
    kwargs = spec.model_dump()

    def step(offset):
        return (lambda done, total: on_step(offset + done, runs * per_run)) if on_step else None

    def where(name):
        return dict(folder=os.path.join(out, name), resume=resume) if out is not None else {}

    try:
        report = capacity(
            **kwargs, settings=built.settings, seed=built.scenario.seed, on_step=step(0), **where("capacity.partial")
        )
        if compare:
            other = capacity(
                **kwargs,
                settings=built.with_method(compare),
                seed=built.scenario.seed,
                on_step=step(per_run),
                **where("capacity-compare.partial"),
            )
    except AnalysisError as e:
        raise _scenario_error(built, e, "capacity", "capacity") from None
    if report is None:
        return None
    if compare:
        head = ("family", "flip", "overlap_threshold", "error_rate", "load_power")
        report["compare"] = {k: v for k, v in other.items() if k not in head}
    return report


def rules_study(built: Built, on_step=None, out: str | None = None, resume: bool | None = None) -> dict | None:
    """The ``rules:`` section through ``hd.compare_rules``, solved with the
    scenario's ``solver:`` settings.  With ``out``, each rule is kept in
    ``out/rules.partial`` as it is done (``resume`` continues; the processes
    of a distributed run share the rules there).

    **Arguments:**

    - ``built``: a loaded scenario with a ``rules:`` section
    - ``on_step``: progress
    - ``out``, ``resume``: the output folder and whether to resume from it

    **Returns:**

    The ``rules`` report, or ``None`` on a process other than 0 of a
    distributed run.
    """
    where = dict(folder=os.path.join(out, "rules.partial"), resume=resume) if out is not None else {}
    try:
        return compare_rules(
            **built.scenario.rules.model_dump(),
            settings=built.settings,
            seed=built.scenario.seed,
            on_step=on_step,
            **where,
        )
    except AnalysisError as e:
        raise _scenario_error(built, e, "rules", "rules") from None


# ------------------------------------------------------------------ continuation
def continuation_scenarios(path: str, overrides: list[str], sc) -> list:
    """The scenario at each value of the ``continuation:`` section (its
    parameter set like ``--set`` sets it), every one loaded and validated before
    any work; a value the parameter cannot take is one line naming it."""
    from . import resources
    from .loader import load

    spec = sc.continuation
    file = os.path.basename(path)
    if sc.basins is None:
        raise ScenarioError(file, "continuation", "needs a basins: section (the ensemble run at each value)")
    out = []
    for i, value in enumerate(spec.all_values()):
        try:
            one, _ = load(path, [*overrides, f"{spec.parameter}={json.dumps(value)}"])
        except ScenarioError as e:
            key = "continuation.values" if spec.values is not None else "continuation.range"
            raise ScenarioError(
                file, f"{key} (value {i}: {spec.parameter}={value:g})" if np.ndim(value) == 0 else key, e.message
            ) from None
        resources.check(one, file, os.path.dirname(os.path.abspath(path)), "basins")
        out.append(one)
    return out


def run_continuation(
    built: Built, path: str, overrides: list[str], out: str, resume: bool | None = None, on_value=None, log=None
) -> tuple[dict, dict]:
    """The ``continuation:`` section: the ``basins:`` ensemble at each value of
    the parameter (the scenario rebuilt with it), attractors matched across
    values (``hd.continuation``'s matching).  Values are kept in
    ``out/continuation.partial`` as they are done, so ``resume`` continues.
    Returns the ``continuation.json`` report and the ``continuation.npz`` arrays."""
    from ..analysis import continuation as C
    from .build import build, scenario_identity

    sc = built.scenario
    spec = sc.continuation
    scenarios = continuation_scenarios(path, overrides, sc)
    values = spec.all_values()
    folder = os.path.join(out, "continuation.partial")
    identity = json.dumps(
        {
            "scenario": scenario_identity(path, overrides),
            "parameter": spec.parameter,
            "values": values,
        },
        sort_keys=True,
    )

    def solve(i: int) -> dict:
        one = build(scenarios[i], path)
        layer, _, patterns = basin_target(one)
        # no stability analysis per value: continuation.json does not report it, and on large
        # networks it costs more than the ensemble (a dense Jacobian per attractor)
        where = os.path.join(folder, f"value_{i:04d}.basins")
        rep, arrays = run_basins(one, out, resume, log=log, folder=where, classify=0, keep_states=False)
        key = C.program(one.network, {layer: arrays[f"x0/{layer}"]}, one.settings)
        return C.summarise(Basins(rep, arrays), layer, patterns, key)

    try:
        summaries = C.sweep(
            len(values), solve, folder=folder, resume=resume, identity=identity, on_value=on_value, log=log
        )
    except AnalysisError as e:
        raise _scenario_error(built, e, "continuation", "continuation") from None
    if summaries is None:  # not process 0 of a distributed run: its values are written
        return None, None
    ids, _ = C.match(summaries, spec.distance, spec.min_overlap)
    layer, pname, _ = basin_target(built)
    report = {
        "scenario": sc.name,
        "parameter": spec.parameter,
        "layer": layer,
        "patterns": pname,
        **C.report(values, summaries, spec.distance, spec.min_overlap),
    }
    C.finish_work(folder, C.VALUES)
    return report, C.id_arrays(summaries, ids)


# ------------------------------------------------------------------ what a command asks
def sample_overrides(sc, samples: int | None, file: str) -> list[str]:
    """``--samples N`` as the scenario keys it sets: the corruption and random
    ensembles' samples, a grid of about N points, the capacity's and the
    rule comparison's trials."""
    if samples is None:
        return []
    if samples < 1:
        raise ScenarioError(file, "--samples", f"expected a positive number, got {samples}")
    ens = sc.basins.ensemble if sc.basins else None
    extra = []
    if ens is not None and ens.corruption is not None:
        extra.append(f"basins.ensemble.corruption.samples={samples}")
    if ens is not None and ens.random is not None:
        extra.append(f"basins.ensemble.random.samples={samples}")
    if ens is not None and ens.grid is not None:
        extra.append(f"basins.ensemble.grid.resolution={max(2, int(round(samples**0.5)))}")
    if sc.capacity is not None:
        extra.append(f"capacity.trials={samples}")
    if sc.rules is not None:
        extra.append(f"rules.trials={samples}")
    return extra


def basins_answered(report: dict, settings) -> bool:
    """Whether a basin study answered its question for every start: no solve
    failed, and no ODE solve stopped at its step limit (a discrete rule that
    runs out of sweeps has answered: it is still moving, a cycle or not)."""
    from ..solvers.registry import continuous

    return not (report["failed"] or (report["max_steps"] and continuous(settings.method)))
