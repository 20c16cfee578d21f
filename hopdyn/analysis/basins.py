"""Attractor basins of a ``Network``: chunked, resumable batched solves of an
ensemble of initial states, attractor labels named in the language of
associative memory, basin fractions and retrieval curves.

The interface follows Attractors.jl: an integer label per initial state (-1
for a trajectory that did not reach a steady state) and ``{label: fraction}``
summing to 1.  Labels are assigned once, after every chunk is solved, so they
do not depend on how the ensemble was chunked or interrupted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..core.errors import AnalysisError
from ..core.io import write_npz
from ..core.progress import phase
from ..model.network import Network
from ..solvers.registry import AUTO
from ..solvers.settings import SolveSettings
from ..solvers.simulate import simulate
from ..solvers.stiffness import resolve_auto
from ..solvers.trajectory import STATUSES
from .naming import entry_fields, label_attractors
from .stats import METHODS, wilson, wilson_of
from .verify import in_float64

STEADY = STATUSES.index("steady_state")
MEMORY_BUDGET = 256 * 2**20  # bytes of solver state per chunk


# ------------------------------------------------------------------ chunked solving
def chunk_size(network: Network, total: int, chunk: int | None = None) -> int:
    """Trajectories per compiled solve: ``chunk`` when given, else as many as keep
    a chunk's solver state under ``MEMORY_BUDGET`` and a quarter of the memory
    budget (``core.budget``)."""
    from ..core.budget import budget

    if chunk:
        return int(min(chunk, total))
    state = sum(n.size for n in network.neurons.values())
    per_member = 8 * state * 40  # stages, error estimate, controller and saved rows, with margin
    limit = min(MEMORY_BUDGET, budget() // 4)
    return int(max(1, min(4096, total, limit // per_member)))


def fingerprint(network: Network, starts: dict, base: dict, settings: SolveSettings, chunk: int) -> str:
    """What a resumed ensemble must share with the interrupted one: the network's
    arrays and structure, the starts, the other layers' states, the settings and
    the chunk size."""
    import jax

    h = hashlib.sha256()
    leaves, treedef = jax.tree.flatten(network)
    h.update(str(jax.tree.map(lambda a: (np.shape(a), str(np.asarray(a).dtype)), leaves)).encode())
    h.update(repr((type(network).__name__, [type(s).__name__ for s in network.synapses], network.names)).encode())
    for leaf in leaves:
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    for d in (starts, base):
        for k in sorted(d):
            h.update(k.encode())
            h.update(np.ascontiguousarray(np.asarray(d[k], np.float64)).tobytes())
    h.update(repr(settings).encode())
    h.update(str(chunk).encode())
    return h.hexdigest()


def solve_ensemble(
    network: Network,
    starts: dict[str, np.ndarray],
    base: dict | None = None,
    settings: SolveSettings | None = None,
    chunk: int | None = None,
    folder: str | None = None,
    resume: bool | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    wait_seconds: float = 86400.0,
    log: Callable[[str], None] | None = None,
    refill: bool | None = None,
) -> dict[str, np.ndarray] | None:
    """Solve every start (``starts``: ``{layer: (M, *shape)}``; the other layers
    start from ``base``, unbatched, default zero) in chunks of one compiled,
    batched solve each, keeping only the end of each trajectory.  With
    ``folder``, each chunk's end states go to ``folder/chunk_<i>.npz`` as soon
    as it is done, so ``resume=True`` continues an interrupted run where it
    stopped: every chunk file records its index, the run's fingerprint and a
    checksum of its arrays, and one that fails them is solved again (and said
    so through ``log``).  Returns ``status``, ``t_final``, ``energy_end`` and
    ``x_end/<layer>`` per start (``None`` on a worker of a distributed run).

    **Arguments:**

    - ``network``: the ``Network``
    - ``starts``: ``{layer: (M, *shape)}``
    - ``base``: the other layers' start
    - ``settings``: how each trajectory is solved
    - ``chunk``: trajectories per compiled solve
    - ``folder``, ``resume``: kept chunks and continuing from them
    - ``on_chunk``, ``log``: progress and what a resume found
    - ``wait_seconds``: how long a distributed run waits for other processes' chunks
    - ``refill``: slot refilling (``None``: decided once per study)
    """
    import jax

    settings = dataclasses.replace(settings or SolveSettings(), save=2)
    layers = list(starts)
    if not layers:
        raise AnalysisError("expected at least one layer's starts", ("starts",))
    unknown = [k for k in [*layers, *(base or {})] if k not in network.neurons]
    if unknown:
        raise AnalysisError(f"unknown neuron {unknown[0]!r} (neurons: {', '.join(network.names)})", ("starts",))
    total = len(next(iter(starts.values())))
    if any(len(v) != total for v in starts.values()):
        raise AnalysisError("every layer needs the same number of starts", ("starts",))
    base = {
        n: np.asarray((base or {}).get(n, np.zeros(network.neurons[n].shape)), np.float64)
        for n in network.names
        if n not in starts
    }
    chunk = chunk_size(network, total, chunk)
    n_chunks = -(-total // chunk)
    lead = jax.process_index() == 0  # under jax.distributed, process 0 prepares the folder
    say = log or (lambda message: None)
    work = None
    if folder is not None:
        from ..core.outputs import WorkFolder

        if not lead:
            _wait_for_files([os.path.join(folder, "manifest.json")], wait_seconds)
        work = WorkFolder(folder, CHUNKS, fingerprint(network, starts, base, settings, chunk), resume, lead=lead)
        if work.problem:
            say(work.problem)
    fp = work.identity if work is not None else ""
    if settings.method == AUTO:  # chosen once per study (and replayed on resume): every chunk runs one solve
        recorded = work.choice("method") if work is not None else None
        if isinstance(recorded, dict):
            settings = dataclasses.replace(settings, **recorded)
        else:
            settings, picked = resolve_auto(network.astype(settings.dtype or network.dtype),
                                            first_start(network, starts, base, settings), settings)  # fmt: skip
            say(
                f"method auto: {picked.method} for every start (stiffness ratio "
                f"{picked.report['stiffness_ratio']:.3g} at the first start)"
            )
            if work is not None and lead:
                work.record("method", {k: getattr(settings, k) for k in ("method", "pcoeff", "icoeff", "dtmax")})

    def solve_chunk(i: int, decides: bool = False):
        n = min(chunk, total - i * chunk)
        x0 = {k: np.broadcast_to(v, (chunk,) + v.shape) for k, v in base.items()}
        for k, v in starts.items():
            part = np.asarray(v[i * chunk : (i + 1) * chunk])
            if n < chunk:  # pad to the compiled batch size; the padding is dropped below
                part = np.concatenate([part, np.repeat(part[-1:], chunk - n, axis=0)])
            x0[k] = part
        # a fresh seed per chunk: asynchronous rules draw other update orders
        tr = simulate(network, x0, dataclasses.replace(settings, seed=settings.seed + i))
        arrays = {
            "status": np.asarray(tr.status)[:n],
            "t_final": np.asarray(tr.t_final)[:n],
            "energy_end": np.asarray(tr.final_energy)[:n],
        }
        for k, v in tr.final_state.items():
            arrays[f"x_end/{k}"] = np.asarray(v)[:n]
        # the study's choice is recorded before the chunk is kept: a kept chunk 0 implies it
        use = decide(np.asarray(tr.n_steps)[:n]) if decides else None
        if work is not None:
            _write_chunk(work.where(f"chunk_{i:05d}.npz"), i, fp, arrays)
        return (arrays, use) if decides else arrays

    def saved(i: int) -> dict | None:
        """Chunk ``i`` from the folder if it is there and sound (else ``None``, said why)."""
        path = work.existing(f"chunk_{i:05d}.npz")
        if path is None:
            return None
        arrays, problem = _read_chunk(path, i, fp)
        if problem:
            say(f"chunk {i} ({path}) {problem}: solving it again")
            work.remove(f"chunk_{i:05d}.npz")
        return arrays

    def decide(steps) -> bool:
        """Refill slots when the first chunk's steps spread (the choice of the study)."""
        use = float(np.max(steps)) >= REFILL_SPREAD * max(1.0, float(np.median(steps)))
        say(
            f"steps per start in the first chunk: median {np.median(steps):.0f}, max {np.max(steps)}: "
            + ("refilling slots for the rest" if use else "lock-step chunks")
        )
        if work is not None:
            work.record("refill", bool(use))
        return use

    from ..solvers import slots as S
    from ..solvers.sharding import my_chunks

    parts = {}
    mine = list(my_chunks(n_chunks))
    todo = []
    for i in mine:
        got = saved(i) if work is not None else None
        if got is not None:
            parts[i] = got
            if on_chunk:
                on_chunk(len(parts), n_chunks)
        else:
            todo.append(i)
    if work is not None and len(parts):
        say(f"resumed: {len(parts)} of {len(mine)} chunks read from {folder}")
    use = refill if refill is not None else False
    if refill is None and S.supported(settings, network) and n_chunks > 1:
        # auto: the study's first chunk in lock-step, slots for the rest when its steps
        # spread; decided once per study, recorded, and replayed on resume
        recorded = work.choice("refill") if work is not None else None
        if recorded is None and not lead:
            recorded = _wait_for_choice(work, "refill", wait_seconds)
        if recorded is not None:
            use = bool(recorded)
        elif 0 in todo:
            todo.remove(0)
            parts[0], use = solve_chunk(0, decides=True)
            if on_chunk:
                on_chunk(len(parts), n_chunks)
    if use and todo and S.supported(settings, network):
        parts.update(
            _solve_refilled(
                network, starts, base, settings, chunk, todo, total, work, fp, on_chunk, n_chunks, len(parts)
            )
        )
        todo = []
    for i in todo:
        parts[i] = solve_chunk(i)
        if on_chunk:
            on_chunk(len(parts), n_chunks)
    if not lead:
        return None  # process 0 gathers the chunks
    if folder is not None:
        _wait_for_files([os.path.join(folder, f"chunk_{i:05d}.npz") for i in range(n_chunks)], wait_seconds)
        for i in range(n_chunks):
            if i not in parts:  # another process's chunk: checked like our own
                parts[i] = saved(i) or solve_chunk(i)
    keys = list(parts[0])
    return {k: np.concatenate([parts[i][k] for i in range(n_chunks)]) for k in keys}


