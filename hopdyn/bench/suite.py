"""The benchmark suite: one registry of its parts (the solver cases of the
harness, and the parts measured apart), the run of the parts asked for, and
the Markdown tables the docs show.  ``hopdyn bench`` parses ``--cases``
against this registry, calls ``run`` and prints ``table``."""

from __future__ import annotations

import json
from typing import NamedTuple


class Part(NamedTuple):
    """A part measured apart: its module under ``bench/``, the function that
    measures it (``f(quick=..., log=...) -> dict``) and the one that tables
    it, and whether a plain ``hopdyn bench`` runs it (long ones only when named)."""

    name: str
    module: str
    measure: str
    table: str
    by_default: bool
    about: str


SOLVER_CASES = ("seed-dam", "dense", "dense-stiff", "dense-stiff-tau0", "scaling")  # harness.py, against baselines
PARTS = (
    Part("latency", "latency", "latency_bench", "latency_table", True, "seconds per command, cold and warm"),
    Part("refill", "refill", "refill_bench", "refill_table", True, "slots refilled against lock-step chunks"),
    Part("gradient", "gradient", "gradient_bench", "gradient_table", True, "implicit against unrolled gradients"),
    Part(
        "transforms", "transforms", "transforms_bench", "transforms_table", True, "jit(vmap(simulate)) against a batch"
    ),
    Part("live", "live", "live_bench", "live_table", True, "hopdyn serve: first frame, frames per second"),
    Part("training", "training", "training_bench", "training_table", False, "a training run (minutes)"),
    Part(
        "continuation",
        "continuation",
        "continuation_bench",
        "continuation_table",
        False,
        "the 1000-unit, 10^4-start, 20-value target (about 20 minutes)",
    ),  # fmt: skip
    Part(
        "ensemble-memory",
        "continuation",
        "million_bench",
        "million_table",
        False,
        "10^6 starts of the shipped ramsauer-regimes at two values, against 10^4 (a few minutes)",
    ),  # fmt: skip
)
NAMES = SOLVER_CASES + tuple(p.name for p in PARTS)


def _module(part: Part):
    import importlib

    return importlib.import_module(f"{__package__}.{part.module}")


def earlier(path: str) -> dict:
    """The ``bench.json`` already there (a part run alone updates only that part)."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def run(cases: tuple[str, ...] | None, *, quick: bool, dtype: str, report: dict, log=print) -> dict:
    """Measure the parts asked for (``None``: every part run by default) into
    ``report`` (the earlier ``bench.json``; what is not run again stays).

    **Arguments:**

    - ``cases``: names from ``NAMES``, or ``None``
    - ``quick``: small sizes; ``dtype``: of the solver cases
    - ``report``: the earlier report, updated in place and returned
    - ``log``: where progress lines go
    """
    solver_cases = None if cases is None else tuple(c for c in cases if c in SOLVER_CASES)
    if solver_cases is None or solver_cases:
        from . import harness

        kept = {c["name"]: c for c in report.pop("cases", [])}
        new = harness.bench(quick=quick, cases=solver_cases, dtype=dtype, log=log)
        for c in new.pop("cases", []):  # a case run again replaces its row; the others stay
            kept[c["name"]] = c
        if solver_cases is None or "dense-stiff" in solver_cases:
            report.pop("stiff_default_controller", None)
        if solver_cases is None or "scaling" in solver_cases:
            report.pop("scaling", None)
        report.update(new)
        order = SOLVER_CASES[:4]
        report["cases"] = sorted(kept.values(), key=lambda c: order.index(c["name"]) if c["name"] in order else 99)
    for part in PARTS:
        if (cases is None and part.by_default) or (cases is not None and part.name in cases):
            report[part.name] = getattr(_module(part), part.measure)(quick=quick, log=log)
    return report


def table(r: dict) -> str:
    """The benchmark as Markdown tables (what the docs show)."""
    parts = [_solver_table(r)] if r.get("cases") else []
    parts += [getattr(_module(p), p.table)(r[p.name]) for p in PARTS if p.name in r]
    return "\n\n".join(parts)


def _solver_table(r: dict) -> str:
    lines = [
        "| case | batch | hopdyn | compile | traj/s | steps (median/max) | GFLOP/s (of its products' rate) | error | Diffrax by hand (steps max) | Euler scan (end) | Euler scan (trajectory) | Python loop | solve_ivp (per traj.) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in r["cases"]:
        h, b = c["hopdyn"], c["baselines"]
        ratio = lambda k, key="ratio": (
            f"{'>' if b[k].get('lower_bound') else ''}{b[k][key]:.3g}x" if k in b and key in b[k] else "-"
        )
        flops = "-"
        if "gflops" in h:
            share = h.get("fraction_of_matmul_peak")
            rate = f" of {h['matmul_peak_gflops']:.3g}" if "matmul_peak_gflops" in h else ""
            flops = f"{h['gflops']:.3g} " + (
                f"({100 * share:.0f}%{rate})" if share is not None else "(fault: above the rate measured beside it)"
            )
        diffrax_steps = f" ({b['diffrax']['steps_max']})" if "diffrax" in b else ""
        lines.append(
            f"| {c['name']} | {c['batch']} | {h['method']} {h['wall_seconds']:.3g} s | {h['compile_seconds']:.2g} s | "
            f"{h['trajectories_per_second']:.3g} | "
            f"{h['steps_median']:.0f}/{h['steps_max']} | {flops} | {h['error']:.2g} | "
            f"{ratio('diffrax')}{diffrax_steps} | "
            f"{ratio('euler_scan')} | {ratio('euler_scan_trajectory')} | "
            f"{ratio('python_loop')} | {ratio('solve_ivp', 'ratio_per_trajectory')} |"
        )
    if "stiff_default_controller" in r:
        s = r["stiff_default_controller"]
        lines.append("")
        lines.append(
            f"Stiff case with Tsit5 and Diffrax's default controller: {s['wall_seconds']:.3g} s (steps max {s['steps_max']}, "
            f"{', '.join(s['statuses'])}); hopdyn's default is {s['speedup_of_auto']:.3g}x faster"
            + (f", with tau: 0 {s['speedup_of_tau0']:.3g}x" if "speedup_of_tau0" in s else "")
            + "."
        )
    if "scaling" in r:
        lines.append("")
        lines.append(
            "Cost per step grows like " + ", ".join(f"{k}^{v['exponent']:.2f}" for k, v in r["scaling"].items()) + "."
        )
    lines.append(
        f"GFLOP/s: XLA's flops of one vector-field evaluation × members × the slowest member's evaluations, over "
        f"the wall time, against the rate of the case's own products (batch × D against K, {r['dtype']}) measured "
        f"beside it; a 2048² product runs at {r['matmul_peak_gflops']:.3g} GFLOP/s. "
        "Ratios are baseline time / hopdyn time."
    )
    return "\n".join(lines)
