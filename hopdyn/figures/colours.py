"""Colours and legends for attractors, the same in every figure of a study.

Each kind of attractor has one family of hues (patterns blue, negations
orange, mixtures green, metastable averages purple, unnamed states grey) and
its members are shades within it, spread so that neighbours differ (the
golden-ratio sequence over the family's range), so any number of attractors
gets distinct colours and the kind is read from the hue.  A figure computes
the colours from the study's whole attractor list, so an attractor keeps its
colour across the figures of a study.  Legends name every attractor up to
``LEGEND_MOST`` and say how many more there are.
"""

from __future__ import annotations

import matplotlib
from matplotlib.lines import Line2D

FAMILIES = {"pattern": "Blues", "negated": "Oranges", "mixture": "Greens", "metastable": "Purples", "other": "Greys"}
UNDECIDED = "black"
POOLED = "0.85"  # the attractors a legend cannot hold, drawn as one band
SHADES = {"other": (0.3, 0.3)}  # unnamed states stay mid-grey: never read as undecided (black)
LEGEND_MOST = 32
_GOLDEN = 0.6180339887498949


def _shade(kind: str, i: int):
    """The ``i``-th member's colour: shade ``0.4 + 0.5 * frac(0.6 + i * golden)``
    of the kind's family (member 0 at 0.7, the next ones spread around it;
    unnamed states within 0.3-0.6 of the greys)."""
    low, span = SHADES.get(kind, (0.4, 0.5))
    return matplotlib.colormaps[FAMILIES[kind]](low + span * ((0.6 + i * _GOLDEN) % 1.0))


def kind_colour(kind: str):
    """A kind's colour in legends by kind: its first member's (``undecided``: black)."""
    return _shade(kind, 0) if kind in FAMILIES else UNDECIDED


def attractor_colours(attractors: list[dict]) -> list[tuple]:
    """One RGBA colour per attractor entry (each has ``kind``), in order: the
    ``i``-th attractor of a kind gets the ``i``-th shade of its kind's family,
    so members are distinct and neighbours contrast."""
    seen: dict[str, int] = {}
    out = []
    for att in attractors:
        kind = att["kind"] if att["kind"] in FAMILIES else "other"
        i = seen.get(kind, 0)
        seen[kind] = i + 1
        out.append(_shade(kind, i))
    return out


def legend(ax, handles: list, labels: list[str], most: int = LEGEND_MOST, where: str = "", **kw) -> None:
    """A legend of at most ``most`` entries and, when there are more, a last
    entry saying how many are left out (and ``where`` they are listed)."""
    if not labels:
        return
    if len(labels) > most:
        rest = len(labels) - (most - 1)
        handles = list(handles[: most - 1]) + [Line2D([], [], color="none")]
        labels = list(labels[: most - 1]) + [f"+{rest} more" + (f" (in {where})" if where else "")]
    kw.setdefault("fontsize", 7)
    kw.setdefault("ncol", 1 if len(labels) <= 16 else 2)
    if kw["ncol"] > 1 and "bbox_to_anchor" in kw:  # a legend beside the axes: widen the figure, not squeeze the plot
        w, h = ax.figure.get_size_inches()
        ax.figure.set_size_inches(w + 2.5 * (kw["ncol"] - 1), h)
    ax.legend(handles, labels, **kw)
