"""``hopdyn bench --cases live``: the live page as a person sees it.

``hopdyn serve`` is started as a user starts it (a new process, port 0, a fresh
compilation cache), stopped with Ctrl-C, and started again on the now warm
cache; against the warm server a WebSocket client (the ``websockets`` library,
standing in for the page) measures the seconds from opening the page's
socket to its first frame, the frames per second it receives over a few
seconds at the default cap (30) and uncapped (``--fps 120``: what the machine
can compute), and the frames' size.  In the same run, the compute alone — one
``LiveSession.step`` in-process — bounds the uncapped rate.
Targets (issue 31): at least 20 frames per second, the first frame within 1 s
of opening the page on a warm cache, frames of a few KB.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

TARGETS = {"fps": 20.0, "first_frame_s": 1.0, "frame_kb": 8.0}


def start_server(
    env: dict, fps: float = 30.0, scenario: str = "image-label-generate"
) -> tuple[subprocess.Popen, str, float]:
    """``hopdyn serve SCENARIO --port 0`` in a new process (as a user starts it):
    the process, its URL (from its first line) and the seconds until it said it."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hopdyn.cli", "serve", scenario, "--port", "0", "--fps", str(fps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    if " at http://" not in line:
        proc.kill()
        raise RuntimeError(f"hopdyn serve did not start: {line}{proc.stderr.read()[-2000:]}")
    url = line.split(" at ", 1)[1].split(" ", 1)[0]
    return proc, url, time.perf_counter() - start


def stop_server(proc: subprocess.Popen) -> tuple[int, float]:
    """Ctrl-C (SIGINT), as a user stops it: the exit code and the seconds it took."""
    start = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return code, time.perf_counter() - start


async def _watch(url: str, seconds: float) -> dict:
    import websockets

    socket_url = url.replace("http://", "ws://") + "live"
    opened = time.perf_counter()
    async with websockets.connect(socket_url, max_size=2**22) as ws:
        first = None
        sizes, stamps, energies = [], [], []
        while True:
            text = await asyncio.wait_for(ws.recv(), 30)
            message = json.loads(text)
            if "frame" not in message:
                continue
            now = time.perf_counter()
            if first is None:
                first = now - opened
            sizes.append(len(text))
            stamps.append(now)
            energies.append(message["energy"])
            if now - stamps[0] >= seconds:
                break
    fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {
        "first_frame_s": first,
        "fps": fps,
        "frames": len(stamps),
        "frame_bytes_mean": sum(sizes) / len(sizes),
        "frame_bytes_max": max(sizes),
        "energy_first": energies[0],
        "energy_last": energies[-1],
    }


def live_bench(quick: bool = False, log=print, scenario: str = "image-label-generate") -> dict:
    """Start-up, first frame, frames per second and frame size of ``hopdyn serve``."""
    from ..core.version import __version__
    from ..live.session import LiveSession
    from ..live.spec import load_spec

    seconds = 2.0 if quick else 6.0
    report: dict = {"scenario": scenario, "targets": TARGETS, "seconds_watched": seconds, "hopdyn": __version__}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "HOPDYN_COMPILATION_CACHE": cache, "PYTHONUNBUFFERED": "1"}
        env.setdefault("JAX_PLATFORMS", "cpu")
        proc, url, report["ready_cold_s"] = start_server(env, 30.0, scenario)
        code, _ = stop_server(proc)
        log(f"  live: cold start {report['ready_cold_s']:.2f} s (Ctrl-C: exit {code})")
        for fps in (30.0, 120.0):
            proc, url, ready = start_server(env, fps, scenario)
            try:
                watched = asyncio.run(_watch(url, seconds))
            finally:
                code, stop_s = stop_server(proc)
            key = "capped" if fps == 30.0 else "uncapped"
            report[key] = {**watched, "cap": fps, "ready_warm_s": ready, "exit_on_ctrl_c": code, "stop_s": stop_s}
            log(
                f"  live ({key}, cap {fps:g}): first frame {watched['first_frame_s']:.3f} s, "
                f"{watched['fps']:.1f} frames/s, {watched['frame_bytes_mean'] / 1024:.1f} KB a frame"
            )
    spec = load_spec(scenario)
    session = LiveSession(spec)
    session.step()
    n = 50 if quick else 200
    start = time.perf_counter()
    for _ in range(n):
        session.step()
    step = (time.perf_counter() - start) / n
    report["step_s"] = step
    report["compute_bound_fps"] = 1.0 / step
    report["uncapped_over_bound"] = report["uncapped"]["fps"] * step
    report["met"] = {
        "fps": report["capped"]["fps"] >= TARGETS["fps"],
        "first_frame_s": report["capped"]["first_frame_s"] <= TARGETS["first_frame_s"],
        "frame_kb": report["capped"]["frame_bytes_max"] / 1024 <= TARGETS["frame_kb"],
    }
    return report


def live_table(r: dict) -> str:
    c, u = r["capped"], r["uncapped"]
    lines = [
        f"Live page (`hopdyn serve {r['scenario']}`), watched {r['seconds_watched']:g} s by a WebSocket client:",
        "",
        "| | first frame | frames per second | frame size (mean / max) | ready after start |",
        "| --- | --- | --- | --- | --- |",
        f"| cap 30 (default) | {c['first_frame_s']:.3f} s | {c['fps']:.1f} | {c['frame_bytes_mean'] / 1024:.2f} / "
        f"{c['frame_bytes_max'] / 1024:.2f} KB | {c['ready_warm_s']:.2f} s (warm cache; cold {r['ready_cold_s']:.2f} s) |",
        f"| uncapped (--fps 120) | {u['first_frame_s']:.3f} s | {u['fps']:.1f} | {u['frame_bytes_mean'] / 1024:.2f} / "
        f"{u['frame_bytes_max'] / 1024:.2f} KB | {u['ready_warm_s']:.2f} s |",
        "",
        f"One frame's compute in-process: {1000 * r['step_s']:.1f} ms ({r['compute_bound_fps']:.0f} frames/s at most); "
        f"the uncapped stream reaches {100 * r['uncapped_over_bound']:.0f}% of that bound.",
        "Targets: " + ", ".join(f"{k} {'met' if v else 'not met'}" for k, v in r["met"].items()) + ".",
    ]
    return "\n".join(lines)