CHUNKS = r"chunk_\d{5}\.npz"


def finish_work(folder: str, pattern: str) -> None:
    """Remove a finished study's partial files (only those, and the folder only if hopdyn made it)."""
    from ..core.outputs import WorkFolder

    WorkFolder(folder, pattern, "", lead=False).finish()


REFILL_SPREAD = 2.0
"""``refill=None`` (auto) refills slots when the first chunk's slowest start
took at least this many times the median steps."""


def _solve_refilled(network, starts, base, settings, chunk, todo, total, work, fp, on_chunk, n_chunks, done_before):
    """The chunks ``todo`` solved in ``chunk`` slots that are refilled as starts
    finish (``solvers.slots``); each chunk's arrays are written (and reported)
    as soon as all its starts are done, as the lock-step path does."""
    from ..solvers.slots import solve_in_slots

    members = np.concatenate([np.arange(i * chunk, min(total, (i + 1) * chunk)) for i in todo])
    net = network.astype(settings.dtype or network.dtype)
    x0 = {k: np.broadcast_to(v, (len(members),) + v.shape) for k, v in base.items()}
    x0.update({k: np.asarray(v)[members] for k, v in starts.items()})
    x0 = {k: np.asarray(v) for k, v in net.init_state(x0).items()}
    owner = np.repeat(np.arange(len(todo)), [min(total, (i + 1) * chunk) - i * chunk for i in todo])
    left = {j: int(np.sum(owner == j)) for j in range(len(todo))}
    parts = {}

    def arrays_of(rows, out):
        a = {"status": out["status"][rows], "t_final": out["t_final"][rows], "energy_end": out["energy_end"][rows]}
        a.update({k: v[rows] for k, v in out.items() if k.startswith("x_end/")})
        return a

    def on_done(ended, out):
        for j in np.unique(owner[ended]):
            left[j] -= int(np.sum(owner[ended] == j))
            if left[j] == 0:
                i = todo[j]
                parts[i] = arrays_of(np.flatnonzero(owner == j), out)
                if work is not None:
                    _write_chunk(work.where(f"chunk_{i:05d}.npz"), i, fp, parts[i])
                if on_chunk:
                    on_chunk(done_before + len(parts), n_chunks)

    solve_in_slots(net, x0, settings, chunk, on_done=on_done)
    return parts


