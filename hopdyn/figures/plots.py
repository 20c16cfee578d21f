"""Figures: energy traces, PCA projection, states as images, 2-D phase portraits
and an animated retrieval.

Each function takes trajectories already cut to their valid rows
(``Trajectory.truncated()``, one per batch member) and returns a matplotlib
``Figure`` (the GIF writer writes its file).  No pyplot global state is used.
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis.naming import attractor_name
from ..core.io import atomic_write
from ..model.network import Network
from ..solvers.trajectory import Trajectory
from .colours import FAMILIES, LEGEND_MOST, POOLED, UNDECIDED, attractor_colours, kind_colour, legend

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


def energy_figure(members: list[Trajectory], title: str, labels: dict[str, str] | None = None) -> Figure:
    """Total energy of every member (top) and the change of each energy term of
    member 0 from its initial value (bottom); ``labels`` name the terms (e.g.
    ``synapse:0`` -> ``dense m-v``)."""
    fig = Figure(figsize=(8, 6.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ts_all = np.concatenate([np.asarray(m.ts) for m in members])
    single = len(members) == 1
    for i, m in enumerate(members[:64]):
        ax1.plot(
            _t_plot(np.asarray(m.ts), ts_all),
            np.asarray(m.energy),
            lw=1.6 if single else 0.8,
            color="C0" if single else f"C{i % 10}",
            alpha=1.0 if single else 0.6,
        )
    ax1.set_ylabel("total energy E")
    ax1.set_title(title + ("" if single else f"  ({len(members)} trajectories)"))
    ax1.grid(alpha=0.3)
    m0 = members[0]
    t0 = _t_plot(np.asarray(m0.ts), ts_all)
    for name, e in m0.energy_terms.items():
        e = np.asarray(e)
        label = (labels or {}).get(name, name)
        ax2.plot(t0, e - e[0], lw=1.4, label=f"{label} (starts at {e[0] + 0.0:.4g})")  # + 0.0: no "-0"
    ax2.axhline(0.0, color="0.7", lw=0.8)
    ax2.set_ylabel("change of each term, E_term(t) − E_term(0)" + ("" if single else "\n(first trajectory)"))
    ax2.legend(fontsize=8, loc="best")
    ax2.grid(alpha=0.3)
    _time_axis(ax2, ts_all)
    ax1.tick_params(labelbottom=False)
    return fig


def _pca(data: np.ndarray, k: int = 2):
    mean = data.mean(axis=0)
    _, s, vt = np.linalg.svd(data - mean, full_matrices=False)
    var = s**2 / max(1, (s**2).sum())
    return mean, vt[:k], var[:k]


def pca_figure(
    members: list[Trajectory], layer: str, patterns: np.ndarray | None, title: str, space: str = "xhat"
) -> Figure:
    """Trajectories of ``layer``'s activations (``space="xhat"``) or internal
    states (``"x"``) projected on their first two principal components, with
    the stored patterns marked."""
    paths = [np.asarray(getattr(m, space)[layer]).reshape(len(m.ts), -1) for m in members]
    stacked = np.concatenate(paths + ([patterns.reshape(len(patterns), -1)] if patterns is not None else []))
    mean, comps, var = _pca(stacked)
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros_like(comps)])
        var = np.append(var, 0.0)
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.subplots()
    if patterns is not None:
        p = (patterns.reshape(len(patterns), -1) - mean) @ comps.T
        ax.scatter(
            p[:, 0], p[:, 1], marker="*", s=90, c="0.55", edgecolor="k", lw=0.4, zorder=2, label="stored patterns"
        )
    for i, path in enumerate(paths[:64]):
        q = (path - mean) @ comps.T
        ax.plot(q[:, 0], q[:, 1], "-", lw=1.2, color=f"C{i % 10}", zorder=3)
        ax.plot(
            q[0, 0], q[0, 1], "o", ms=6, mfc="white", color=f"C{i % 10}", zorder=4, label="start" if i == 0 else None
        )
        ax.plot(q[-1, 0], q[-1, 1], "o", ms=6, color=f"C{i % 10}", zorder=4, label="end" if i == 0 else None)
    what = "activations" if space == "xhat" else "internal states"
    ax.set_xlabel(f"PC 1 of {what} of {layer!r} ({100 * var[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * var[1]:.0f}% of variance)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _nearest(x: np.ndarray, patterns: np.ndarray) -> tuple[int, float]:
    """The stored pattern with the largest |cosine similarity| and its sign
    (-1: the end state is that pattern's mirror image, a ghost)."""
    from ..core.patterns import cosine_similarity

    cos = cosine_similarity(x.ravel(), patterns)
    k = int(np.argmax(np.abs(cos)))
    return k, (1.0 if cos[k] >= 0 else -1.0)


def states_figure(
    members: list[Trajectory], layer: str, image_shape, patterns: np.ndarray | None, title: str, space: str = "xhat"
) -> Figure:
    """Per member (up to 8 rows): the layer's activation as an image at the start,
    midway, at the end, and the nearest stored pattern.  Without an image shape,
    a heat map of the activations over the saved times."""
    if image_shape is None:
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        ax = fig.subplots()
        m = members[0]
        data = np.asarray(getattr(m, space)[layer]).reshape(len(m.ts), -1).T
        ts = _t_plot(np.asarray(m.ts, np.float64), np.asarray(m.ts, np.float64))
        if len(ts) > 1:  # cell edges halfway between saved times (geometric on a log axis)
            mid = np.sqrt(ts[1:] * ts[:-1]) if _log_time(ts) else (ts[1:] + ts[:-1]) / 2
            edges = np.concatenate([[ts[0] - (mid[0] - ts[0])], mid, [ts[-1] + (ts[-1] - mid[-1])]])
            edges[0] = ts[0] / 2 if _log_time(ts) else edges[0]
        else:
            edges = np.array([ts[0] - 0.5, ts[0] + 0.5])
        im = ax.pcolormesh(edges, np.arange(data.shape[0] + 1) - 0.5, data, cmap="viridis", shading="flat")
        _time_axis(ax, ts, short=True)
        ax.set_ylabel(f"unit of {layer!r}")
        fig.colorbar(im, ax=ax, label=f"{'activation' if space == 'xhat' else 'internal state'} of {layer!r}")
        ax.set_title(title + ("" if len(members) == 1 else f"  (the first of {len(members)} trajectories)"))
        return fig
    rows = members[:8]
    cols = ["initial", "midway", "final"] + (["nearest stored"] if patterns is not None else [])
    fig = Figure(figsize=(1.9 * len(cols) + 0.5, 1.9 * len(rows) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), len(cols)))
    vals = np.concatenate([np.asarray(getattr(m, space)[layer]).ravel() for m in rows])
    lo, hi = (
        (float(patterns.min()), float(patterns.max()))
        if patterns is not None
        else (float(vals.min()), float(vals.max()))
    )
    for r, m in enumerate(rows):
        xs = np.asarray(getattr(m, space)[layer]).reshape(len(m.ts), -1)
        ts = np.asarray(m.ts)
        picks = [0, len(xs) // 2, len(xs) - 1]
        images = [xs[i] for i in picks]
        labels = [f"t = {ts[i]:.3g}" for i in picks]
        if patterns is not None:
            k, sign = _nearest(xs[-1], patterns)
            images.append(sign * patterns.reshape(len(patterns), -1)[k])
            labels.append(f"pattern {k}" if sign > 0 else f"−pattern {k} (ghost)")
        for c, (img, lab) in enumerate(zip(images, labels)):
            ax = axes[r, c]
            ax.imshow(
                img.reshape(image_shape), cmap="gray_r" if lo < 0 else "gray", vmin=lo, vmax=hi, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(lab, fontsize=8)
            if r == 0:
                ax.set_title(cols[c], fontsize=10)
    fig.suptitle(title)
    return fig


# ------------------------------------------------------------------ phase portraits
def _flat_field(network: Network):
    """The vector field of a network with two state variables in total, as a map
    R^2 -> R^2, and the maps between flat vectors and state dicts."""
    names = list(network.neurons)
    sizes = [network.neurons[n].size for n in names]
    if sum(sizes) != 2:
        raise ValueError(f"a phase portrait needs exactly 2 state variables, this network has {sum(sizes)}")

    to_state = network.unflatten

    def field(v):
        return network.flatten(network.vector_field(to_state(v)))

    def flatten(rows):
        """Saved rows ``{name: (T, *shape)}`` -> ``(T, 2)``."""
        return np.concatenate([np.asarray(rows[n]).reshape(len(np.asarray(rows[n])), -1) for n in names], axis=1)

    return field, to_state, flatten, names


def fixed_points_2d(network: Network, box, n: int = 9):
    """Fixed points of a two-variable network inside ``box = (x0, x1, y0, y1)``:
    Newton's method from an ``n x n`` grid of starts, merged, each with the
    eigenvalues of the Jacobian there and a kind (stable, unstable, saddle)."""
    field, _, _, _ = _flat_field(network)
    f = jax.jit(field)
    jac = jax.jit(jax.jacfwd(field))
    x0, x1, y0, y1 = box
    found = []
    for a in np.linspace(x0, x1, n):
        for b in np.linspace(y0, y1, n):
            v = np.array([a, b], dtype=np.float64)
            for _ in range(60):
                J = np.asarray(jac(jnp.asarray(v)))
                r = np.asarray(f(jnp.asarray(v)))
                try:
                    step = np.linalg.solve(J, r)
                except np.linalg.LinAlgError:
                    break
                v = v - step
                if not np.all(np.isfinite(v)) or np.abs(v).max() > 1e6:
                    break
                if np.linalg.norm(step) < 1e-12:
                    break
            if np.all(np.isfinite(v)) and np.linalg.norm(np.asarray(f(jnp.asarray(v)))) < 1e-8:
                if not any(np.linalg.norm(v - u) < 1e-6 for u, _, _ in found):
                    ev = np.linalg.eigvals(np.asarray(jac(jnp.asarray(v))))
                    re = ev.real
                    kind = "stable" if np.all(re < 0) else ("unstable" if np.all(re > 0) else "saddle")
                    found.append((v, ev, kind))
    return found


def phase_figure(network: Network, members: list[Trajectory], title: str) -> Figure:
    """Streamlines of the vector field, the two nullclines, the fixed points
    (filled: stable, open: unstable, cross: saddle) and the trajectories."""
    field, _, flatten, names = _flat_field(network)
    paths = [flatten(m.x) for m in members]
    pts = np.concatenate(paths)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.maximum(hi - lo, 1.0)
    box = (lo[0] - 0.15 * span[0], hi[0] + 0.15 * span[0], lo[1] - 0.15 * span[1], hi[1] + 0.15 * span[1])
    fps = fixed_points_2d(network, box)
    gx, gy = np.meshgrid(np.linspace(box[0], box[1], 60), np.linspace(box[2], box[3], 60))
    grid = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=network.dtype)
    uv = np.asarray(jax.jit(jax.vmap(field))(grid), dtype=np.float64)
    u, v = uv[:, 0].reshape(gx.shape), uv[:, 1].reshape(gx.shape)
    fig = Figure(figsize=(7, 6.2), layout="constrained")
    ax = fig.subplots()
    speed = np.hypot(u, v)
    ax.streamplot(gx, gy, u, v, color=np.log10(speed + 1e-12), cmap="Greys", density=1.2, linewidth=0.7, arrowsize=0.8)
    ax.contour(gx, gy, u, levels=[0.0], colors="C0", linewidths=1.6)
    ax.contour(gx, gy, v, levels=[0.0], colors="C1", linewidths=1.6)
    flat_names = [f"{n}[{i}]" for n in names for i in range(network.neurons[n].size)]
    ax.plot([], [], color="C0", lw=1.6, label=f"nullcline d{flat_names[0]}/dt = 0")
    ax.plot([], [], color="C1", lw=1.6, label=f"nullcline d{flat_names[1]}/dt = 0")
    for i, p in enumerate(paths):
        ax.plot(p[:, 0], p[:, 1], "-", color="C3", lw=1.1, alpha=0.85, label="trajectories" if i == 0 else None)
        ax.plot(p[0, 0], p[0, 1], "o", ms=3.5, color="C3")
    style = {
        "stable": dict(marker="o", mfc="k", mec="k"),
        "unstable": dict(marker="o", mfc="white", mec="k"),
        "saddle": dict(marker="X", mfc="C2", mec="k"),
    }
    seen = set()
    for v_, _ev, kind in fps:
        ax.plot(
            v_[0],
            v_[1],
            ms=11,
            ls="none",
            zorder=5,
            label=f"{kind} fixed point" if kind not in seen else None,
            **style[kind],
        )
        seen.add(kind)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_xlabel(f"internal state {flat_names[0]}")
    ax.set_ylabel(f"internal state {flat_names[1]}")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return fig


# ------------------------------------------------------------------ animation
def write_animation(
    path: str, member: Trajectory, layer: str, image_shape, title: str, frames: int = 48, space: str = "xhat"
) -> None:
    """An animated GIF of one retrieval: the layer's state (an image, or a bar
    chart) beside the energy trace with a moving marker."""
    from PIL import Image

    ts = np.asarray(member.ts)
    xs = np.asarray(getattr(member, space)[layer]).reshape(len(ts), -1)
    E = np.asarray(member.energy)
    tp = _t_plot(ts, ts)
    what = "activation" if space == "xhat" else "state"
    picks = np.unique(np.linspace(0, len(ts) - 1, min(frames, len(ts))).round().astype(int))
    lo, hi = float(xs.min()), float(xs.max())
    # One figure; the layout is computed on the first draw and then frozen, and
    # each frame only updates the data of its artists.
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    a1, a2 = fig.subplots(1, 2, width_ratios=[1, 1.5])
    if image_shape is not None:
        art = a1.imshow(xs[0].reshape(image_shape), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        a1.set_xticks([])
        a1.set_yticks([])
        update = lambda i: art.set_data(xs[i].reshape(image_shape))
    else:
        # the bars as one collection of rectangles: one artist to redraw per frame
        from matplotlib.collections import PolyCollection

        left = np.arange(xs.shape[1]) - 0.4
        rects = lambda h: np.stack(  # noqa: E731
            [np.c_[left, 0 * h], np.c_[left, h], np.c_[left + 0.8, h], np.c_[left + 0.8, 0 * h]], axis=1
        )
        art = a1.add_collection(PolyCollection(rects(xs[0]), facecolors="C0", edgecolors="none"))
        a1.set_xlim(-0.5 - 0.05 * xs.shape[1], xs.shape[1] - 0.5 + 0.05 * xs.shape[1])
        a1.set_ylim(min(lo, 0), hi if hi > min(lo, 0) else 1.0)
        a1.set_xlabel(f"unit of {layer!r}")
        update = lambda i: art.set_verts(rects(xs[i]))  # noqa: E731

    a2.plot(tp, E, color="0.6", lw=1)
    (done,) = a2.plot(tp[:1], E[:1], color="C0", lw=2)
    (dot,) = a2.plot(tp[:1], E[:1], "o", color="C3")
    _time_axis(a2, ts, short=True)
    a2.set_ylabel("total energy E")
    a2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    head = a1.set_title(f"{what} of {layer!r}, t = {ts[0]:.3g}", fontsize=9)
    fig.draw_without_rendering()  # the constrained layout, computed once and frozen
    fig.set_layout_engine("none")
    # Blitting: draw everything that stays once, then per frame only the artists
    # that move on a copy of that background (a full redraw per frame costs
    # ~60 ms; this ~5 ms).
    moving = [art, done, dot, head]
    for a in moving:
        a.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for i in picks:
        update(i)
        done.set_data(tp[: i + 1], E[: i + 1])
        dot.set_data(tp[i : i + 1], E[i : i + 1])
        head.set_text(f"{what} of {layer!r}, t = {ts[i]:.3g}")
        canvas.restore_region(background)
        for a in moving:
            fig.draw_artist(a)
        images.append(
            Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert(
                "P", palette=Image.Palette.ADAPTIVE
            )
        )
    buf = io.BytesIO()
    durations = [90] * (len(images) - 1) + [1200]
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


# ------------------------------------------------------------------ basins
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


ZERO_FLOOR = 1e-6  # where a bit-error rate of 0 is drawn on a log axis


def _yerr(values, intervals) -> np.ndarray:
    """Matplotlib's (2, n) error bars from values and [low, high] intervals."""
    v, iv = np.asarray(values, np.float64), np.asarray(intervals, np.float64).reshape(-1, 2)
    return np.vstack([np.maximum(v - iv[:, 0], 0), np.maximum(iv[:, 1] - v, 0)])


def _bit_errors(ax, x, err, style: str, label: str, who: str, interval=None) -> None:
    """Bit-error rates on a log axis: a rate of 0 (which a log axis cannot show)
    is drawn open at ``ZERO_FLOOR`` and said so in the legend."""
    x, err = np.asarray(x, np.float64), np.asarray(err, np.float64)
    if interval is not None:  # the bootstrap interval, its lower end kept on the log axis
        pos = err > 0
        iv = np.asarray(interval, np.float64).reshape(-1, 2)[pos]
        low = np.maximum(iv[:, 0], ZERO_FLOOR)
        ax.errorbar(
            x[pos], err[pos], yerr=np.vstack([err[pos] - np.minimum(low, err[pos]), iv[:, 1] - err[pos]]),
            fmt=style, capsize=2, label=label + " (95% bootstrap)",
        )  # fmt: skip
    else:
        ax.plot(x[err > 0], err[err > 0], style, label=label)
    if np.any(err == 0):
        ax.plot(
            x[err == 0],
            np.full(int(np.sum(err == 0)), ZERO_FLOOR),
            "o",
            mfc="none",
            color=ax.lines[-1].get_color(),
            label=f"{who}: no bit errors (drawn at {ZERO_FLOOR:g})",
        )


def capacity_figure(cap: dict, title: str) -> Figure:
    """Retrieval and bit errors against load (one N), or the critical load against
    N (a scaling series); ``compare`` runs are overlaid dashed."""
    fig = Figure(figsize=(11, 4.3), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    runs = [cap] + ([cap["compare"]] if "compare" in cap else [])
    unit = "K/N" if cap.get("load_power", 1) == 1 else f"K/N^{cap['load_power']:g}"
    if "series" not in cap:
        for r, ls in zip(runs, ("-", "--")):
            if "retrieved_interval" in r:
                ax.errorbar(
                    r["loads"], r["retrieved"], yerr=_yerr(r["retrieved"], r["retrieved_interval"]), fmt="o" + ls,
                    capsize=2, label=f"{r['method']}: fraction retrieved (95% Wilson)",
                )  # fmt: skip
            else:
                ax.plot(r["loads"], r["retrieved"], "o" + ls, label=f"{r['method']}: fraction retrieved")
            ax.plot(r["loads"], r["exact"], "s" + ls, alpha=0.6, label=f"{r['method']}: repaired exactly")
            _bit_errors(
                bx, r["loads"], r["bit_error"], "o" + ls, f"{r['method']}: bit-error rate", r["method"],
                r.get("bit_error_interval"),
            )  # fmt: skip
            bx.set_yscale("log")
        if "nearest_ceiling" in cap:
            ax.plot(cap["loads"], cap["nearest_ceiling"], ":", color="0.3", label="nearest-neighbour ceiling")
        if "one_step_theory" in cap:
            bx.semilogy(cap["loads"], cap["one_step_theory"], "k:", label="Φ(-√(N/K)), one update")
        if cap["family"] == "hebbian" and cap.get("load_power", 1) == 1:
            ax.axvline(0.138, color="0.5", ls=":", label="α_c ≈ 0.138 (Amit et al.)")
        for b in (ax, bx):
            b.set_xlabel(f"load {unit}  (N = {cap['N']})")
        ax.set_ylabel(f"fraction of starts ({100 * cap['flip']:.0f}% of signs flipped)")
        ax.set_ylim(-0.03, 1.03)
    else:
        for r, ls in zip(runs, ("-", "--")):
            for N, ser in zip(r["N"], r["series"]):
                _bit_errors(
                    bx, ser["K"], ser["bit_error"], "o" + ls, f"{r['method']} N = {N}", f"N = {N}",
                    ser.get("bit_error_interval"),
                )  # fmt: skip
                bx.set_xscale("log")
                bx.set_yscale("log")
            if "critical_K" in r:
                ax.loglog(r["N"], r["critical_K"], "o" + ls, label=f"{r['method']}: slope {r['scaling_exponent']:.2f}")
        bx.axhline(cap["error_rate"], color="0.5", ls=":")
        ax.set_xlabel("N")
        ax.set_ylabel(f"K at bit-error rate {cap['error_rate']:g}")
        bx.set_xlabel("K")
    bx.set_ylabel("bit-error rate of the end states")
    for b in (ax, bx):
        b.grid(alpha=0.3)
        b.legend(fontsize=7)
    fig.suptitle(f"{title}: {cap['family']} memory")
    return fig


def compare_figure(
    runs: list[tuple[str, list[Trajectory]]], layer: str, patterns: np.ndarray | None, title: str
) -> Figure:
    """The same starts run by two methods (e.g. a discrete rule and its ODE): the
    overlap of ``layer`` with the stored pattern nearest to the first run's end
    state, and the energy, against time (ODE) or sweeps (discrete rules)."""
    from ..core.patterns import cosine_similarity
    from ..solvers.registry import get_method

    fig = Figure(figsize=(11, 4.3), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    first_members = runs[0][1]
    targets = []
    for m in first_members:
        end = np.asarray(m.xhat[layer][-1], np.float64).ravel()
        targets.append(int(np.argmax(np.abs(cosine_similarity(end, patterns)))) if patterns is not None else None)
    for (method, members), ls in zip(runs, ("-", "--")):
        unit = "t" if method == "auto" or get_method(method).continuous else "sweeps"
        for i, (m, k) in enumerate(zip(members[:8], targets)):
            t = np.asarray(m.ts)
            lab = f"{method} ({unit})" if i == 0 else None
            if k is not None:
                a = np.asarray(m.xhat[layer], np.float64).reshape(len(t), -1)
                ax.plot(t, cosine_similarity(a, patterns[k : k + 1])[:, 0], ls, color=f"C{i % 10}", label=lab)
            bx.plot(t, np.asarray(m.energy), ls, color=f"C{i % 10}", label=lab)
    ax.set_ylabel(f"overlap of {layer!r} with the nearest stored pattern")
    bx.set_ylabel("energy (each method's own)")
    for b in (ax, bx):
        b.set_xlabel("time t (ODE) · sweeps (discrete rule)")
        b.grid(alpha=0.3)
        b.legend(fontsize=8)
    fig.suptitle(f"{title}: {' vs '.join(r[0] for r in runs)} from the same starts")
    return fig


# ------------------------------------------------------------------ continuation
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
    shown = _shown(r)
    handles, labels = [lines[i] for i in shown], [names[i] for i in shown]
    if len(shown) < len(lines):
        handles.append(Line2D([], [], color="none"))
        labels.append(f"+{len(lines) - len(shown)} more (in continuation.json)")
    legend(ax, handles, labels, most=LEGEND_MOST + 1, loc="upper left", bbox_to_anchor=(1.01, 1))
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


def finite_size_figure(cap: dict, title: str) -> Figure:
    """The retrieval curves of a capacity study over several N (95% Wilson
    bars) and the critical load where the two largest cross, with its
    bootstrap interval (AGS's 0.138 for the Hebbian memory)."""
    fs = cap["finite_size"]
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for N, ser in zip(cap["N"], cap["series"]):
        ax.errorbar(
            ser["loads"], ser["retrieved"], yerr=_yerr(ser["retrieved"], ser["retrieved_interval"]),
            fmt="o-", ms=3, capsize=2, label=f"N = {N}",
        )  # fmt: skip
    if fs["estimate"] is not None:
        ax.axvline(fs["estimate"], color="k", lw=1, label=f"curves cross: {fs['estimate']:.3f}")
        if fs["interval"]:
            ax.axvspan(*fs["interval"], color="k", alpha=0.12, label="95% bootstrap interval")
    if cap["family"] == "hebbian" and cap.get("load_power", 1) == 1:
        ax.axvline(0.138, color="C3", ls=":", label="α_c ≈ 0.138 (Amit et al.)")
    unit = "K/N" if cap.get("load_power", 1) == 1 else f"K/N^{cap['load_power']:g}"
    ax.set_xlabel(f"load {unit}")
    ax.set_ylabel(f"fraction retrieved (overlap ≥ {cap['overlap_threshold']:g}; {100 * cap['flip']:.0f}% flipped)")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: finite-size scaling ({cap['method']})")
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


def training_curves_figure(report: dict, title: str) -> Figure:
    """Training loss per epoch (and the held-out loss), and the metric on both
    splits (accuracy, or the error on hidden elements)."""
    ep = report["epochs"]
    e = [h["epoch"] for h in ep]
    key = "accuracy" if report["loss"] == "cross_entropy" else "hidden_error"
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    a.plot(e, [h["loss"] for h in ep], "o-", label="training (mean over the epoch's batches)")
    a.plot(e, [h["test_loss"] for h in ep], "s--", label="held out (after the epoch)")
    a.set(xlabel="epoch", ylabel=report["loss"].replace("_", "-"), yscale="log")
    a.legend(fontsize=8)
    b.plot(e, [h[f"train_{key}"] for h in ep], "o-", label="training")
    b.plot(e, [h[f"test_{key}"] for h in ep], "s--", label="held out")
    knn = report.get("knn_test_accuracy")
    if knn is not None:
        b.axhline(knn["accuracy"], color="gray", ls=":", label=f"{knn['k']}-nearest neighbours (held out)")
    b.set(xlabel="epoch", ylabel=key.replace("_", " "))
    b.legend(fontsize=8)
    fig.suptitle(f"{title}: training ({report['adjoint']} gradients)")
    fig.tight_layout()
    return fig


def images_figure(images: np.ndarray, shape, title: str, labels: list[str] | None = None, cols: int = 10) -> Figure:
    """Rows of ``images`` drawn as ``shape`` images in a grid (gray, each on its own scale)."""
    n = len(images)
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(1.1 * min(n, cols), 1.2 * rows + 0.4))
    FigureCanvasAgg(fig)
    for i in range(rows * min(n, cols)):
        ax = fig.add_subplot(rows, min(n, cols), i + 1)
        ax.set_axis_off()
        if i < n:
            ax.imshow(np.asarray(images[i]).reshape(shape), cmap="gray_r", interpolation="nearest")
            if labels is not None:
                ax.set_title(labels[i], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
