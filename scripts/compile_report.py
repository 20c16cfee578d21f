"""What one hopdyn command compiles: programs (backend compilations, cache reads
included), and seconds traced, lowered and compiled per program name.

    python scripts/compile_report.py run dam-tutorial [--json]
    python scripts/compile_report.py --all [--checkout DIR] > after.jsonl
    python scripts/compile_report.py --table before.jsonl after.jsonl

Self-contained (JAX's monitoring events only), so it measures older checkouts
too (``--checkout``: a ``git worktree`` of an older commit, run in a subprocess
that imports hopdyn from there).  The README's before/after table comes from
``--all`` on both, with the persistent cache turned off
(HOPDYN_COMPILATION_CACHE=off) so every program is compiled.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import jax

EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}


def measure(argv: list[str]) -> dict:
    rows: dict[str, dict] = {}

    def listen(event, seconds, **kw):
        if event in EVENTS:
            name = kw.get("fun_name", "?").removeprefix("jit(").removesuffix(")")
            row = rows.setdefault(name, {"count": 0, "trace": 0.0, "lower": 0.0, "compile": 0.0})
            row[EVENTS[event]] += seconds
            row["count"] += EVENTS[event] == "compile"

    jax.monitoring.register_event_duration_secs_listener(listen)
    from hopdyn.cli import main

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        code = main([*argv, "--out", out, "-q"])
        wall = time.perf_counter() - start
    programs = sum(r["count"] for r in rows.values())
    seconds = sum(r["trace"] + r["lower"] + r["compile"] for r in rows.values())
    return {"argv": argv, "exit": code, "wall": wall, "programs": programs, "compile_seconds": seconds, "rows": rows}


COMMANDS = [
    "run dam-tutorial",
    "verify dam-tutorial",
    "run {own}",
    "verify {own}",
    "run two-neuron-phase",
    "run image-label-classify",
    "basins basins-dam",
    "basins basins-classical",
    "basins capacity-classical",
]
OWN = str(Path(__file__).resolve().parent.parent / "hopdyn" / "bench" / "three-layer.yaml")
ISOLATE = (
    "import sys, runpy; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
    "(getattr(f, '__module__', '') + type(f).__name__).lower()]; sys.path.insert(0, {root!r}); "
    "sys.argv = {argv!r}; runpy.run_path({script!r}, run_name='__main__')"
)


def measure_all(checkout: str | None) -> None:
    """Every command of COMMANDS, one fresh process each, a JSON line each."""
    import os
    import subprocess

    env = {**os.environ, "HOPDYN_COMPILATION_CACHE": "off", "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    for command in COMMANDS:
        argv = [__file__, *command.format(own=OWN).split(), "--json"]
        if checkout:
            code = ISOLATE.format(root=os.path.abspath(checkout), argv=argv, script=__file__)
            cmd = [sys.executable, "-c", code]
        else:
            cmd = [sys.executable, *argv]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else None
        print(line or json.dumps({"argv": command.split(), "failed": out.stderr[-500:]}), flush=True)


def table(before: str, after: str) -> str:
    """The README's table: programs and seconds compiling per command, before and after."""
    load = lambda f: [json.loads(line) for line in open(f) if line.strip()]  # noqa: E731
    name = lambda r: " ".join(Path(a).stem if a.endswith(".yaml") else a for a in r["argv"])  # noqa: E731
    rows = ["| command | programs before | after | compiling before | after | wall before | after |",
            "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for b, a in zip(load(before), load(after)):
        if "failed" in a or "failed" in b:
            rows.append(f"| {name(a)} | failed | | | | | |")
            continue
        rows.append(
            f"| {name(a)} | {b['programs']} | {a['programs']} | {b['compile_seconds']:.1f} s | "
            f"{a['compile_seconds']:.1f} s | {b['wall']:.1f} s | {a['wall']:.1f} s |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    if "--all" in sys.argv:
        i = sys.argv.index("--checkout") if "--checkout" in sys.argv else None
        measure_all(sys.argv[i + 1] if i else None)
        sys.exit(0)
    if "--table" in sys.argv:
        i = sys.argv.index("--table")
        print(table(sys.argv[i + 1], sys.argv[i + 2]))
        sys.exit(0)
    as_json = "--json" in sys.argv
    r = measure([a for a in sys.argv[1:] if a != "--json"])
    if as_json:
        print(json.dumps(r))
    else:
        print(
            f"{' '.join(r['argv'])}: {r['programs']} programs, {r['compile_seconds']:.2f} s compiling, {r['wall']:.2f} s in all"
        )
        for name, row in sorted(
            r["rows"].items(), key=lambda kv: -(kv[1]["trace"] + kv[1]["lower"] + kv[1]["compile"])
        ):
            total = row["trace"] + row["lower"] + row["compile"]
            if row["count"] or total > 0.05:
                print(
                    f"  {name:<32} x{row['count']:<3} {total:6.2f} s (trace {row['trace']:.2f}, lower {row['lower']:.2f}, compile {row['compile']:.2f})"
                )
