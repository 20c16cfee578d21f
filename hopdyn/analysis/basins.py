"""Attractor basins of a ``Network``: where an ensemble of initial states ends
(solved by ``runner``), the attractors named (``naming``), basin fractions
with intervals, retrieval curves and basin radii.

The interface follows Attractors.jl: an integer label per initial state (-1
for a trajectory that did not reach a steady state) and ``{label: fraction}``
summing to 1.  End states are named and clustered as the chunks arrive, in
start order (``naming.Labeller``), and the labels fixed once every chunk is
in, so they do not depend on how the ensemble was chunked or interrupted; with
``keep_states=False`` nothing of a start but its label, status, time and
energy outlives its chunk (memory bounded by the chunk, not the ensemble).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NamedTuple

import numpy as np
from pydantic import Field

from ..core.errors import AnalysisError
from ..core.patterns import LazyRows
from ..core.progress import phase
from ..model.checks import checked_call
from ..model.network import Network
from ..solvers.settings import SolveSettings
from ..solvers.trajectory import STATUSES
from .naming import Labeller, Naming, entry_fields
from .runner import CHUNKS, Chunking, chunk_size, finish_work, solve_ensemble
from .stats import METHODS, radius_of, wilson, wilson_of
from .verify import in_float64


# ------------------------------------------------------------------ labelling
@in_float64
def attractor_table(
    keys, labels, energies, x_end, network, classify: int = 32, method: str = "tsit5", representatives=None
) -> list[dict]:
    """One entry per attractor: label, kind, patterns, count, energy, and the
    stability of a representative end state (its first start's; the first 32
    attractors): of the ODE's fixed point, or against single flips for binary rules.

    **Arguments:**

    - ``keys``, ``labels``: what ``label_attractors`` returned
    - ``energies``: the end energy of each start
    - ``x_end``: ``{layer: end states}`` of every start (or ``None`` with ``representatives``)
    - ``network``: the ``Network``
    - ``classify``: how many attractors get a stability analysis
    - ``method``: the method that solved (binary rules: stability against single flips)
    - ``representatives``: per label, ``{layer: end state}`` of its first start
      (instead of every start's ``x_end``)
    """
    from ..solvers.discrete import flip_stability, free_layers
    from ..solvers.registry import get_method
    from .verify import fixed_point

    if method != "auto" and get_method(method).binary:
        layer = free_layers(network)[0]
        net64 = network.astype("float64")
        fixed_point = lambda net, x: flip_stability(net64, x, layer)  # noqa: E731

    out = []
    for lab, key in enumerate(keys):
        members = np.flatnonzero(labels == lab)
        e = energies[members]
        entry = {
            "label": lab,
            "kind": key[0],
            "count": int(len(members)),
            "energy": float(np.mean(e)),
            "energy_spread": float(np.max(e) - np.min(e)),
            "representative": int(members[0]),
        }
        entry.update(entry_fields(key))
        if lab < classify:
            rep_state = (
                representatives[lab] if representatives is not None else {k: v[members[0]] for k, v in x_end.items()}
            )
            fp = fixed_point(network, rep_state)
            entry["stability"] = fp["kind"]
            entry["unstable_directions"] = fp.get("unstable_directions", fp.get("unstable_units"))
        out.append(entry)
    return out


def fractions(labels: np.ndarray) -> dict[str, float]:
    """``{label: fraction}`` over every label present, -1 included; sums to 1.

    **Arguments:**

    - ``labels``: one integer label per start (-1: no steady state)
    """
    values, counts = np.unique(labels, return_counts=True)
    total = counts.sum()
    return {str(int(v)): float(c / total) for v, c in zip(values, counts)}


def fraction_intervals(labels: np.ndarray) -> dict[str, list[float]]:
    """``{label: [low, high]}``: the 95% Wilson interval of each fraction."""
    values, counts = np.unique(labels, return_counts=True)
    total = int(counts.sum())
    return {str(int(v)): list(wilson(int(c), total)) for v, c in zip(values, counts)}


def retrieval_curve(labels, keys, source, level) -> dict | None:
    """Per corruption level: the fraction of starts that ended at the pattern they
    were corrupted from (``source``; starts with ``level`` NaN are not corrupted
    patterns and are left out).

    **Arguments:**

    - ``labels``, ``keys``: what ``label_attractors`` returned
    - ``source``, ``level``: each start's source pattern and corruption level (NaN: not a corrupted pattern)
    """
    level = np.asarray(level, np.float64)
    corrupted = np.isfinite(level)
    if not np.any(corrupted):
        return None
    ok = np.array([lab >= 0 and keys[lab][0] == "pattern" and keys[lab][1] == src for lab, src in zip(labels, source)])
    levels = np.unique(level[corrupted])
    groups = [ok[corrupted & (level == lv)] for lv in levels]
    return {
        "corruption": levels.tolist(),
        "accuracy": [float(np.mean(g)) for g in groups],
        "starts": [int(g.size) for g in groups],
        "interval": [wilson_of(g) for g in groups],
        "basin_radius": basin_radius(ok, np.asarray(source), level),
    }


def basin_radius(ok, source, level) -> dict:
    """Per stored pattern: the largest corruption level retrieved with probability
    >= 1/2 (``radius``, interpolated between the levels tested), with an
    interval from where the 95% Wilson bounds of each level's fraction cross 1/2
    (pointwise bounds: an approximate interval).  ``censored``: retrieved at
    every level tested (the radius is at least the largest level)."""
    level = np.asarray(level, np.float64)
    corrupted = np.isfinite(level)
    levels = np.unique(level[corrupted])
    out = {"patterns": [], "radius": [], "interval": [], "censored": [], "method": ""}
    for pat in np.unique(source[corrupted]):
        rows = [ok[corrupted & (source == pat) & (level == lv)] for lv in levels]
        if any(r.size == 0 for r in rows):
            continue
        radius, interval, censored = radius_of(levels, rows)
        out["patterns"].append(int(pat))
        out["radius"].append(radius)
        out["interval"].append(interval)
        out["censored"].append(censored)
    out["method"] = "largest level retrieved with probability >= 1/2; interval where the Wilson bounds cross 1/2"
    return out


@in_float64
def _activations64(network: Network, layer: str, x: np.ndarray) -> np.ndarray:
    import jax

    neuron = network.astype("float64").neurons[layer]
    return np.asarray(jax.vmap(neuron.activation)(x))


def nearest_cosines(act, patterns) -> np.ndarray:
    """Per end activation (rows of ``act``), its largest |cosine| with a stored pattern."""
    from ..core.patterns import cosine_similarity

    return np.max(np.abs(cosine_similarity(act, np.asarray(patterns, np.float64))), axis=1)


class _Tally:
    """What ``basins`` keeps of each chunk as it arrives: per start its attractor
    (as ``Labeller.add`` found it), status, time, end energy, ``nearest`` (the
    largest |cosine| of its end activation with a stored pattern) and, when
    ``keep`` is set, its end state and activation; per attractor its first
    start, that start's end state and the running sum of its activations."""

    def __init__(self, keep: bool, patterns):
        self.keep, self.patterns = keep, patterns
        self.parts: list[dict] = []
        self.first: list[int] = []  # per attractor (order first met): its first start
        self.representatives: list[dict] = []  # ... that start's end state, every layer
        self._sums: list[np.ndarray] = []
        self._counts: list[int] = []
        self._offset, self._width = 0, 0

    def add(self, arrays: dict, x_end: dict, act: np.ndarray, found: np.ndarray) -> None:
        part = {"found": found, **{k: arrays[k] for k in ("status", "t_final", "energy_end")}}
        if self.patterns is not None:
            part["nearest"] = nearest_cosines(act, self.patterns)
        if self.keep:
            part["xhat_end"] = act
            part.update({f"x_end/{k}": v for k, v in x_end.items()})
        self.parts.append(part)
        self._width = act.shape[1]
        for f in np.unique(found[found >= 0]):  # attractors met for the first time come in order
            rows = found == f
            if f == len(self.first):
                j = int(np.argmax(rows))
                self.first.append(self._offset + j)
                self.representatives.append({k: np.array(v[j]) for k, v in x_end.items()})
                self._sums.append(np.zeros(self._width))
                self._counts.append(0)
            self._sums[f] += act[rows].sum(axis=0)
            self._counts[f] += int(rows.sum())
        self._offset += len(found)

    def per_start(self) -> dict:
        """Every per-start array, the chunks joined in start order."""
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}

    def mean_activations(self) -> np.ndarray:
        """``(attractors, n)``: the mean end activation of each attractor (order first met)."""
        if not self._sums:
            return np.zeros((0, self._width))
        return np.stack(self._sums) / np.asarray(self._counts, np.float64)[:, None]


