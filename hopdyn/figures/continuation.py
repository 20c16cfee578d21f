"""The figures of a continuation: basin fractions and energies of every attractor against the parameter, the census by kind, the bifurcation diagram."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis.naming import attractor_name
from .colours import FAMILIES, LEGEND_MOST, POOLED, UNDECIDED, attractor_colours, kind_colour, legend
from .common import _parameter_axis, figures_for, register_figure


def _continuation_names(r: dict) -> list[str]:
    return [attractor_name(a, r.get("patterns"), a["id"]) for a in r["attractors"]]


def _shown(r: dict) -> list[int]:
    """The ids drawn and named one by one: all, or when there are more than a
    legend holds, the ``LEGEND_MOST - 1`` with the largest basins (the rest
    are pooled and counted), in id order."""
    n = len(r["attractors"])
    if n <= LEGEND_MOST:
        return list(range(n))
    peak = [max((row[i] or 0.0) for row in r["fractions"]) for i in range(n)]
    return sorted(np.argsort(-np.asarray(peak), kind="stable")[: LEGEND_MOST - 1].tolist())  # ties: lower ids


def continuation_fractions_figure(r: dict, title: str) -> Figure:
    """Basin fractions stacked against the parameter, one band per attractor id
    in its colour (the same in every figure of the study), a bar on each
    band's upper edge spanning its 95% interval; beyond what a legend holds,
    the attractors with the smallest basins are pooled in one band that says
    how many they are; undecided on top."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    x = _parameter_axis(ax, r["values"], r.get("parameter", "parameter"))
    n = len(r["attractors"])
    frac = np.array([[row[i] or 0.0 for i in range(n)] for row in r["fractions"]]).reshape(len(x), n)
    und = np.asarray(r["undecided"], np.float64) / np.asarray(r["samples"], np.float64)
    names, colours = _continuation_names(r), attractor_colours(r["attractors"])
    shown = _shown(r)
    rest = sorted(set(range(n)) - set(shown))
    bottom = np.zeros(len(x))
    handles, labels = [], []
    for i in shown:
        top = bottom + frac[:, i]
        handles.append(ax.fill_between(x, bottom, top, color=colours[i], lw=0.3, edgecolor="white"))
        labels.append(names[i])
        iv = np.array([row[i] if row[i] is not None else [0.0, 0.0] for row in r["intervals"]], np.float64)
        here = frac[:, i] > 0
        if here.any():
            err = np.vstack([frac[:, i] - iv[:, 0], iv[:, 1] - frac[:, i]])[:, here].clip(0)
            ax.errorbar(x[here], top[here], yerr=err, fmt="none", ecolor="k", elinewidth=0.6, capsize=1.5)
        bottom = top
    if rest:
        pooled = frac[:, rest].sum(axis=1)
        handles.append(ax.fill_between(x, bottom, bottom + pooled, color=POOLED, lw=0, hatch="///", edgecolor="white"))
        labels.append(f"+{len(rest)} more (in continuation.json)")
        bottom = bottom + pooled
    if und.any():
        handles.append(ax.fill_between(x, bottom, bottom + und, color=UNDECIDED, alpha=0.25))
        labels.append("undecided")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("fraction of starts (bars: 95% Wilson interval)")
    legend(ax, handles[::-1], labels[::-1], most=LEGEND_MOST + 1, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title)
    return fig


