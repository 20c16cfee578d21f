"""Attractors across a parameter (global continuation, as in Attractors.jl):
the basin ensemble at each value of one parameter, with attractors matched
from one value to the next so each keeps one id over the range.

The work is split so that a scenario (which rebuilds its network from a
``--set``-style override per value) and ``continuation`` (one array of a
``Network``) share everything but the solve:

- ``summarise(basins, layer, patterns)``: what continuation keeps of one
  value's ensemble (labels per start, each attractor's mean end state and
  energy range, each end state's overlap with its nearest stored pattern);
- ``sweep(n, solve)``: the values one after another, each summary written to
  a folder as soon as it is done so an interrupted sweep resumes;
- ``match(summaries)``: ids over the range.  Named attractors (a stored
  pattern, its negation, a mixture or metastable average of given patterns)
  continue by identity; unnamed ones (``other``) by basin overlap (the Jaccard
  index of the sets of starts that went to each, when both values ran the
  same starts) or by the distance between their mean end states, greedily,
  best overlap first;
- ``report(values, summaries)``: ``continuation.json``'s content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np

from ..core.errors import AnalysisError
from ..model.network import Network
from .basins import Basins, basins, nearest_cosines
from .naming import KINDS as NAMED_KINDS
from .naming import identity
from .runner import fingerprint, finish_work, pieces, rows_bytes
from .stats import METHODS, wilson

MATCHING = (
    "named attractors by identity; unnamed ones by basin overlap (Jaccard index of their starts, "
    "same starts only) >= min_overlap or distance of mean end states (relative to the larger norm, "
    "at least 1) <= distance, greedily by overlap"
)
SOLVES = ("hopdyn.solvers.simulate._run", "hopdyn.solvers.discrete._run")
KINDS = (*NAMED_KINDS, "undecided")


# ------------------------------------------------------------------ one value
def program(network: Network, starts, settings=None) -> str:
    """A hash of what decides the compiled solve: the network's structure and
    static data, its arrays' shapes and dtypes, the starts' shapes and the
    settings.  Two values with the same hash run one program; a parameter that
    changes it (a shape, a static field, a setting) compiles per value."""
    import equinox as eqx
    import jax

    dynamic, static = eqx.partition(network, eqx.is_array)
    leaves, treedef = jax.tree.flatten(dynamic)
    parts = [
        repr(treedef),
        repr(jax.tree.structure(static)),
        repr(jax.tree.leaves(static)),
        repr([(np.shape(x), str(x.dtype)) for x in leaves]),
        repr({k: np.shape(v) for k, v in (starts if isinstance(starts, dict) else {"": starts}).items()}),
        repr(settings),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def summarise(b: Basins, layer: str, patterns=None, program: str = "") -> dict:
    """What continuation keeps of one value's basin ensemble ``b``: the
    attractors (as ``basins`` names them), ``labels`` per start, ``states``
    (each attractor's mean end state, activations of ``layer``),
    ``energy_ranges`` (lowest and highest energy over its end states),
    ``nearest`` (each end state's largest |cosine| with a stored pattern, empty
    without ``patterns``), a hash of the starts (basin overlap is only
    measured between values that ran the same starts) and ``program``
    (``program``'s hash: which values share a compiled solve)."""
    labels = np.asarray(b.labels, np.int64)
    energy = np.asarray(b.arrays["energy_end"], np.float64)
    atts = [dict(a) for a in b.attractors]
    states = np.asarray(b.arrays[f"attractors/xhat_mean/{layer}"], np.float64)  # by label, as atts
    ranges = []
    for a in atts:
        e = energy[labels == a["label"]]
        ranges.append([float(e.min()), float(e.max())])
    if patterns is None:
        nearest = np.zeros(0)
    elif "nearest" in b.arrays:  # basins measured it with the same patterns, chunk by chunk
        nearest = np.asarray(b.arrays["nearest"], np.float64)
    else:  # a Basins made without them
        nearest = nearest_cosines(np.asarray(b.arrays[f"xhat_end/{layer}"]).reshape(len(labels), -1), patterns)
    x0 = b.arrays[f"x0/{layer}"]
    digest = hashlib.sha256(rows_bytes(x0))
    digest.update(str(np.shape(x0)).encode())
    return {
        "attractors": atts,
        "labels": labels,
        "states": states,
        "energy_ranges": ranges,
        "nearest": nearest,
        "starts": digest.hexdigest(),
        "samples": int(len(labels)),
        "program": program,
    }


def _to_file(s: dict) -> dict:
    meta = {k: s[k] for k in ("attractors", "energy_ranges", "starts", "samples", "program")}
    return {
        "labels": s["labels"],
        "states": s["states"],
        "nearest": s["nearest"],
        "meta/summary": np.str_(json.dumps(meta)),
    }


def _from_file(arrays: dict) -> dict:
    s = json.loads(str(arrays["meta/summary"]))
    s.update(labels=arrays["labels"], states=arrays["states"], nearest=arrays["nearest"])
    return s


# ------------------------------------------------------------------ the values, resumable
VALUES = r"value_\d{4}\.npz"


def sweep(
    n: int,
    solve: Callable[[int], dict],
    *,
    folder: str | None = None,
    resume: bool | None = None,
    identity: str = "",
    on_value: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    wait_seconds: float = 24 * 3600.0,
) -> list[dict] | None:
    """``solve(i)`` (a ``summarise`` dict) for ``i`` in ``range(n)``, each kept
    in ``folder/value_<i>.npz`` as soon as it is done, resumable and shared
    between processes (``runner.pieces``: of several, each solves every
    ``count``-th value, its ensemble whole, and process 0 returns them all,
    the others ``None``)."""
    from ..solvers.compile import CompileLog

    say = log or (lambda message: None)

    def one(i: int) -> dict:
        with CompileLog() as clog:
            got = solve(i)
        if i and any(s["function"] in SOLVES for s in clog.solves):
            say(f"value {i + 1} compiled its own solve")
        return got

    return pieces(
        n,
        one,
        name="value_{:04d}.npz",
        pattern=VALUES,
        to_file=_to_file,
        from_file=_from_file,
        folder=folder,
        resume=resume,
        identity=identity,
        on_piece=on_value,
        log=log,
        wait_seconds=wait_seconds,
        what="value",
        changed="the scenario, parameter or values changed since the interrupted run; run without resuming",
    )


# ------------------------------------------------------------------ matching
def match(summaries: list[dict], distance: float = 0.1, min_overlap: float = 0.5) -> tuple[list[list[int]], list]:
    """Ids for the attractors of each summary (``ids[i][k]``: the id of the
    ``k``-th attractor at value ``i``), and per id the attractor entry it was
    first seen as.  An id continues only from the value just before (an
    attractor that vanishes and reappears gets a new id)."""
    ids: list[list[int]] = []
    first: list[dict] = []
    alive: dict[int, dict] = {}  # id -> {name, members, state} at the previous value
    prev_starts = None
    for s in summaries:
        labels = s["labels"]
        current = []
        for k, a in enumerate(s["attractors"]):
            current.append(
                {
                    "k": k,
                    "name": identity(a),
                    "members": set(np.flatnonzero(labels == a["label"]).tolist()),
                    "state": np.asarray(s["states"][k], np.float64),
                    "id": None,
                }
            )
        named = {t["name"]: i for i, t in alive.items() if t["name"] is not None}
        for c in current:
            if c["name"] is not None and c["name"] in named:
                c["id"] = named[c["name"]]
        same_starts = s["starts"] == prev_starts
        pairs = []
        for c in current:
            if c["name"] is not None:
                continue
            for i, t in alive.items():
                if t["name"] is not None:
                    continue
                jaccard = 0.0
                if same_starts:
                    jaccard = len(c["members"] & t["members"]) / max(1, len(c["members"] | t["members"]))
                scale = max(1.0, float(np.linalg.norm(c["state"])), float(np.linalg.norm(t["state"])))
                d = float(np.linalg.norm(c["state"] - t["state"])) / scale
                if jaccard >= min_overlap or d <= distance:
                    pairs.append((-jaccard, d, c["k"], i))
        taken_ids, taken = set(), set()
        for _, _, k, i in sorted(pairs):
            if k in taken or i in taken_ids:
                continue
            current[k]["id"] = i
            taken.add(k)
            taken_ids.add(i)
        for c in current:
            if c["id"] is None:
                c["id"] = len(first)
                first.append(s["attractors"][c["k"]])
        ids.append([c["id"] for c in current])
        alive = {c["id"]: c for c in current}
        prev_starts = s["starts"]
    return ids, first


def report(values: list, summaries: list[dict], distance: float = 0.1, min_overlap: float = 0.5) -> dict:
    """``continuation.json``'s content: ``values``; ``attractors`` (``id``,
    ``kind``, ``pattern``/``patterns``/``signs``, ``first``/``last`` value it
    exists at, ``present`` per value); per value and id ``fractions`` with
    ``intervals`` (95% Wilson over starts), ``energies`` (mean over the
    attractor's end states) with ``energy_ranges`` (lowest, highest), ``None``
    where the attractor is absent; ``census``: per value the share of starts
    by kind (pattern, negated, mixture, metastable, other, undecided);
    ``events``: between which values attractors appear and vanish; ``undecided``, ``samples`` and the solve
    programs each value ``compiled`` (``recompiles``: whether any value after
    the first compiled one)."""
    ids, first = match(summaries, distance, min_overlap)
    n_ids = len(first)

    def table(fn):
        rows = []
        for s, row_ids in zip(summaries, ids):
            row = [None] * n_ids
            for k, i in enumerate(row_ids):
                row[i] = fn(s, k)
            rows.append(row)
        return rows

    def count(s, k):
        return int(np.sum(s["labels"] == s["attractors"][k]["label"]))

    attractors = []
    for i, a in enumerate(first):
        present = [i in row for row in ids]
        where = np.flatnonzero(present)
        entry = {"id": i, "kind": a["kind"]}
        entry.update({k: a[k] for k in ("pattern", "patterns", "signs") if k in a})
        entry.update(first=values[int(where[0])], last=values[int(where[-1])], present=present)
        attractors.append(entry)
    programs = [s.get("program", "") for s in summaries]
    census = []
    for s in summaries:  # the share of starts by kind of attractor (negated patterns: ghosts)
        kinds = {a["label"]: a["kind"] for a in s["attractors"]}
        row = dict.fromkeys(KINDS, 0)
        for lab, n in zip(*np.unique(s["labels"], return_counts=True)):
            row[kinds.get(int(lab), "undecided")] += int(n)
        census.append({k: n / s["samples"] for k, n in row.items()})
    events = []
    for i in range(1, len(values)):
        appear = [a["id"] for a in attractors if a["present"][i] and not a["present"][i - 1]]
        vanish = [a["id"] for a in attractors if a["present"][i - 1] and not a["present"][i]]
        if appear or vanish:
            events.append({"between": [values[i - 1], values[i]], "appear": appear, "vanish": vanish})
    return {
        "values": values,
        "attractors": attractors,
        "fractions": table(lambda s, k: count(s, k) / s["samples"]),
        "intervals": table(lambda s, k: list(wilson(count(s, k), s["samples"]))),
        "interval_method": METHODS["fractions"],
        "energies": table(lambda s, k: s["attractors"][k]["energy"]),
        "energy_ranges": table(lambda s, k: s["energy_ranges"][k]),
        "census": census,
        "events": events,
        "undecided": [int(np.sum(s["labels"] < 0)) for s in summaries],
        "samples": [s["samples"] for s in summaries],
        "matching": {"distance": distance, "min_overlap": min_overlap, "method": MATCHING},
        "programs": len(dict.fromkeys(programs)),
        "recompiles": len(set(programs)) > 1,
    }


def id_arrays(summaries: list[dict], ids: list[list[int]] | None = None) -> dict[str, np.ndarray]:
    """Per value ``i``: ``ids/<i>`` (each start's attractor id, -1 undecided) and
    ``nearest/<i>`` (its end state's overlap with the nearest stored pattern)."""
    ids = ids if ids is not None else match(summaries)[0]
    out = {}
    for i, (s, row) in enumerate(zip(summaries, ids)):
        lut = {a["label"]: row[k] for k, a in enumerate(s["attractors"])}
        out[f"ids/{i}"] = np.array([lut.get(int(lab), -1) for lab in s["labels"]], np.int64)
        out[f"nearest/{i}"] = np.asarray(s["nearest"], np.float64)
    return out


# ------------------------------------------------------------------ one array of a network
def continuation(
    network: Network,
    where: Callable[[Network], object],
    values,
    starts: dict,
    *,
    layer: str,
    transform: Callable | None = None,
    distance: float = 0.1,
    min_overlap: float = 0.5,
    folder: str | None = None,
    resume: bool | None = None,
    on_value: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    **basins_options,
) -> dict:
    """The basin ensemble ``starts`` at each of ``values`` of one array of
    ``network``, with attractors matched across values (``match``).

    **Arguments:**

    - ``network``: the ``Network``.
    - ``where``: picks the array out of the network, ``eqx.tree_at`` style
      (``lambda n: n.synapses[0].beta``): every value runs one compiled solve.
    - ``values``: the parameter's values (finite numbers, or arrays of its shape).
    - ``starts``: ``{layer: (M, *shape)}`` or an array of ``layer``'s starts.
    - ``layer``: the layer whose activations name and match attractors.
    - ``transform``: makes the array from a value when it is not the array itself.
    - ``distance``, ``min_overlap``: unnamed attractors continue when their mean
      end states lie within ``distance`` (relative to the larger norm, at least
      1) or their basins overlap by at least ``min_overlap``.
    - ``folder``, ``resume``: each value is kept as it is done, and
      ``resume=True`` continues an interrupted sweep (only the sweep's own
      files are ever removed there).
    - ``on_value``, ``log``: progress and what a resume found.
    - other keyword arguments go to ``hd.basins`` (``settings``, ``patterns``...).

    **Returns:**

    ``report``'s dict (values, attractors with ids and where they exist,
    fractions with intervals, energies, census, events) plus ``arrays``
    (``id_arrays``: per-start ids per value); ``None`` on a process other
    than 0 of a distributed run (it solves every ``count``-th value and writes
    it to ``folder``, where process 0 reads it).

    **Raises:**

    ``AnalysisError`` naming the argument (``values`` that are not finite
    numbers or do not fit the array, a ``where`` that selects no array)."""
    import equinox as eqx
    import jax.numpy as jnp

    values = list(values)
    if not values:
        raise AnalysisError("expected at least one parameter value", ("values",))
    try:
        leaf = where(network)
    except Exception as e:  # noqa: BLE001  a path that does not exist: one clear line
        raise AnalysisError(f"cannot select the parameter: {e}", ("where",)) from None
    if not eqx.is_array(leaf):
        raise AnalysisError(f"expected the parameter to be an array, got {type(leaf).__name__}", ("where",))
    shape, dtype = jnp.shape(leaf), jnp.result_type(leaf)
    arrays = []
    for value in values:  # every value checked before any solve
        try:
            arr = np.asarray(transform(value) if transform is not None else value, dtype=np.float64)
        except (TypeError, ValueError):
            raise AnalysisError(f"expected numbers, got {value!r}", ("values",)) from None
        if not np.all(np.isfinite(arr)):
            raise AnalysisError(f"expected finite numbers, got {value!r}", ("values",))
        if arr.shape != shape and arr.size == 1:
            arr = np.broadcast_to(arr, shape)
        if arr.shape != shape:
            raise AnalysisError(f"value {value!r} gives shape {arr.shape}, the parameter has {shape}", ("values",))
        arrays.append(arr)
    patterns = basins_options.get("patterns")

    def at(i: int) -> Network:
        return eqx.tree_at(where, network, jnp.asarray(arrays[i], dtype))

    def solve(i: int) -> dict:
        net = at(i)
        b = basins(net, starts, layer=layer, **{"classify": 0, "keep_states": False, **basins_options})
        return summarise(b, layer, patterns, program(net, starts, basins_options.get("settings")))

    identity = ""
    if folder is not None:
        opts = {k: v for k, v in basins_options.items() if k not in ("settings", "patterns", "base", "on_chunk", "log")}
        identity = json.dumps(
            {
                "network": fingerprint(
                    network,
                    starts if isinstance(starts, dict) else {layer: starts},
                    basins_options.get("base") or {},
                    basins_options.get("settings"),
                    0,
                ),
                "values": [a.tolist() for a in arrays],
                "patterns": None if patterns is None else np.asarray(patterns, np.float64).tolist(),
                "options": repr(sorted(opts.items())),
                "matching": [distance, min_overlap],
            }
        )
    summaries = sweep(len(values), solve, folder=folder, resume=resume, identity=identity, on_value=on_value, log=log)
    if summaries is None:
        return None  # another process of a distributed run: process 0 merges the values
    out = report(
        [float(v) if np.ndim(v) == 0 else np.asarray(v).tolist() for v in values], summaries, distance, min_overlap
    )
    out["arrays"] = id_arrays(summaries, match(summaries, distance, min_overlap)[0])
    if folder is not None:
        finish_work(folder, VALUES)  # done: the values are in the result
    return out
