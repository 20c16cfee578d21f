"""``hopdyn bench --cases latency``: seconds per command as a user sees them
(a new process each time, Python start-up included), against the bare
start-up of the stack measured beside each case.

For each shipped ``run`` scenario (and the three-layer network of a user's own
in ``three-layer.yaml``), in a fresh cache folder: ``hopdyn run`` cold (an
empty compilation cache); ``hopdyn verify`` on its folder the first time (it
reads the run's trajectory but compiles verify's own programs); the run again,
warm; ``hopdyn verify`` again right after it (warm: the target's case); and the
warm run without figures, which shows what the figures cost.  The baseline,
``python -c "import jax, diffrax, equinox"`` plus one operation, is measured
before every scenario (best of two), so a busy moment inflates both sides of
the ratio; ``hopdyn --help`` is measured the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..core.progress import bar

BARE = "import jax, diffrax, equinox; import jax.numpy as jnp; jnp.ones(3).sum().block_until_ready()"
# The targets: seconds, and multiples of the bare start-up
TARGETS = {
    "help": (1.0, 0.5),
    "warm": (3.0, 2.0),
    "cold": (8.0, 5.0),
    "verify_after_run": (3.0, 2.0),
}
OWN = Path(__file__).with_name("three-layer.yaml")


def _wall(argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, done


def _hopdyn(*args: str) -> list[str]:
    return [sys.executable, "-m", "hopdyn.cli", *args]


def _run_scenarios() -> list[str]:
    from ..scenario.loader import shipped_dir

    return sorted(p.stem for p in shipped_dir().glob("*.yaml") if p.stem != "broken-asymmetric")


def latency_bench(quick: bool = False, log=print) -> dict:
    """``latency`` of the shipped tutorial and the bench's own scenario
    (``quick``) or of every default scenario, with the version and mode."""
    from ..core.version import __version__

    names = ["dam-tutorial", str(OWN)] if quick else None
    return {**latency(names, log=log), "hopdyn": __version__, "mode": "quick" if quick else "full"}


def latency(scenarios: list[str] | None = None, log=print) -> dict:
    """Cold, warm and verify-after-run seconds of every scenario, each with the
    bare start-up measured just before it and the ratios; ``--help`` likewise."""
    names = scenarios if scenarios is not None else [*_run_scenarios(), str(OWN)]
    base_env = {**os.environ, "MPLBACKEND": "Agg"}
    base_env.setdefault("JAX_PLATFORMS", "cpu")

    def bare() -> float:
        return min(_wall([sys.executable, "-c", BARE], base_env)[0] for _ in range(2))

    report: dict = {"bare_command": f'python -c "{BARE}"', "targets": TARGETS, "scenarios": []}
    b = bare()
    helps = min(_wall(_hopdyn("--help"), base_env)[0] for _ in range(3))
    report["help"] = {"seconds": helps, "bare": b, "ratio": helps / b}
    imports = min(_wall([sys.executable, "-c", "import hopdyn"], base_env)[0] for _ in range(3))
    python = min(_wall([sys.executable, "-c", "pass"], base_env)[0] for _ in range(3))
    report["import_hopdyn"] = {"seconds": imports, "python_alone": python}
    log(
        f"bare start-up {b:.2f} s; hopdyn --help {helps:.2f} s ({helps / b:.2f}x); "
        f"python -c 'import hopdyn' {imports:.3f} s (python alone {python:.3f} s)"
    )
    with bar("latency: scenarios", len(names)) as counter:
        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                env = {**base_env, "HOPDYN_COMPILATION_CACHE": os.path.join(tmp, "cache")}
                out = os.path.join(tmp, "out")
                b = bare()
                cold, r1 = _wall(_hopdyn("run", name, "--out", out, "-q"), env)
                first_verify, _ = _wall(_hopdyn("verify", name, "--out", out, "-q"), env)  # compiles verify's own
                warm, r2 = _wall(_hopdyn("run", name, "--out", out, "-q"), env)
                result = json.loads(Path(out, "result.json").read_text()) if r2.returncode in (0, 1) else {}
                ver, r3 = _wall(_hopdyn("verify", name, "--out", out, "-q"), env)
                verified = json.loads(Path(out, "verify.json").read_text()) if r3.returncode in (0, 1) else {}
                bare_run, _ = _wall(_hopdyn("run", name, "--out", out, "-q", "--no-plots"), env)
            row = {
                "scenario": Path(name).stem,
                "bare": b,
                "cold": cold,
                "warm": warm,
                "warm_no_plots": bare_run,
                "verify_after_run": ver,
                "verify_after_run_cold": first_verify,
                "solve": result.get("wall_seconds", {}).get("solve"),
                "exit": [r1.returncode, r2.returncode, r3.returncode],
                "verify_reused_run": verified.get("trajectory") == "trajectory.npz of the earlier run",
                "warm_compilation": result.get("compilation"),
            }
            row["ratios"] = {
                k: row[k] / b for k in ("cold", "warm", "warm_no_plots", "verify_after_run", "verify_after_run_cold")
            }
            report["scenarios"].append(row)
            log(
                f"{row['scenario']}: cold {cold:.2f} s ({cold / b:.1f}x), warm {warm:.2f} s ({warm / b:.1f}x), "
                f"verify after run {ver:.2f} s ({ver / b:.1f}x; {first_verify:.2f} s the first time), "
                f"solve {row['solve'] or 0:.3g} s"
            )
            counter.advance()
    report["met"] = _met(report)
    return report


def _met(report: dict) -> dict:
    """Which targets hold, in seconds and as multiples of the bare start-up,
    with the worst scenario of each."""
    out = {
        "help": {
            "seconds": report["help"]["seconds"] <= TARGETS["help"][0],
            "ratio": report["help"]["ratio"] <= TARGETS["help"][1],
        }
    }
    rows = report["scenarios"]
    for kind in ("cold", "warm", "verify_after_run"):
        if not rows:
            continue
        worst = max(rows, key=lambda r: r["ratios"][kind])
        out[kind] = {
            "seconds": all(r[kind] <= TARGETS[kind][0] for r in rows),
            "ratio": all(r["ratios"][kind] <= TARGETS[kind][1] for r in rows),
            "worst": worst["scenario"],
            "worst_seconds": worst[kind],
            "worst_ratio": worst["ratios"][kind],
        }
    return out


def latency_table(r: dict) -> str:
    """The latency benchmark as a Markdown table (what the README shows)."""
    lines = [
        "| scenario | cold | warm | warm, no figures | verify after run (first) | verify after run | solve | bare start-up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["scenarios"]:
        cell = lambda k: f"{row[k]:.2f} s ({row['ratios'][k]:.1f}x)"  # noqa: E731
        solve = f"{row['solve']:.3g} s" if row["solve"] is not None else "-"
        lines.append(
            f"| {row['scenario']} | {cell('cold')} | {cell('warm')} | {cell('warm_no_plots')} | "
            f"{cell('verify_after_run_cold')} | {cell('verify_after_run')} | {solve} | {row['bare']:.2f} s |"
        )
    h = r["help"]
    lines.append("")
    lines.append(f"`hopdyn --help`: {h['seconds']:.2f} s ({h['ratio']:.2f}x the bare start-up of {h['bare']:.2f} s).")
    if "import_hopdyn" in r:
        i = r["import_hopdyn"]
        lines.append(f"`python -c 'import hopdyn'`: {i['seconds']:.3f} s (Python alone: {i['python_alone']:.3f} s).")
    met = r.get("met", {})
    verdicts = []
    for kind, (secs, ratio) in TARGETS.items():
        if kind in met:
            m = met[kind]
            verdicts.append(
                f"{kind.replace('_', ' ')} ≤ {secs:g} s: {'met' if m['seconds'] else 'not met'}, "
                f"≤ {ratio:g}x: {'met' if m['ratio'] else 'not met'}"
                + (
                    f" (worst {m['worst']}: {m['worst_seconds']:.2f} s, {m['worst_ratio']:.1f}x)"
                    if "worst" in m
                    else ""
                )
            )
    lines.append("Targets: " + "; ".join(verdicts) + ".")
    return "\n".join(lines)
