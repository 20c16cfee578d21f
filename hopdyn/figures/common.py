"""What every family of figures shares: the time axis (log time when a run
spans decades), a parameter axis, error bars from intervals, and the registry
of the figures each study writes (``register_figure``, ``figures_for``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

TIME_LABEL = "time t (units of the time constants τ)"


def _log_time(ts: np.ndarray) -> bool:
    pos = ts[ts > 0]
    return pos.size > 1 and pos.max() / pos.min() > 100


def _time_axis(ax, ts: np.ndarray, short: bool = False) -> None:
    """Log time axis when the saved times span more than two decades (t = 0 is
    then drawn at the first saved time, see ``_t_plot``)."""
    if _log_time(ts):
        ax.set_xscale("log")
    if short:
        ax.set_xlabel("time t" + (" (log scale)" if _log_time(ts) else ""))
    else:
        ax.set_xlabel(TIME_LABEL + (" — log scale, t = 0 drawn at the left edge" if _log_time(ts) else ""))


def _t_plot(ts: np.ndarray, all_ts: np.ndarray) -> np.ndarray:
    """Times for plotting: on a log axis, t = 0 is moved to half the first positive time."""
    if not _log_time(all_ts):
        return ts
    first = all_ts[all_ts > 0].min()
    return np.where(ts > 0, ts, first / 2)


ZERO_FLOOR = 1e-6  # where a bit-error rate of 0 is drawn on a log axis


def _yerr(values, intervals) -> np.ndarray:
    """Matplotlib's (2, n) error bars from values and [low, high] intervals."""
    v, iv = np.asarray(values, np.float64), np.asarray(intervals, np.float64).reshape(-1, 2)
    return np.vstack([np.maximum(v - iv[:, 0], 0), np.maximum(iv[:, 1] - v, 0)])


def _parameter_axis(ax, values, name: str) -> np.ndarray:
    """x positions of scalar parameter values (index for non-scalars), log scale
    when positive and spanning more than two decades."""
    v = np.asarray(values, dtype=object)
    if any(np.ndim(x) for x in v):
        ax.set_xlabel(f"{name} (value index)")
        return np.arange(len(v), dtype=np.float64)
    x = np.asarray(values, np.float64)
    if np.all(x > 0) and x.max() / x.min() > 100:
        ax.set_xscale("log")
    ax.set_xlabel(name)
    return x


# ------------------------------------------------------------------ which figures a study writes
class FigureSpec(NamedTuple):
    """One figure a study writes: its file ``name``, ``draw(report, arrays,
    title) -> Figure`` and ``when(report, arrays) -> bool`` (whether this
    study's result has what the figure shows)."""

    study: str
    name: str
    draw: Callable
    when: Callable


FIGURES: dict[str, dict[str, FigureSpec]] = {}
"""The figures each study writes, by study (``basins``, ``continuation``,
``capacity``, ``rules``) and file name, in the order they are drawn: each
family module declares its own with ``register_figure``."""


def register_figure(study: str, name: str, draw: Callable, when: Callable | None = None) -> FigureSpec:
    """Declare that ``study`` writes the figure ``name`` whenever its result has
    what the figure shows.  A family module registers its figures when it is
    imported; a user (or a test) registers a new one the same way, and the
    command writes it with no change to the command line.

    **Arguments:**

    - ``study``: ``basins``, ``continuation``, ``capacity`` or ``rules``
    - ``name``: the file name in the output folder (``attractor_spread.png``)
    - ``draw``: ``draw(report, arrays, title) -> Figure`` (``arrays``: the
      study's ``.npz`` content, ``None`` for capacity and rules)
    - ``when``: ``when(report, arrays) -> bool``; always drawn without it

    **Returns:**

    The ``FigureSpec`` registered (a later one of the same name replaces it).
    """
    spec = FigureSpec(study, name, draw, when or (lambda report, arrays: True))
    FIGURES.setdefault(study, {})[name] = spec
    return spec


def figures_for(study: str, report: dict, arrays: dict | None, title: str) -> list[tuple[str, object]]:
    """The figures ``study`` writes for this result, by file name (each drawn now)."""
    return [
        (spec.name, spec.draw(report, arrays, title))
        for spec in FIGURES.get(study, {}).values()
        if spec.when(report, arrays)
    ]
