"""The figures of one run (``hopdyn run``): the energy, trajectories in principal components, end states as images, the phase portrait, the retrieval animation, and two methods compared."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..core.io import atomic_write
from ..model.network import Network
from ..solvers.trajectory import Trajectory
from .common import _log_time, _t_plot, _time_axis


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
        images.append(Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB"))
    # One palette for every frame, made from the first, middle and last frames side by side: mapping a
    # frame to a given palette costs a fifth of choosing one per frame, and frames that share a palette
    # are compared by the GIF writer without converting them back to RGB.
    w, h = images[0].size
    keys = [images[0], images[len(images) // 2], images[-1]]
    sample = Image.new("RGB", (w * len(keys), h))
    for k, im in enumerate(keys):
        sample.paste(im, (k * w, 0))
    palette = sample.quantize(256, method=Image.Quantize.MEDIANCUT)
    images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buf = io.BytesIO()
    durations = [90] * (len(images) - 1) + [1200]
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


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


PLOTS = ("energy", "pca", "states", "phase", "animation")  # the schema's outputs.plots (a test keeps them equal)


def term_labels(network) -> dict[str, str]:
    """Readable names of the energy terms: ``layer v``, ``dense m-v``."""
    names = {a: f"layer {a}" for a in network.names}
    names.update({f"synapse:{i}": f"{s.kind} {'-'.join(s.connects)}" for i, s in enumerate(network.synapses)})
    return names


def run_figures(
    kinds, members: list[Trajectory], network: Network, *, layer: str, patterns, image_shape, space: str, title: str
) -> list[tuple[str, object]]:
    """The figures of one run, by file name, each with the function that draws
    and writes it to a path (drawn when written, so a command names each
    figure as it draws it).  ``kinds`` are the scenario's ``outputs.plots``.

    **Arguments:**

    - ``kinds``: which of ``PLOTS`` to draw
    - ``members``: one truncated trajectory per member
    - ``network``: the network (the phase portrait and the energy terms' names)
    - ``layer``, ``patterns``, ``image_shape``, ``space``: what the state figures show
    - ``title``: the scenario's name
    """
    from ..core.io import write_figure

    draw = {
        "energy": lambda: energy_figure(members, title, term_labels(network)),
        "pca": lambda: pca_figure(members, layer, patterns, title, space),
        "states": lambda: states_figure(members, layer, image_shape, patterns, title, space),
        "phase": lambda: phase_figure(network, members, title),
    }
    out = []
    for kind in dict.fromkeys(kinds):
        if kind == "animation":
            write = lambda p: write_animation(p, members[0], layer, image_shape, title, space=space)  # noqa: E731
            out.append(("retrieval.gif", write))
        else:
            out.append((f"{kind}.png", lambda p, kind=kind: write_figure(p, draw[kind]())))
    return out


def compare_figures(
    runs: list[tuple[str, list[Trajectory]]], layer: str, patterns, title: str
) -> list[tuple[str, Figure]]:
    """``compare.png`` for the same starts run by two methods (nothing when a
    run has a member with no valid row to draw)."""
    if not all(len(m.ts) for _, members in runs for m in members):
        return []
    return [("compare.png", compare_figure(runs, layer, patterns, title))]
