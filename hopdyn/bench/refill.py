"""``hopdyn bench --cases refill``: ensembles in lock-step chunks (one
``vmap``ped solve per chunk, every member stepping until the chunk's slowest
finishes) against slot refilling (``solvers.slots``: finished members leave,
new starts take their slots), on the same starts at the same batch size.

Cases: (a) a basin map of a classical Hebbian network (N = 200, tanh gain 10,
a 32 x 32 grid on the plane through the origin and two patterns, boundaries
included); (b) random starts on a modern Hopfield network near its metastable
regime (Ramsauer's energy, 12 clustered patterns, beta just above where the
cluster averages lose stability: starts near them linger); (c) the bench's
stiff memory.  Reported: trajectories per second of each, the ratio, the
distribution of steps per member, and whether both reach the same statuses,
labels and end states.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.progress import bar

TARGETS = {"classical-grid": 3.0, "modern-metastable": 3.0, "stiff-memory": 0.9}


def _cases(quick: bool):
    import hopdyn as hd

    from ..analysis.ensembles import grid_starts
    from .harness import dense_memory

    rng = np.random.default_rng(0)
    N, K = 200, 10
    xi = rng.choice([-1.0, 1.0], (K, N))
    classical = hd.Network({"s": hd.Neuron(N, hd.Tanh(10.0))}, [hd.Hebbian(("s",), xi)])
    res = 16 if quick else 32
    grid, _, _ = grid_starts(np.zeros(N), xi[0], xi[1], extent=(-1.5, 1.5), resolution=res)
    yield "classical-grid", classical, {"s": grid}, xi, dict(method="tsit5", t1=1000.0)

    D, C = 64, 3
    centres = rng.normal(size=(C, D))
    X = centres[np.arange(12) * C // 12] + rng.normal(0, 0.5, (12, D))
    X *= 8.0 / np.linalg.norm(X, axis=1, keepdims=True)
    k = 12
    cov = X.T @ (np.eye(k) / k - np.ones((k, k)) / k**2) @ X
    # the cluster averages lose stability near 1/lambda_max of a cluster's covariance
    b2 = max(
        1 / np.linalg.eigvalsh(X[i : i + 4].T @ (np.eye(4) / 4 - np.ones((4, 4)) / 16) @ X[i : i + 4]).max()
        for i in (0, 4, 8)
    )
    del cov
    modern = hd.Network({"v": hd.Neuron(D, hd.Identity())}, [hd.Exponential(("v",), X, beta=1.05 * b2, logsumexp=True)])
    M = 512 if quick else 4096
    yield "modern-metastable", modern, {"v": rng.normal(size=(M, D))}, X, dict(method="tsit5", t1=5000.0)

    net, x0, patterns = dense_memory(
        100 if quick else 1000, 128 if quick else 1024, 256 if quick else 1024, 0.05, 50.0, "float32"
    )
    yield "stiff-memory", net, x0, patterns, dict(method="auto", t1=200.0, rtol=1e-5, atol=1e-6)


def refill_bench(quick: bool = False, slots: int = 256, log=print) -> dict:
    import hopdyn as hd

    from ..analysis.runner import Chunking, resolve_ensemble_auto, solve_ensemble
    from ..solvers.slots import solve_in_slots

    out = {"slots": slots, "mode": "quick" if quick else "full", "targets": TARGETS, "cases": []}
    cases = list(_cases(quick))
    with bar("bench: refill", len(cases)) as counter:
        for name, net, starts, patterns, opts in cases:
            layer = next(iter(starts))
            s = hd.SolveSettings(dtype="float32", max_steps=100_000, **opts)
            s, _ = resolve_ensemble_auto(net, starts, {}, s)
            x0 = {k: np.asarray(v) for k, v in net.astype("float32").init_state(starts).items()}
            M = len(next(iter(x0.values())))
            lock = solve_ensemble(net, starts, None, s, Chunking(size=slots, refill=False))  # compile
            t = time.perf_counter()
            lock = solve_ensemble(net, starts, None, s, Chunking(size=slots, refill=False))
            t_lock = time.perf_counter() - t
            solve_in_slots(net, x0, s, slots)  # compile
            t = time.perf_counter()
            got, stats = solve_in_slots(net, x0, s, slots)
            t_slots = time.perf_counter() - t
            steps = got["n_steps"]
            end_a, end_b = np.asarray(lock[f"x_end/{layer}"], np.float64), np.asarray(got[f"x_end/{layer}"], np.float64)
            near_a = np.argmax(
                np.abs(end_a.reshape(M, -1) @ np.asarray(patterns, np.float64).reshape(len(patterns), -1).T), axis=1
            )
            near_b = np.argmax(
                np.abs(end_b.reshape(M, -1) @ np.asarray(patterns, np.float64).reshape(len(patterns), -1).T), axis=1
            )
            case = {
                "name": name,
                "method": s.method,
                "members": M,
                "lock_step": {"seconds": t_lock, "trajectories_per_second": M / t_lock},
                "refill": {
                    "seconds": t_slots, "trajectories_per_second": M / t_slots, "rounds": stats.rounds,
                    "busy": stats.busy,
                },
                "ratio": t_lock / t_slots,
                "steps": {
                    "median": float(np.median(steps)), "p90": float(np.percentile(steps, 90)),
                    "p99": float(np.percentile(steps, 99)), "max": int(steps.max()),
                },
                "same_status": bool(np.array_equal(lock["status"], got["status"])),
                "same_nearest_pattern": float(np.mean(near_a == near_b)),
                "max_end_difference": float(np.max(np.abs(end_a - end_b))),
            }  # fmt: skip
            case["met"] = (not quick) and case["ratio"] >= TARGETS[name]
            out["cases"].append(case)
            log(
                f"refill {name}: lock-step {t_lock:.3g} s, slots {t_slots:.3g} s ({case['ratio']:.2f}x); steps median "
                f"{case['steps']['median']:.0f}, max {case['steps']['max']}; same statuses {case['same_status']}"
            )
            counter.advance()
    return out


def refill_table(r: dict) -> str:
    rows = [
        "| case | method | members | lock-step traj/s | refilled traj/s | ratio | steps median / p90 / max | same ends |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in r["cases"]:
        st = c["steps"]
        rows.append(
            f"| {c['name']} | {c['method']} | {c['members']} | {c['lock_step']['trajectories_per_second']:.0f} | "
            f"{c['refill']['trajectories_per_second']:.0f} | **{c['ratio']:.2f}x** (target {r['targets'][c['name']]}x) | "
            f"{st['median']:.0f} / {st['p90']:.0f} / {st['max']} | {'yes' if c['same_status'] and c['same_nearest_pattern'] == 1 else 'no'} |"
        )
    return "\n".join(rows)
