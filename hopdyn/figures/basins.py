"""The figures of a basin study (``hopdyn basins`` with ``basins:``): the basin map on a plane of starts, retrieval against corruption, convergence times, each attractor's energy."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis.naming import attractor_name
from .colours import FAMILIES, attractor_colours, kind_colour, legend
from .common import TIME_LABEL, _yerr, figures_for, register_figure


def basin_map_figure(report: dict, meta: dict, labels: np.ndarray, title: str) -> Figure:
    """Labels on the grid of initial states, coloured by attractor; attractors
    that lie on the plane are marked where they are."""
    from matplotlib.colors import ListedColormap

    grid = meta["group"] == 2
    a, b, lab = meta["grid_a"][grid], meta["grid_b"][grid], labels[grid]
    n = int(round(np.sqrt(grid.sum())))
    atts = report["attractors"]
    present = sorted(set(lab.tolist()))
    colours = ["0.85"] + attractor_colours(atts)
    cmap = ListedColormap(colours)
    img = (lab + 1).reshape(n, n)
    fig = Figure(figsize=(7.2, 6.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(
        img,
        origin="lower",
        extent=(a.min(), a.max(), b.min(), b.max()),
        cmap=cmap,
        vmin=0,
        vmax=len(colours) - 1,
        interpolation="nearest",
        aspect="auto",
    )
    handles, names = [], []
    for att in atts:
        if att["label"] in present:
            handles.append(Line2D([], [], ls="none", marker="s", color=colours[att["label"] + 1], ms=9))
            names.append(
                f"{attractor_name(att, report['patterns'])}{' (' + att['stability'] + ')' if 'stability' in att else ''}: "
                f"{100 * report['fractions'].get(str(att['label']), 0):.1f}%"
            )
        c = att.get("plane_coordinates")
        if att.get("plane_residual", 1.0) > 0.1:
            continue  # the attractor does not lie on this plane
        if c is not None and a.min() <= c[0] <= a.max() and b.min() <= c[1] <= b.max():
            ax.plot(c[0], c[1], "*", ms=16, mfc=colours[att["label"] + 1], mec="k")
    if -1 in present:
        handles.append(Line2D([], [], ls="none", marker="s", color=colours[0], ms=9))
        names.append(f"undecided: {100 * report['fractions'].get('-1', 0):.1f}%")
    ax.set_xlabel("a  (initial state p0 + a (p1 − p0) + b (p2 − p0))")
    ax.set_ylabel("b")
    ax.set_title(f"{title}: basins on the plane of initial states (★ attractors)")
    legend(ax, handles, names, where="basins.json", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def retrieval_figure(report: dict, title: str) -> Figure:
    r = report["retrieval"]
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    if "interval" in r:
        ax.errorbar(
            r["corruption"], r["accuracy"], yerr=_yerr(r["accuracy"], r["interval"]), fmt="o-", color="C0",
            capsize=3, label="fraction retrieved (95% Wilson interval)",
        )  # fmt: skip
        ax.legend(fontsize=8)
    else:
        ax.plot(r["corruption"], r["accuracy"], "o-", color="C0")
    ax.set_xlabel("corruption level of the initial state")
    ax.set_ylabel("fraction retrieving the corrupted pattern")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def convergence_figure(t_final: np.ndarray, status: np.ndarray, title: str) -> Figure:
    from ..solvers.trajectory import STATUSES

    ok = status == STATUSES.index("steady_state")
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    t = t_final[ok]
    if t.size:
        bins = (
            np.logspace(np.log10(max(t.min(), 1e-6)), np.log10(t.max() * 1.01 + 1e-12), 30)
            if t.max() / max(t.min(), 1e-12) > 30
            else 30
        )
        ax.hist(t, bins=bins, color="C0")
        if not np.isscalar(bins):
            ax.set_xscale("log")
    ax.set_xlabel(TIME_LABEL.replace("time t", "time to the steady state"))
    ax.set_ylabel("trajectories")
    ax.set_title(f"{title}: {ok.sum()} of {len(ok)} reached a steady state")
    return fig


def attractor_energy_figure(report: dict, title: str) -> Figure:
    """Each attractor's energy as a bar in its colour (the basin map's), named
    below; the 40 with most starts when there are more (the title says so)."""
    every = report["attractors"]
    colour_of = dict(zip((t["label"] for t in every), attractor_colours(every)))
    most = sorted(sorted(every, key=lambda t: -t["count"])[:40], key=lambda t: t["label"])
    fig = Figure(figsize=(max(6.5, 0.35 * len(most) + 3), 4.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(most))
    ax.bar(x, [t["energy"] for t in most], color=[colour_of[t["label"]] for t in most])
    for xi, t in zip(x, most):
        ax.annotate(
            f"{t['count']}", (xi, t["energy"]), ha="center", va="top" if t["energy"] < 0 else "bottom", fontsize=7
        )
    ax.set_xticks(x, [attractor_name(t, report["patterns"]) for t in most], rotation=60, ha="right", fontsize=8)
    from matplotlib.patches import Patch

    present = [k for k in FAMILIES if any(t["kind"] == k for t in most)]
    ax.set_ylabel("energy at the attractor")
    ax.legend(handles=[Patch(color=kind_colour(k), label=k) for k in present], fontsize=8)
    more = f"; the {len(most)} of {len(every)} with most starts, all in basins.json" if len(every) > 40 else ""
    ax.set_title(f"{title}: each attractor's energy (number at the bar: starts ending there{more})", fontsize=10)
    return fig


def _grid(arrays: dict) -> bool:
    return bool(np.any(np.asarray(arrays["group"]) == 2))  # grid starts


register_figure(
    "basins",
    "basin_map.png",
    lambda report, arrays, title: basin_map_figure(
        report, {k: arrays[k] for k in ("group", "source", "level", "grid_a", "grid_b")}, arrays["labels"], title
    ),
    when=lambda report, arrays: _grid(arrays),
)
register_figure(
    "basins",
    "retrieval.png",
    lambda report, arrays, title: retrieval_figure(report, title),
    when=lambda report, arrays: report["retrieval"] is not None,
)
register_figure(
    "basins",
    "convergence_times.png",
    lambda report, arrays, title: convergence_figure(arrays["t_final"], arrays["status"], title),
)
register_figure(
    "basins",
    "attractor_energies.png",
    lambda report, arrays, title: attractor_energy_figure(report, title),
    when=lambda report, arrays: bool(report["attractors"]),
)


def basins_figures(report: dict, arrays: dict, title: str) -> list[tuple[str, Figure]]:
    """The figures a basin study writes, by file name: the basin map (when the
    ensemble has a grid), retrieval against corruption (corrupted starts), the
    convergence times, each attractor's energy, and any figure registered
    for ``basins`` since (``register_figure``)."""
    return figures_for("basins", report, arrays, title)