def _wait_for_choice(work, key: str, seconds: float):
    """A choice process 0 records (another process of a distributed run waits for it)."""
    import time

    deadline = time.monotonic() + seconds
    while work is not None:
        value = (work.reread().get("choices") or {}).get(key)
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(1.0)
    return None


def first_start(network, starts: dict, base: dict, settings) -> dict:
    """An ensemble's first start as a full state (what ``auto`` is measured on:
    one choice for the whole ensemble, since a choice per chunk could differ
    between chunks and compile each solve twice)."""
    dtype = settings.dtype or network.dtype
    net = network.astype(dtype)
    return net.init_state({**(base or {}), **{k: np.asarray(v[0]) for k, v in starts.items()}}, dtype=dtype)


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _write_chunk(path: str, i: int, fp: str, arrays: dict) -> None:
    """A chunk file that says which chunk of which run it is, and checks itself."""
    write_npz(
        path,
        {
            **arrays,
            "meta/index": np.int64(i),
            "meta/fingerprint": np.str_(fp),
            "meta/checksum": np.str_(_checksum(arrays)),
        },
    )


def _read_chunk(path: str, i: int, fp: str) -> tuple[dict | None, str | None]:
    """The arrays of a saved chunk, or why it cannot be used."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # a truncated or foreign file: zipfile, numpy and OS errors vary
        return None, f"cannot be read ({type(e).__name__})"
    meta = {k: data.pop(k) for k in ("meta/index", "meta/fingerprint", "meta/checksum") if k in data}
    if len(meta) != 3:
        return None, "carries no index or checksum"
    if int(meta["meta/index"]) != i:
        return None, f"holds chunk {int(meta['meta/index'])}, not {i}"
    if str(meta["meta/fingerprint"]) != fp:
        return None, "belongs to another run"
    if str(meta["meta/checksum"]) != _checksum(data):
        return None, "does not match its checksum"
    return data, None


def _wait_for_files(paths: list[str], seconds: float) -> None:
    """Wait until every file exists (other processes write them), or fail."""
    import time

    from ..core.errors import HopdynError

    deadline = time.monotonic() + seconds
    while True:
        missing = [p for p in paths if not os.path.isfile(p)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise HopdynError(
                f"basins: {len(missing)} chunk files never appeared (first: {missing[0]}); "
                "did every process of the distributed run start?"
            )
        time.sleep(1.0)


# ------------------------------------------------------------------ labelling
@in_float64
def attractor_table(keys, labels, energies, x_end, network, classify: int = 32, method: str = "tsit5") -> list[dict]:
    """One entry per attractor: label, kind, patterns, count, energy, and the
    stability of a representative end state (the first 32 attractors): of the
    ODE's fixed point, or against single flips for binary rules.

    **Arguments:**

    - ``keys``, ``labels``: what ``label_attractors`` returned
    - ``energies``: the end energy of each start
    - ``x_end``: ``{layer: end states}``
    - ``network``: the ``Network``
    - ``classify``: how many attractors get a stability analysis
    - ``method``: the method that solved (binary rules: stability against single flips)
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
            fp = fixed_point(network, {k: v[members[0]] for k, v in x_end.items()})
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


