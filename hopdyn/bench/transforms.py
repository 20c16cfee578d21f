"""``hopdyn bench --cases transforms``: ``jax.jit(jax.vmap(simulate))`` against
the batched ``simulate`` call on the same starts (the seed's dense
associative memory, Tsit5 to a steady state, end states only).  Both are the
same vmapped Diffrax solve; the ratio of their times (median of repeated
calls, measured in the same run, compilation apart) should be 1 within noise,
and their end states agree to rounding.
"""

from __future__ import annotations

import time

import numpy as np


def _case(quick: bool):
    import hopdyn as hd

    rng = np.random.default_rng(0)
    K, D, B = (100, 30, 64) if quick else (100, 30, 1024)
    Xi = rng.uniform(size=(K, D))
    net = hd.Network(
        {"v": hd.Neuron(D, hd.Sigmoid(1 / (2 * D))), "m": hd.Neuron(K, hd.Softmax(1.0))},
        [hd.Dense(("m", "v"), Xi)],
    ).astype("float32")
    starts = rng.uniform(size=(B, D)).astype(np.float32)
    settings = hd.SolveSettings(method="tsit5", t1=1000.0, dtype="float32", save=2)
    return net, starts, settings


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def transforms_bench(quick: bool = False, log=print) -> dict:
    import jax
    import jax.numpy as jnp

    import hopdyn as hd

    net, starts, settings = _case(quick)
    repeats = 3 if quick else 7
    batched = lambda: jax.block_until_ready(hd.simulate(net, {"v": starts}, settings).final_state["v"])  # noqa: E731
    mapped_fn = jax.jit(jax.vmap(lambda v: hd.simulate(net, {"v": v}, settings).final_state["v"]))
    x = jnp.asarray(starts)
    mapped = lambda: jax.block_until_ready(mapped_fn(x))  # noqa: E731
    a, b = np.asarray(batched()), np.asarray(mapped())  # compile both
    t_batched, t_mapped = _median_seconds(batched, repeats), _median_seconds(mapped, repeats)
    out = {
        "network": "seed 000 DAM (30 sigmoid + 100 softmax units), Tsit5 to a steady state, float32",
        "batch": int(len(starts)),
        "batched_seconds": t_batched,
        "jit_vmap_seconds": t_mapped,
        "ratio": t_mapped / t_batched,
        "max_abs_difference": float(np.max(np.abs(a - b))),
        "repeats": repeats,
    }
    log(f"transforms: batched {t_batched:.4f} s, jit(vmap) {t_mapped:.4f} s (x{out['ratio']:.2f})")
    return out


def transforms_table(r: dict) -> str:
    return "\n".join(
        [
            "| case | batch | batched simulate | jit(vmap(simulate)) | ratio | largest end-state difference |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {r['network']} | {r['batch']} | {1000 * r['batched_seconds']:.1f} ms | "
            f"{1000 * r['jit_vmap_seconds']:.1f} ms | {r['ratio']:.2f} | {r['max_abs_difference']:.1e} |",
        ]
    )