def continuation_energies_figure(r: dict, title: str) -> Figure:
    """Each attractor's energy (mean over its end states; bars: lowest to
    highest) against the parameter, one line per id where it exists."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    x = _parameter_axis(ax, r["values"], r.get("parameter", "parameter"))
    names, colours = _continuation_names(r), attractor_colours(r["attractors"])
    lines = []
    for i in range(len(r["attractors"])):
        e = np.array([row[i] if row[i] is not None else np.nan for row in r["energies"]], np.float64)
        rng = np.array([row[i] if row[i] is not None else [np.nan, np.nan] for row in r["energy_ranges"]], np.float64)
        colour = colours[i]
        lines.append(
            ax.errorbar(
                x,
                e,
                yerr=np.vstack([e - rng[:, 0], rng[:, 1] - e]).clip(0),
                color=colour,
                marker="o",
                ms=3,
                lw=1,
                capsize=2,
            )
        )
    ax.set_ylabel("energy at the attractor")
    shown = _shown(r)  # the fractions figure's named ids first; the legend counts the rest
    order = shown + sorted(set(range(len(lines))) - set(shown))
    legend(ax, [lines[i] for i in order], [names[i] for i in order], where="continuation.json",
           loc="upper left", bbox_to_anchor=(1.01, 1))  # fmt: skip
    ax.set_title(title)
    return fig


def bifurcation_figure(r: dict, arrays: dict, title: str) -> Figure:
    """A bifurcation-style diagram: every end state's overlap (|cosine|) with
    its nearest stored pattern against the parameter, coloured by attractor
    kind (grey: unnamed; black: no steady state)."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    x = _parameter_axis(ax, r["values"], r.get("parameter", "parameter"))
    kinds = [a["kind"] for a in r["attractors"]]
    seen = set()
    for i, xv in enumerate(x):
        ids, near = arrays[f"ids/{i}"], arrays[f"nearest/{i}"]
        if near.size == 0:
            continue
        for kind in dict.fromkeys([kinds[j] if j >= 0 else "undecided" for j in np.unique(ids)]):
            sel = np.array([(kinds[j] if j >= 0 else "undecided") == kind for j in ids])
            colour = kind_colour(kind)
            ax.scatter(
                np.full(sel.sum(), xv),
                near[sel],
                s=8,
                alpha=0.25,
                color=colour,
                lw=0,
            )
            seen.add(kind)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"overlap of each end state with its nearest stored pattern ({r.get('patterns') or 'patterns'})")
    order = [k for k in (*FAMILIES, "undecided") if k in seen]  # legend markers opaque, in the census's order
    handles = [Line2D([], [], ls="none", marker="o", ms=6, color=kind_colour(k)) for k in order]
    legend(ax, handles, order, fontsize=8)
    ax.set_title(title)
    return fig


def continuation_census_figure(r: dict, title: str) -> Figure:
    """The share of starts ending at each kind of attractor (stored patterns,
    their negations — ghosts —, mixtures, metastable averages, other spurious
    states, no steady state) stacked against the parameter."""
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.subplots()
    x = _parameter_axis(ax, r["values"], r.get("parameter", "parameter"))
    names = {"negated": "negated (ghosts)", "other": "other (spurious)", "undecided": "no steady state"}
    bottom = np.zeros(len(x))
    for kind in ("pattern", "negated", "mixture", "metastable", "other", "undecided"):
        share = np.array([row.get(kind, 0.0) for row in r["census"]])
        if not share.any():
            continue
        colour = kind_colour(kind)
        ax.fill_between(x, bottom, bottom + share, color=colour, alpha=0.7 if kind != "undecided" else 0.3,
                        lw=0, label=names.get(kind, kind))  # fmt: skip
        bottom = bottom + share
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("fraction of starts")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title)
    return fig


register_figure(
    "continuation", "continuation_fractions.png", lambda r, arrays, title: continuation_fractions_figure(r, title)
)
register_figure(
    "continuation", "continuation_energies.png", lambda r, arrays, title: continuation_energies_figure(r, title)
)
register_figure(
    "continuation", "continuation_census.png", lambda r, arrays, title: continuation_census_figure(r, title)
)
register_figure("continuation", "bifurcation.png", bifurcation_figure, when=lambda r, arrays: r["patterns"] is not None)


def continuation_figures(r: dict, arrays: dict, title: str) -> list[tuple[str, Figure]]:
    """The figures a continuation writes, by file name: basin fractions,
    energies and the census against the parameter, (with stored patterns)
    the bifurcation diagram, and any figure registered for ``continuation``."""
    return figures_for("continuation", r, arrays, title)