def _half_crossing(levels: np.ndarray, p: np.ndarray) -> tuple[float | None, bool]:
    """The largest corruption level at which ``p`` (by level) is still >= 1/2:
    interpolated linearly where it first falls below 1/2; ``(max level, True)``
    when it never does (a lower bound), ``(None, False)`` when it is below 1/2
    from the smallest level on."""
    below = np.flatnonzero(p < 0.5)
    if below.size == 0:
        return float(levels[-1]), True
    i = int(below[0])
    if i == 0:
        return None, False
    l0, l1, p0, p1 = levels[i - 1], levels[i], p[i - 1], p[i]
    return float(l0 + (p0 - 0.5) * (l1 - l0) / (p0 - p1)), False


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
        bounds = np.array([wilson_of(r) for r in rows])
        radius, censored = _half_crossing(levels, np.array([r.mean() for r in rows]))
        low, _ = _half_crossing(levels, bounds[:, 0])
        high, _ = _half_crossing(levels, bounds[:, 1])
        out["patterns"].append(int(pat))
        out["radius"].append(radius)
        out["interval"].append([low, high])
        out["censored"].append(censored)
    out["method"] = "largest level retrieved with probability >= 1/2; interval where the Wilson bounds cross 1/2"
    return out


@in_float64
def _activations64(network: Network, layer: str, x: np.ndarray) -> np.ndarray:
    import jax

    neuron = network.astype("float64").neurons[layer]
    return np.asarray(jax.vmap(neuron.activation)(x))


