"""The figures of a capacity study: retrieval and bit errors against load (or the critical load against N), and the finite-size crossing."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .common import ZERO_FLOOR, _yerr, figures_for, register_figure


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


def _on_axis(critical: float, loads) -> bool:
    """Whether a published critical load is near enough the loads tested to be drawn on their axis."""
    return critical <= 1.5 * max(loads)


def _theory_line(ax, cap: dict, color: str = "0.4") -> None:
    """The published critical load of ``cap["theory"]`` as a dotted vertical
    line, or said in the legend when it lies beyond the loads tested (an
    exponential memory's bound is astronomically far)."""
    th = cap.get("theory")
    if not th:
        return
    loads = cap["loads"] if "loads" in cap else [lo for ser in cap["series"] for lo in ser["loads"]]
    label = f"theory {th['critical_load']:.3g}: {th['source']}"
    if _on_axis(th["critical_load"], loads):
        ax.axvline(th["critical_load"], color=color, ls=":", label=label)
    else:
        ax.plot([], [], ls=":", color=color, label=label + " (beyond the loads tested)")


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
        _theory_line(ax, cap)
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
        bounds = [(N, ser["theory"]) for N, ser in zip(cap["N"], cap["series"]) if ser.get("theory")]
        if bounds:  # the published capacity of each N beside the measured critical K
            Ns = np.array([N for N, _ in bounds], np.float64)
            Kt = np.array([th["critical_load"] for _, th in bounds]) * Ns ** cap.get("load_power", 1)
            ax.loglog(Ns, Kt, "k:", label=f"theory: {bounds[0][1]['source']}")
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


def finite_size_figure(cap: dict, title: str) -> Figure:
    """The retrieval curves of a capacity study over several N (95% Wilson
    bars) and the critical load where the two largest cross, with its
    bootstrap interval, beside the published critical load (``theory``:
    AGS's 0.138 for the Hebbian memory)."""
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
    _theory_line(ax, cap, color="C3")
    unit = "K/N" if cap.get("load_power", 1) == 1 else f"K/N^{cap['load_power']:g}"
    ax.set_xlabel(f"load {unit}")
    ax.set_ylabel(f"fraction retrieved (overlap ≥ {cap['overlap_threshold']:g}; {100 * cap['flip']:.0f}% flipped)")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: finite-size scaling ({cap['method']})")
    return fig


register_figure("capacity", "capacity.png", lambda cap, arrays, title: capacity_figure(cap, title))
register_figure(
    "capacity",
    "finite_size.png",
    lambda cap, arrays, title: finite_size_figure(cap, title),
    when=lambda cap, arrays: cap.get("finite_size", {}).get("estimate") is not None,
)


def capacity_figures(cap: dict, title: str) -> list[tuple[str, Figure]]:
    """The figures a capacity study writes: the capacity curves, the
    finite-size crossing when several N give one, and any figure registered
    for ``capacity``."""
    return figures_for("capacity", cap, None, title)


def rules_figure(rep: dict, title: str) -> Figure:
    """Learning rules side by side against the load: the fraction of stored
    patterns that are fixed points (each rule's published bound in its legend
    entry, and dotted in its colour where it lies on the axis), retrieval from
    the corruption nearest 10%, and the basin radius (95% intervals throughout; a radius below the smallest corruption tested
    is drawn open at 0, one retrieved at every corruption as a triangle at the
    largest)."""
    fig = Figure(figsize=(14, 4.4), layout="constrained")
    ax, bx, cx = fig.subplots(1, 3)
    flips = rep["flips"]
    j = int(np.argmin(np.abs(np.asarray(flips) - 0.1)))
    tested = [lo for r in rep["rules"] for lo in r["loads"]]
    for i, r in enumerate(rep["rules"]):
        c = f"C{i}"
        th = r.get("theory") or {}
        ax.errorbar(
            r["loads"], r["fixed"], yerr=_yerr(r["fixed"], r["fixed_interval"]), fmt="o-", color=c, capsize=2,
            ms=4, label=r["label"] + (f" (bound {th['critical_load']:.3g})" if th else ""),
        )  # fmt: skip
        if th and _on_axis(th["critical_load"], tested):
            ax.axvline(th["critical_load"], color=c, ls=":", lw=1)
        at = [row[j] for row in r["by_flip"]]
        bx.errorbar(
            r["loads"], at, yerr=_yerr(at, [row[j] for row in r["by_flip_interval"]]), fmt="o-", color=c,
            capsize=2, ms=4, label=r["label"],
        )  # fmt: skip
        loads = np.asarray(r["loads"], np.float64)
        rad = np.array([np.nan if x is None else x for x in r["radius"]], np.float64)
        iv = np.array([[0.0 if v is None else v for v in pair] for pair in r["radius_interval"]], np.float64)
        shown = np.nan_to_num(rad, nan=0.0)
        cx.errorbar(loads, shown, yerr=_yerr(shown, iv), fmt="-", color=c, capsize=2, label=r["label"])
        solid = ~np.isnan(rad) & ~np.asarray(r["radius_censored"], bool)
        cx.plot(loads[solid], rad[solid], "o", color=c, ms=4)
        cx.plot(loads[np.isnan(rad)], np.zeros(int(np.isnan(rad).sum())), "o", mfc="none", color=c, ms=5)
        up = np.asarray(r["radius_censored"], bool)
        cx.plot(loads[up], rad[up], "^", color=c, ms=6)
    ax.plot([], [], "k:", lw=1, label="published bound (dotted, rule's colour)")
    cx.plot([], [], "ko", mfc="none", label=f"no basin at {flips[0]:g} (drawn at 0)")
    ax.set_ylabel("fraction of patterns that are fixed points")
    bx.set_ylabel(f"fraction retrieved from {100 * flips[j]:.0f}% flipped (overlap ≥ {rep['overlap_threshold']:g})")
    cx.set_ylabel("basin radius (fraction of signs flipped)")
    for b in (ax, bx):
        b.set_ylim(-0.03, 1.03)
    cx.set_ylim(-0.02, 0.52)
    for b in (ax, bx, cx):
        b.set_xlabel(f"load K/N  (N = {rep['N']})")
        b.grid(alpha=0.3)
        b.legend(fontsize=7)
    fig.suptitle(f"{title}: learning rules ({rep['method']}, {rep['trials']} starts per point, 95% Wilson intervals)")
    return fig


register_figure("rules", "rules.png", lambda rep, arrays, title: rules_figure(rep, title))


def rules_figures(rep: dict, title: str) -> list[tuple[str, Figure]]:
    """The figures a rule comparison writes: ``rules.png``, and any figure registered for ``rules``."""
    return figures_for("rules", rep, None, title)
