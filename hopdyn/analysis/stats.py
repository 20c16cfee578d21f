"""Intervals for the fractions hopdyn reports, so two runs can be compared.

- ``wilson(k, n)``: the Wilson score interval of a proportion (95% by default),
  for every fraction of *starts* (basin fractions, retrieval by corruption
  level, capacity's retrieved and exactly repaired fractions).  Unlike the
  normal approximation it stays inside [0, 1] and is not empty at 0 or n.
- ``bootstrap_mean(values)``: a percentile bootstrap interval of a mean over
  starts, for quantities that are not proportions of independent trials (a
  bit-error rate averages bits that share a start, so a binomial interval over
  bits would be too narrow); resampled with a fixed seed, so reproducible.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
METHODS = {
    "fractions": "Wilson score interval, 95%, over starts",
    "bit_error": "percentile bootstrap over starts, 95%, 2000 resamples",
}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials
    (``(0, 1)`` when ``n`` is 0: nothing is known)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_of(flags) -> list[float]:
    """The Wilson interval of the fraction of true ``flags``."""
    flags = np.asarray(flags, bool)
    return list(wilson(int(flags.sum()), int(flags.size)))


def bootstrap_mean(values, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> list[float]:
    """A percentile bootstrap interval of the mean of ``values`` (one per start)."""
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        return [float("nan"), float("nan")]
    if v.size == 1 or np.all(v == v[0]):
        return [float(v[0]), float(v[0])]
    gen = np.random.default_rng(seed)
    means = v[gen.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    tail = (1 - level) / 2
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))]


def half_crossing(levels, p) -> tuple[float | None, bool]:
    """The largest corruption level at which ``p`` (by level) is still >= 1/2:
    interpolated linearly where it first falls below 1/2; ``(max level, True)``
    when it never does (a lower bound), ``(None, False)`` when it is below 1/2
    from the smallest level on."""
    levels, p = np.asarray(levels, np.float64), np.asarray(p, np.float64)
    below = np.flatnonzero(p < 0.5)
    if below.size == 0:
        return float(levels[-1]), True
    i = int(below[0])
    if i == 0:
        return None, False
    l0, l1, p0, p1 = levels[i - 1], levels[i], p[i - 1], p[i]
    return float(l0 + (p0 - 0.5) * (l1 - l0) / (p0 - p1)), False


def radius_of(levels, groups) -> tuple[float | None, list, bool]:
    """A basin radius from retrieval at increasing corruption levels (``groups``:
    one array of retrieved flags per level): the largest level retrieved with
    probability >= 1/2 (``half_crossing``), the levels where the 95% Wilson
    bounds cross 1/2 (pointwise bounds: an approximate interval), and whether
    it is censored (retrieved at every level: at least the largest).  The one
    definition of the radius, for ``basins``' patterns and ``capacity``'s loads."""
    bounds = np.array([wilson_of(g) for g in groups])
    radius, censored = half_crossing(levels, [np.mean(g) for g in groups])
    return radius, [half_crossing(levels, bounds[:, 0])[0], half_crossing(levels, bounds[:, 1])[0]], censored
