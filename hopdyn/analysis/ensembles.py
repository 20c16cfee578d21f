"""Ensembles of initial states for basin studies: corrupted stored patterns,
random states, and a grid on the plane through three points.  Plain numpy,
seeded per purpose (``patterns.rng``), so a study is reproducible."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from ..core import patterns as P
from ..core.errors import AnalysisError
from ..model.checks import checked_call
from ..model.params import Distribution, Finite, Positive, Size


def corrupted_starts(
    patterns: np.ndarray, levels, samples: int, kind: str = "flip", which="all", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``samples`` starts per corruption level, spread over the stored patterns.

    **Arguments:**

    - ``patterns``: ``(K, ...)`` stored patterns.
    - ``levels``: corruption levels (fractions in [0, 1] for ``flip`` and
      ``mask``, a standard deviation for ``noise``).
    - ``samples``: starts per level, cycling over the patterns ``which``
      (``"all"`` or a list of row indices).
    - ``kind``: ``flip`` (signs), ``noise`` (Gaussian) or ``mask`` (set to 0).
    - ``seed``: draws the corruptions.

    **Returns:**

    ``(starts, source, level)``: one row, source pattern and level per start.

    **Raises:**

    ``AnalysisError`` naming ``which``, ``kind`` or ``levels``."""
    patterns = np.asarray(patterns, np.float64).reshape(len(patterns), -1)
    idx = list(range(len(patterns))) if which == "all" else list(which)
    bad = [i for i in idx if not 0 <= i < len(patterns)]
    if bad:
        raise AnalysisError(f"index {bad[0]} out of range ({len(patterns)} patterns)", ("which",))
    if kind not in ("flip", "noise", "mask"):
        raise AnalysisError(f"expected flip, noise or mask, got {kind!r}", ("kind",))
    gen = P.rng(seed, "basins:corruption")
    xs, sources, lv = [], [], []
    for level in levels:
        if kind in ("flip", "mask") and not 0 <= level <= 1:
            raise AnalysisError(f"{kind} levels are fractions in [0, 1], got {level}", ("levels",))
        src = np.asarray([idx[k % len(idx)] for k in range(samples)])
        xs.append(P.corrupt(patterns[src], gen, **{kind: float(level)}))
        sources.append(src)
        lv.append(np.full(samples, float(level)))
    return np.concatenate(xs), np.concatenate(sources), np.concatenate(lv)


def random_starts(
    samples: Annotated[Size, Field(strict=True)],
    size: Annotated[int, Field(ge=1, strict=True)],
    distribution: Annotated[Distribution, Field()] = "uniform",  # Field: checked by checked_call
    low: Finite = -1.0,
    high: Finite = 1.0,
    mean: Finite = 0.0,
    std: Positive = 1.0,
    seed: Annotated[int, Field(strict=True)] = 0,
    lazy: Annotated[bool, Field(strict=True)] = False,
) -> np.ndarray | P.DrawnRows:
    """Random initial states.

    **Arguments:**

    - ``samples``, ``size``: how many states, of how many values.
    - ``distribution``: ``uniform`` (on ``[low, high]``), ``normal`` (``mean``,
      ``std``) or ``binary`` (+-1).
    - ``seed``: draws them.
    - ``lazy``: return a ``DrawnRows`` that draws each chunk's rows when the
      chunk is solved (the same numbers; memory of a chunk, not of the ensemble).

    **Returns:**

    ``(samples, size)`` states.

    **Raises:**

    ``AnalysisError`` naming the argument (the scenario's ``basins.ensemble.random``
    constraints: ``samples`` an integer from 1 to 10^8, ``size`` an integer >= 1, a known ``distribution``,
    finite bounds, ``std`` > 0, ``lazy`` a bool)."""
    rows = P.DrawnRows(seed, "basins:random", distribution, (samples, size), low, high, mean, std)
    return rows if lazy else np.asarray(rows)


random_starts = checked_call(random_starts, AnalysisError)


def grid_starts(p0, p1, p2, extent=(-1.5, 1.5), resolution: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Initial states on the plane through three points (a basin map).

    **Arguments:**

    - ``p0``, ``p1``, ``p2``: the points; ``x(a, b) = p0 + a (p1 - p0) + b (p2 - p0)``.
    - ``extent``: the range of ``a`` and ``b``.
    - ``resolution``: points per axis.

    **Returns:**

    ``(starts, a, b)``: ``resolution**2`` states and their coordinates."""
    p0, p1, p2 = (np.asarray(p, np.float64).ravel() for p in (p0, p1, p2))
    ticks = np.linspace(extent[0], extent[1], resolution)
    aa, bb = np.meshgrid(ticks, ticks, indexing="xy")
    a, b = aa.ravel(), bb.ravel()
    return p0[None] + a[:, None] * (p1 - p0)[None] + b[:, None] * (p2 - p0)[None], a, b


def plane_coordinates(x: np.ndarray, plane) -> tuple[list[float], float]:
    """Where a state sits on the plane through ``(p0, p1, p2)`` (least squares):
    its ``(a, b)`` and its distance from the plane relative to its distance from ``p0``."""
    p0, p1, p2 = plane
    basis = np.stack([p1 - p0, p2 - p0], axis=1)
    x = np.asarray(x, np.float64).ravel()
    coef, *_ = np.linalg.lstsq(basis, x - p0, rcond=None)
    return coef.tolist(), float(np.linalg.norm(basis @ coef - (x - p0)) / (np.linalg.norm(x - p0) + 1e-300))