# ------------------------------------------------------------------ the whole analysis
class Basins(NamedTuple):
    """What ``basins`` returns: ``report`` (the ``basins.json`` content: samples,
    layer, attractors, fractions, undecided, chunks) and ``arrays`` (per start:
    ``x0/<layer>``, ``xhat_end/<layer>``, ``x_end/<layer>``, ``labels``,
    ``t_final``, ``status``, ``energy_end``).

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
    overlap: float = 0.95,
    cluster: float = 0.05,
    mixtures: int = 5,
    binarize: bool = False,
    chunk: int | None = None,
    folder: str | None = None,
    resume: bool | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    classify: int = 32,
    log: Callable[[str], None] | None = None,
    refill: bool | None = None,
) -> Basins | None:
    """Where the trajectories of ``network`` from an ensemble of initial states end.

    **Arguments:**

    - ``network``: the ``Network``.
    - ``starts``: ``(M, *shape)`` initial states of ``layer`` (or ``{layer: array}``);
      the other layers start from ``base`` (default zero).
    - ``settings``: how each trajectory is solved (default ``SolveSettings()``).
    - ``patterns``: ``(K, n)`` stored patterns that name attractors (pattern ``j``,
      its negation, sign mixtures, metastable averages); end states matching none
      are clustered at RMS distance ``cluster``.  ``binarize`` compares
      ``sign(activation)``.
    - ``chunk``: trajectories per compiled solve (default: bounded memory);
      ``folder``: where chunks are kept so that ``resume=True`` continues an
      interrupted study; ``on_chunk(done, total)`` reports progress and
      ``log(message)`` says what a resume found (a damaged chunk solved again).
    - ``refill``: solve in slots refilled as starts finish (``solvers.slots``)
      instead of lock-step chunks; ``None`` (auto) decides after the first
      chunk, from how far its steps spread.
    - ``overlap``, ``cluster``, ``mixtures``: how end states are named (the
      cosine that names a pattern, the RMS distance that joins an unnamed
      cluster, the largest sign mixture tried); ``classify``: how many
      attractors get a stability analysis; ``base``: the other layers' start.

    **Returns:**

    A ``Basins`` (``None`` on a worker process of a distributed run): the
    ``basins.json`` report (attractors, fractions with 95% Wilson intervals,
    outcomes) and per-start arrays (labels, end states, statuses).  The report
    counts the starts by how their solve ended (``outcomes``), with ``failed``
    (NaN, divergence) and ``max_steps`` apart from ``undecided`` (no steady
    state, whatever the reason).

    **Raises:**

    ``AnalysisError`` / ``NetworkError`` naming the argument (starts that are
    not numbers, an unknown layer, patterns of another width, a ``folder``
    that is a file); on ``resume``, when the folder holds another study."""

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
    x0 = np.asarray(starts[layer], np.float64)
    if patterns is not None:
        patterns = np.asarray(patterns, np.float64).reshape(len(patterns), -1)
        if patterns.shape[1] != network.neurons[layer].size:
            raise AnalysisError(
                f"rows of {patterns.shape[1]} values do not fit layer {layer!r} of {network.neurons[layer].size} units",
                ("patterns",),
            )
    res = solve_ensemble(
        network, {**starts, layer: x0}, base, settings, chunk, folder, resume, on_chunk, log=log, refill=refill
    )
    if res is None:
        return None
    x_end = {k[len("x_end/") :]: v for k, v in res.items() if k.startswith("x_end/")}
    method = settings.method
    if method != "auto" and get_method(method).binary:  # the end states are the units' +-1 values
        act = np.asarray(x_end[layer], np.float64).reshape(len(x0), -1)
    else:
        act = _activations64(network, layer, np.asarray(x_end[layer], np.float64))
        act = act.reshape(len(act), -1)
    cmp = np.sign(act) if binarize else act
    with phase(f"labelling {len(cmp)} end states"):
        labels, keys = label_attractors(cmp, res["status"], patterns, overlap, cluster, mixtures)
    with phase(f"stability of {min(len(keys), classify)} attractors"):
        attractors = attractor_table(
            keys, labels, res["energy_end"].astype(np.float64), x_end, network, classify=classify, method=method
        )
    size = chunk_size(network, len(x0), chunk)
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
        f"x0/{layer}": x0,
        f"xhat_end/{layer}": act,
        "labels": labels,
        "t_final": res["t_final"],
        "status": res["status"],
        "energy_end": res["energy_end"],
    }
    arrays.update({f"x_end/{k}": v for k, v in x_end.items()})
    if folder is not None:
        finish_work(folder, CHUNKS)  # done: the chunks are in the result
    return Basins(report, arrays)
