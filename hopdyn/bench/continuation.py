"""``hopdyn bench --cases continuation``: the continuation target of issue 19 —
a 1000-unit network, 10^4 starts at each of 20 parameter values — timed end
to end as a user runs it (``hopdyn basins`` in a new process), with the peak
resident memory of that process, and again with a quarter of the starts at
the same chunk size, so the ratio shows what memory grows with.

The network is the shipped ``ramsauer-regimes`` study widened to 1000 units
(twelve clustered patterns, the ODE from random starts, beta from 1e-3 to 20).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from ..core.progress import bar

TARGET_SECONDS = 900.0
PROBE = """
import json, resource, sys, time
from hopdyn.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _one(units: int, starts: int, values: int, chunk: int, folder: str) -> dict:
    sets = [
        f"patterns.X.random.shape=[12,{units}]",
        f"neurons.v.shape=[{units}]",
        f"patterns.X.random.norm={units**0.5:g}",  # the same overlaps per unit as the shipped study
        f"basins.ensemble.random.samples={starts}",
        f"basins.chunk={chunk}",
        f"continuation.range.num={values}",
    ]
    argv = [sys.executable, "-c", PROBE, "basins", "ramsauer-regimes", "-q", "--out", folder]
    for s in sets:
        argv += ["--set", s]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    if probe["code"] != 0:
        return {"error": (done.stderr or "exit code {}".format(probe["code"])).strip().splitlines()[-1:]}
    with open(os.path.join(folder, "continuation.json")) as f:
        r = json.load(f)
    return {
        "units": units,
        "starts": starts,
        "values": values,
        "chunk": chunk,
        "wall_seconds": round(wall, 2),
        "seconds_per_value": round(wall / values, 2),
        "peak_rss_mb": round(probe["peak_rss_mb"], 1),
        "attractors": len(r["attractors"]),
        "undecided": int(sum(r["undecided"])),
        "programs": r["programs"],
    }


def continuation_bench(quick: bool = False, log=print) -> dict:
    """The target case and the quarter-starts case (``quick``: 200 units, 400
    and 100 starts at 3 values, to check the machinery, not the target)."""
    units, starts, values, chunk = (200, 400, 3, 128) if quick else (1000, 10_000, 20, 1024)
    out = {"target_seconds": TARGET_SECONDS, "mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory(prefix="hopdyn-bench-cont-") as tmp, bar("bench: continuation", 2) as counter:
        for i, (key, n) in enumerate((("full", starts), ("quarter", starts // 4))):
            out[key] = _one(units, n, values, chunk, os.path.join(tmp, key))
            log(f"continuation {key}: {out[key]}")
            counter.update(i + 1, 2)
    full, quarter = out["full"], out["quarter"]
    if "error" not in full and "error" not in quarter:
        out["met"] = (not quick) and full["wall_seconds"] < TARGET_SECONDS
        out["memory_ratio"] = round(full["peak_rss_mb"] / quarter["peak_rss_mb"], 2)
    return out


def continuation_table(r: dict) -> str:
    rows = [
        "| run | units | starts × values | chunk | wall | per value | peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in ("full", "quarter"):
        c = r.get(key, {})
        if "error" in c or not c:
            rows.append(f"| {key} | failed: {c.get('error')} | | | | | |")
            continue
        rows.append(
            f"| {key} | {c['units']} | {c['starts']:,} × {c['values']} | {c['chunk']} | {c['wall_seconds']:.0f} s "
            f"| {c['seconds_per_value']:.1f} s | {c['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(rows)
