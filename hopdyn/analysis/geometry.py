"""The geometry of a basin map (a grid of starts labelled by their attractor):
how uncertain the final state is, and how rough the boundaries are.

- ``basin_entropy``: Daza et al. (2016).  Boxes of ``box x box`` cells cover
  the map; a box's entropy is ``S_i = -sum_j p_ij ln p_ij`` over the share
  ``p_ij`` of its cells in basin ``j``.  ``S_b`` is the mean over all boxes,
  ``S_bb`` the mean over the boxes that hold more than one basin (the
  boundary boxes).  ``S_bb > ln 2`` is their sufficient condition for a
  fractal boundary.
- ``boundary_dimension``: the box-counting dimension of the boundary (the
  cells with a 4-neighbour in another basin): the slope of
  ``ln N(s)`` against ``ln (1/s)`` over box sizes ``s``, fitted by least
  squares.
- ``uncertainty_exponent``: Grebogi et al. (1983).  The share ``f(e)`` of
  cells whose basin differs from a cell ``e`` cells away (along either axis)
  scales as ``e^alpha``; the boundary's dimension is ``2 - alpha``.

A label is any integer (negative ones, unnamed or failed starts, are a basin
of their own).  Distances are in cells; a map's physical extent does not
enter these numbers.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import AnalysisError


def _map(labels) -> np.ndarray:
    a = np.asarray(labels)
    if a.ndim != 2 or min(a.shape) < 2:
        raise AnalysisError(f"expected a 2-D map of labels, got shape {list(a.shape)}", ("labels",))
    if a.dtype.kind not in "iub":
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise AnalysisError("expected integer labels", ("labels",))
        a = a.astype(np.int64)
    return a


def _sizes(value, shape, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or not 1 <= int(value) <= min(shape):
        raise AnalysisError(f"expected an integer from 1 to {min(shape)}, got {value!r}", (name,))
    return int(value)


def _scales(values, shape, name: str, first: int, fewer: str) -> list[int]:
    """Box sides or distances in cells: ``values`` checked, or by default the
    powers of 2 from ``first`` up to an eighth of the map; at least two."""
    if values is None:
        top = max(2, min(shape) // 8)
        values = [2**k for k in range(first, int(np.log2(top)) + 1)]
    values = sorted({_sizes(v, shape, name) for v in values})
    if len(values) < 2:
        raise AnalysisError(fewer, (name,))
    return values


def basin_entropy(labels, box: int = 5) -> dict:
    """``S_b``, ``S_bb`` (natural logarithms) and the box counts of a basin map,
    with boxes of ``box x box`` cells (Daza et al. use 5); cells beyond the
    last whole box are left out.

    **Arguments:**

    - ``labels``: a 2-D integer array, the attractor of each start
    - ``box``: the box side in cells
    """
    a = _map(labels)
    n = _sizes(box, a.shape, "box")
    rows, cols = a.shape[0] // n, a.shape[1] // n
    tiles = a[: rows * n, : cols * n].reshape(rows, n, cols, n).transpose(0, 2, 1, 3).reshape(rows * cols, n * n)
    entropies = np.empty(len(tiles))
    mixed = np.zeros(len(tiles), bool)
    for i, t in enumerate(tiles):
        _, counts = np.unique(t, return_counts=True)
        p = counts / counts.sum()
        entropies[i] = float(-np.sum(p * np.log(p)))
        mixed[i] = len(counts) > 1
    s_b = float(entropies.mean())
    s_bb = float(entropies[mixed].mean()) if mixed.any() else 0.0
    return {
        "box": n,
        "boxes": int(len(tiles)),
        "boundary_boxes": int(mixed.sum()),
        "basin_entropy": s_b,
        "boundary_basin_entropy": s_bb,
        "fractal_by_entropy": bool(s_bb > np.log(2)),
    }


def boundary_cells(labels) -> np.ndarray:
    """The cells with a 4-neighbour in another basin (a boolean map)."""
    a = _map(labels)
    edge = np.zeros(a.shape, bool)
    h = a[:, 1:] != a[:, :-1]
    v = a[1:, :] != a[:-1, :]
    edge[:, 1:] |= h
    edge[:, :-1] |= h
    edge[1:, :] |= v
    edge[:-1, :] |= v
    return edge


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and its standard error."""
    A = np.vstack([x, np.ones_like(x)]).T
    (slope, icpt), *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - (slope * x + icpt)
    dof = max(1, len(x) - 2)
    se = float(np.sqrt(np.sum(resid**2) / dof / np.sum((x - x.mean()) ** 2))) if len(x) > 2 else float("nan")
    return float(slope), se


def boundary_dimension(labels, sizes=None) -> dict:
    """The box-counting dimension of a map's basin boundaries: boxes of side
    ``s`` cells holding a boundary cell, counted for each ``s`` in ``sizes``
    (default the powers of 2 from 2 up to an eighth of the map), and the
    slope of ``ln N`` against ``ln (1/s)`` with its standard error.

    **Arguments:**

    - ``labels``: a 2-D integer array, the attractor of each start
    - ``sizes``: box sides in cells (at least two)
    """
    a = _map(labels)
    edge = boundary_cells(a)
    sizes = _scales(sizes, a.shape, "sizes", 1, "expected at least two box sizes (a map of at least 16 x 16 cells)")
    counts = []
    for s in sizes:
        r, c = a.shape[0] // s, a.shape[1] // s
        tiles = edge[: r * s, : c * s].reshape(r, s, c, s).any(axis=(1, 3))
        counts.append(int(tiles.sum()))
    if min(counts) == 0:
        return {"sizes": sizes, "counts": counts, "dimension": None, "standard_error": None}
    slope, se = _fit(np.log(1.0 / np.asarray(sizes, float)), np.log(np.asarray(counts, float)))
    return {"sizes": sizes, "counts": counts, "dimension": slope, "standard_error": se}


def uncertainty_exponent(labels, distances=None) -> dict:
    """The uncertainty exponent ``alpha``: the share ``f(e)`` of cells whose
    basin differs from that of the cell ``e`` cells to the right or below
    (either), fitted as ``f ~ e^alpha`` over ``distances`` (default 1, 2, 4, ...
    up to an eighth of the map); the boundary's dimension ``2 - alpha``.

    **Arguments:**

    - ``labels``: a 2-D integer array, the attractor of each start
    - ``distances``: offsets in cells (at least two)
    """
    a = _map(labels)
    distances = _scales(distances, a.shape, "distances", 0, "expected at least two distances")
    fractions = []
    for e in distances:
        core = a[:-e, :-e]
        uncertain = (core != a[e:, :-e]) | (core != a[:-e, e:])
        fractions.append(float(uncertain.mean()))
    if min(fractions) == 0:
        return {"distances": distances, "fractions": fractions, "exponent": None, "dimension": None}
    slope, se = _fit(np.log(np.asarray(distances, float)), np.log(np.asarray(fractions)))
    return {"distances": distances, "fractions": fractions, "exponent": slope, "dimension": 2.0 - slope,
            "standard_error": se}  # fmt: skip


def basin_geometry(labels, box: int = 5) -> dict:
    """All three for one map (what ``basins.json`` reports for a grid).

    **Arguments:**

    - ``labels``: a 2-D integer array, the attractor of each start
    - ``box``: the entropy's box side in cells
    """
    return {
        "entropy": basin_entropy(labels, box),
        "box_counting": boundary_dimension(labels),
        "uncertainty": uncertainty_exponent(labels),
    }