# ------------------------------------------------------------------ the whole analysis
class Basins(NamedTuple):
    """What ``basins`` returns: ``report`` (the ``basins.json`` content: samples,
    layer, attractors, fractions, undecided, chunks) and ``arrays`` (per start:
    ``x0/<layer>`` (lazy starts, ``DrawnRows`` or ``StackedRows``, stay
    lazy with ``keep_states=False``; ``np.asarray`` reads them), ``labels``, ``t_final``, ``status``, ``energy_end``,
    ``nearest`` given patterns, and ``xhat_end/<layer>``, ``x_end/<layer>``
    unless ``keep_states=False``; per attractor ``attractors/x_end/<layer>``
    and ``attractors/xhat_mean/<layer>``).

    **Attributes:** ``report``, ``arrays``; ``labels``, ``fractions`` and
    ``attractors`` read from them.
    """

    report: dict
    arrays: dict

    @property
    def labels(self) -> np.ndarray:
        return self.arrays["labels"]

    @property
    def fractions(self) -> dict[str, float]:
        return self.report["fractions"]

    @property
    def attractors(self) -> list[dict]:
        return self.report["attractors"]

    def retrieval(self, source, level) -> dict | None:
        """Per corruption level, the fraction of starts that ended at the pattern
        they were corrupted from (``source``, ``level``: as ``corrupted_starts``
        returns them, NaN level for starts that are not corrupted patterns)."""
        return retrieval_curve(self.labels, [(a["kind"], a.get("pattern")) for a in self.attractors], source, level)


