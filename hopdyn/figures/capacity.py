"""The figures of a capacity study: retrieval and bit errors against load (or the critical load against N), and the finite-size crossing."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .common import ZERO_FLOOR, _yerr


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
        if cap.get("theory"):  # a learning rule's published bound beside the measurement
            th = cap["theory"]
            ax.axvline(th["critical_load"], color="C3", ls=":", label=f"{th['critical_load']:.3g}: {th['source']}")
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


def capacity_figures(cap: dict, title: str) -> list[tuple[str, Figure]]:
    """The figures a capacity study writes: the capacity curves, and the
    finite-size crossing when several N give one."""
    out = [("capacity.png", capacity_figure(cap, title))]
    if cap.get("finite_size", {}).get("estimate") is not None:
        out.append(("finite_size.png", finite_size_figure(cap, title)))
    return out
