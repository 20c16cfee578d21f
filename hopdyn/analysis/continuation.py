"""Attractors across a parameter (global continuation, as in Attractors.jl):
the basin ensemble at each value of one array of the network, with attractors
matched from one value to the next so each keeps one id over the range.

Named attractors (a stored pattern, its negation, a mixture or metastable
average of given patterns) are matched by identity; unnamed ones (``other``)
by the distance between their mean end states and by basin overlap (the
Jaccard index of the sets of starts that went to each), greedily, best overlap
first.  The parameter enters as an array of the same shape and dtype at every
value, so the solve is compiled once for the whole range.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..core.errors import AnalysisError
from ..model.network import Network
from .basins import basins
from .stats import wilson


def _identity(att: dict):
    """The name of a named attractor (``None`` for an unnamed one)."""
    kind = att["kind"]
    if kind in ("pattern", "negated"):
        return kind, att["pattern"]
    if kind == "mixture":
        return kind, tuple(att["patterns"]), tuple(att["signs"])
    if kind == "metastable":
        return kind, tuple(sorted(att["patterns"]))
    return None


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
    on_value: Callable[[int, int], None] | None = None,
    **basins_options,
) -> dict:
    """The basin ensemble ``starts`` at each of ``values`` of the array ``where``
    picks out of ``network`` (``eqx.tree_at`` style, e.g. ``lambda n:
    n.synapses[0].beta``; ``transform(value)`` makes the array when the value is
    not the array itself), with attractors matched across values.

    Unnamed attractors continue when their mean end states (``layer``'s
    activations) lie within ``distance`` (relative to the larger norm, at least
    1) or their basins overlap by at least ``min_overlap`` (Jaccard index over
    starts).  Returns ``values``; ``attractors`` (``id``, ``kind``, ``pattern`` or
    ``patterns``, ``first``/``last``: the first and last values it exists at,
    ``present`` per value); and per value ``fractions``, ``intervals`` (95%
    Wilson) and ``energies`` by id (``None`` where absent), ``undecided``.
    Other keyword arguments go to ``hd.basins``."""
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

    def at(value) -> Network:
        arr = np.asarray(transform(value) if transform is not None else value, dtype=np.float64)
        if arr.shape != shape:
            arr = np.broadcast_to(arr, shape) if arr.size == 1 else arr
        if arr.shape != shape:
            raise AnalysisError(f"value {value!r} gives shape {arr.shape}, the parameter has {shape}", ("values",))
        return eqx.tree_at(where, network, jnp.asarray(arr, dtype))

    tracks: list[dict] = []  # one per id: kind, names, last state and members, presence
    per_value = []
    for i, value in enumerate(values):
        b = basins(at(value), starts, layer=layer, **basins_options)
        labels = np.asarray(b.labels)
        act = np.asarray(b.arrays[f"xhat_end/{layer}"], np.float64).reshape(len(labels), -1)
        current = []
        for att in b.attractors:
            members = np.flatnonzero(labels == att["label"])
            current.append(
                {"att": att, "members": set(members.tolist()), "state": act[members].mean(axis=0), "id": None}
            )
        alive = [t for t in tracks if t["present"][-1]] if i else []
        # named attractors: by identity
        for c in current:
            name = _identity(c["att"])
            if name is not None:
                same = [t for t in alive if t["name"] == name]
                if same:
                    c["id"] = same[0]["id"]
        # unnamed: by overlap of basins, then distance of states, greedily
        pairs = []
        for c in current:
            if c["id"] is not None or _identity(c["att"]) is not None:
                continue
            for t in alive:
                if t["name"] is not None:
                    continue
                inter = len(c["members"] & t["members"])
                jaccard = inter / max(1, len(c["members"] | t["members"]))
                scale = max(1.0, float(np.linalg.norm(c["state"])), float(np.linalg.norm(t["state"])))
                d = float(np.linalg.norm(c["state"] - t["state"])) / scale
                if jaccard >= min_overlap or d <= distance:
                    pairs.append((-jaccard, d, id(c), c, t))
        taken_tracks, taken = set(), set()
        for _, _, key, c, t in sorted(pairs, key=lambda p: (p[0], p[1])):
            if key in taken or t["id"] in taken_tracks:
                continue
            c["id"] = t["id"]
            taken.add(key)
            taken_tracks.add(t["id"])
        for c in current:
            if c["id"] is None:
                c["id"] = len(tracks)
                tracks.append({"id": c["id"], "name": _identity(c["att"]), "att": c["att"], "present": [False] * i})
        by_id = {c["id"]: c for c in current}
        for t in tracks:
            c = by_id.get(t["id"])
            t["present"].append(c is not None)
            if c is not None:
                t["members"], t["state"] = c["members"], c["state"]
        n = len(labels)
        per_value.append(
            {
                "fractions": {c["id"]: len(c["members"]) / n for c in current},
                "intervals": {c["id"]: list(wilson(len(c["members"]), n)) for c in current},
                "energies": {c["id"]: c["att"]["energy"] for c in current},
                "undecided": int(np.sum(labels < 0)),
            }
        )
        if on_value:
            on_value(i + 1, len(values))

    def row(key):
        return [[pv[key].get(t["id"]) for t in tracks] for pv in per_value]

    attractors = []
    for t in tracks:
        present = np.flatnonzero(t["present"])
        entry = {"id": t["id"], "kind": t["att"]["kind"]}
        for k in ("pattern", "patterns", "signs"):
            if k in t["att"]:
                entry[k] = t["att"][k]
        entry.update(
            first=values[int(present[0])], last=values[int(present[-1])], present=list(map(bool, t["present"]))
        )
        attractors.append(entry)
    return {
        "values": [float(v) if np.ndim(v) == 0 else np.asarray(v).tolist() for v in values],
        "attractors": attractors,
        "fractions": row("fractions"),
        "intervals": row("intervals"),
        "energies": row("energies"),
        "undecided": [pv["undecided"] for pv in per_value],
        "matching": {"distance": distance, "min_overlap": min_overlap},
    }