def basins(
    network: Network,
    starts,
    *,
    layer: str | None = None,
    base: dict | None = None,
    settings: SolveSettings | None = None,
    patterns=None,
    pattern_name: str | None = None,
    naming: Naming | None = None,
    chunking: Chunking | None = None,
    classify: Annotated[int, Field(ge=0, strict=True)] = 32,
    keep_states: Annotated[bool, Field(strict=True)] = True,
    on_chunk: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Basins | None:
    """Where the trajectories of ``network`` from an ensemble of initial states end.

    **Arguments:**

    - ``network``: the ``Network``.
    - ``starts``: ``(M, *shape)`` initial states of ``layer`` (or ``{layer: array}``);
      the other layers start from ``base`` (default zero).  Lazy rows
      (``random_starts(..., lazy=True)``, or a ``StackedRows`` of arrays and
      lazy parts) are read a chunk at a time.
    - ``settings``: how each trajectory is solved (default ``SolveSettings()``).
    - ``patterns``: ``(K, n)`` stored patterns that name attractors (pattern ``j``,
      its negation, sign mixtures, averages of the most similar patterns), called
      ``pattern_name`` in the report.
    - ``naming``: a ``Naming`` (the least cosine that names a state, the RMS
      distance that joins an unnamed cluster, the largest sign mixture tried,
      ``binarize``: compare ``sign(activation)``).
    - ``chunking``: a ``Chunking``: trajectories per compiled solve (default:
      bounded memory); the work folder where chunks are kept so that
      ``resume=True`` continues an interrupted study (``False`` discards it,
      ``None`` refuses it); slot refilling (``None``: decided after the first
      chunk, from how far its steps spread).
    - ``keep_states``: keep every start's end state and activation in
      ``arrays`` (``False``: a start keeps only its label, status, time and
      energy, so memory is bounded by the chunk, not the ensemble).
    - ``classify``: how many attractors get a stability analysis; ``base``:
      the other layers' start; ``on_chunk(done, total)`` reports progress and
      ``log(message)`` says what a resume found (a damaged chunk solved again).

    **Returns:**

    A ``Basins`` (``None`` on a worker process of a distributed run): the
    ``basins.json`` report (attractors, fractions with 95% Wilson intervals,
    outcomes) and arrays: per start its label, status, time, end energy,
    ``nearest`` (the largest |cosine| of its end activation with a stored
    pattern, given ``patterns``) and, with ``keep_states``, its end state and
    activation; per attractor (by label) ``attractors/x_end/<layer>``, its
    first start's end state, and ``attractors/xhat_mean/<layer>``, the mean
    activation of its end states.  The report
    counts the starts by how their solve ended (``outcomes``), with ``failed``
    (NaN, divergence) and ``max_steps`` apart from ``undecided`` (no steady
    state, whatever the reason).

    **Raises:**

    ``AnalysisError`` / ``NetworkError`` naming the argument (starts that are
    not numbers, an unknown layer, patterns of another width, a ``folder``
    that is a file, a negative or non-integer ``classify``, a ``keep_states``
    that is not a bool); on ``resume``, when the folder holds another study."""

    from ..model.checks import check_states
    from ..solvers.registry import get_method

    check_states(starts, "starts")
    if not isinstance(starts, dict):
        if layer is None:
            raise AnalysisError("name the layer the starts belong to", ("layer",))
        starts = {layer: starts}
    layer = layer or next(iter(starts))
    if layer not in starts:
        raise AnalysisError(f"no starts for layer {layer!r}", ("layer",))
    settings = settings or SolveSettings()
    x0 = starts[layer] if isinstance(starts[layer], LazyRows) else np.asarray(starts[layer], np.float64)
    if patterns is not None:
        patterns = np.asarray(patterns, np.float64).reshape(len(patterns), -1)
        if patterns.shape[1] != network.neurons[layer].size:
            raise AnalysisError(
                f"rows of {patterns.shape[1]} values do not fit layer {layer!r} of {network.neurons[layer].size} units",
                ("patterns",),
            )
    naming = naming or Naming()
    chunking = chunking or Chunking()
    method = settings.method
    binary = method != "auto" and get_method(method).binary  # the end states are the units' +-1 values
    labeller = Labeller(patterns, naming.overlap, naming.cluster, naming.mixtures, naming.margin)
    tally = _Tally(keep_states, patterns)

    def consume(i: int, arrays: dict) -> None:
        x_end = {k[len("x_end/") :]: v for k, v in arrays.items() if k.startswith("x_end/")}
        if binary:
            act = np.asarray(x_end[layer], np.float64).reshape(len(x_end[layer]), -1)
        else:
            act = _activations64(network, layer, np.asarray(x_end[layer], np.float64))
            act = act.reshape(len(act), -1)
        found = labeller.add(np.sign(act) if naming.binarize else act, arrays["status"])
        tally.add(arrays, x_end, act, found)

    done = solve_ensemble(network, {**starts, layer: x0}, base, settings, chunking, on_chunk, log=log, consume=consume)
    if done is None:
        return None
    res = tally.per_start()
    labels, keys = labeller.labels(res.pop("found"))
    by_label = np.empty(len(keys), np.int64)
    by_label[labels[tally.first]] = np.arange(len(keys))  # label -> its index in order first met
    with phase(f"stability of {min(len(keys), classify)} attractors"):
        attractors = attractor_table(
            keys,
            labels,
            res["energy_end"].astype(np.float64),
            None,
            network,
            classify=classify,
            method=method,
            representatives=[tally.representatives[f] for f in by_label],
        )
    size = chunk_size(network, len(x0), chunking.size)
    report = {
        "samples": int(len(x0)),
        "layer": layer,
        "patterns": pattern_name,
        "attractors": attractors,
        "fractions": fractions(labels),
        "fraction_intervals": fraction_intervals(labels),
        "interval_method": METHODS["fractions"],
        "undecided": int(np.sum(labels < 0)),
        "failed": int(np.sum(res["status"] == STATUSES.index("failed"))),
        "max_steps": int(np.sum(res["status"] == STATUSES.index("max_steps"))),
        "outcomes": {STATUSES[c]: int(n) for c, n in zip(*np.unique(res["status"], return_counts=True))},
        "chunks": {"size": size, "count": -(-len(x0) // size)},
    }
    arrays = {
        f"x0/{layer}": np.asarray(x0) if keep_states else x0,  # lazy rows stay unread
        "labels": labels,
        "t_final": res["t_final"],
        "status": res["status"],
        "energy_end": res["energy_end"],
    }
    if keep_states:
        arrays[f"xhat_end/{layer}"] = res.pop("xhat_end")
        arrays.update({k: v for k, v in res.items() if k.startswith("x_end/")})
    if "nearest" in res:
        arrays["nearest"] = res["nearest"]
    arrays[f"attractors/xhat_mean/{layer}"] = tally.mean_activations()[by_label]
    for k in tally.representatives[0] if keys else ():
        arrays[f"attractors/x_end/{k}"] = np.stack([tally.representatives[f][k] for f in by_label])
    if chunking.folder is not None:
        finish_work(chunking.folder, CHUNKS)  # done: the chunks are in the result
    return Basins(report, arrays)


basins = checked_call(basins, AnalysisError, skip=("settings", "naming", "chunking", "on_chunk", "log"))
