"""``hopdyn bench --cases gradient``: the gradient of a loss on ``equilibrium``
with respect to the weights, by the implicit adjoint and by back-propagation
through the steps (unrolled), for the same network reached in ~10 and ~1,000
steps (Euler with a 100x smaller step; ``max_steps`` 1.5x the steps taken, as
a user would set it).  Memory is XLA's own account of the compiled gradient
program (arguments + outputs + temporaries: deterministic, not a noisy RSS);
time is the median of repeated calls.  Target: the implicit gradient's memory
within 10% between the two step counts.
"""

from __future__ import annotations

import math
import time

import numpy as np

TARGET = 0.10  # implicit: peak memory within 10% from ~10 to ~1,000 steps


def _network(quick: bool):
    import hopdyn as hd

    rng = np.random.default_rng(0)
    D, P, K, B = (64, 10, 64, 16) if quick else (64, 10, 256, 64)
    net = hd.Network(
        {
            "x": hd.Neuron(D, hd.Identity(), 1.0),
            "y": hd.Neuron(P, hd.Softmax(1.0), 1.0),
            "z": hd.Neuron(K, hd.Softmax(0.5), 0.0),
        },
        [hd.L2Memory(("x", "z"), rng.uniform(0, 1, (K, D))), hd.Dense(("z", "y"), rng.normal(0, 1, (K, P)), scale=2.0)],
        {"x": True},
    ).astype("float32")
    x0 = {"x": rng.uniform(0, 1, (B, D)).astype(np.float32)}
    return net, x0, rng.normal(size=(B, P)).astype(np.float32)


def _program(net, x0, c, adjoint, dt, max_steps):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import hopdyn as hd

    from ..solvers.compile import memory_bytes

    def loss(weights):
        n = eqx.tree_at(lambda n: (n.synapses[0].patterns, n.synapses[1].weights), net, weights)
        x = hd.equilibrium(
            n,
            x0,
            method="euler",
            dt=dt,
            t1=1e4,
            max_steps=max_steps,
            steady_state={"rtol": 1e-4, "atol": 1e-5},
            adjoint=adjoint,
        )
        return jnp.sum(c * x["y"])

    weights = (net.synapses[0].patterns, net.synapses[1].weights)
    fn = jax.jit(jax.grad(loss))
    compiled = fn.lower(weights).compile()
    return compiled, weights, memory_bytes(compiled)


def gradient_bench(quick: bool = False, repeats: int = 5, log=print) -> dict:
    import jax

    import hopdyn as hd

    net, x0, c = _network(quick)
    out = {"mode": "quick" if quick else "full", "target": TARGET, "batch": len(c), "rows": []}
    for dt in (0.5, 0.005):
        _, info = hd.equilibrium(
            net, x0, method="euler", dt=dt, t1=1e4, steady_state={"rtol": 1e-4, "atol": 1e-5}, info=True
        )
        steps = int(np.max(np.asarray(info["n_steps"])))
        max_steps = math.ceil(1.5 * steps)
        for adjoint in ("implicit", "unrolled"):
            compiled, weights, peak = _program(net, x0, c, adjoint, dt, max_steps)
            jax.block_until_ready(compiled(weights))
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                jax.block_until_ready(compiled(weights))
                times.append(time.perf_counter() - t)
            row = dict(
                adjoint=adjoint,
                dt=dt,
                steps=steps,
                max_steps=max_steps,
                peak_bytes=peak,
                seconds=float(np.median(times)),
            )
            out["rows"].append(row)
            log(
                f"  gradient {adjoint:9s} steps {steps:5d}: {peak / 2**20 if peak else float('nan'):8.2f} MiB, {row['seconds'] * 1e3:8.1f} ms"
            )
    by = {(r["adjoint"], r["steps"] < 100): r for r in out["rows"]}
    for adjoint in ("implicit", "unrolled"):
        few, many = by[(adjoint, True)], by[(adjoint, False)]
        out[f"{adjoint}_memory_growth"] = many["peak_bytes"] / few["peak_bytes"] - 1 if few["peak_bytes"] else None
        out[f"{adjoint}_time_growth"] = many["seconds"] / few["seconds"]
    out["met"] = out["implicit_memory_growth"] is not None and abs(out["implicit_memory_growth"]) <= TARGET
    return out


def gradient_table(r: dict) -> str:
    rows = [
        f"| adjoint | Euler step | steps | peak memory (XLA) | time per gradient (batch {r['batch']}) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for x in r["rows"]:
        rows.append(
            f"| {x['adjoint']} | {x['dt']} | {x['steps']} | {x['peak_bytes'] / 2**20:.2f} MiB | {x['seconds'] * 1e3:.1f} ms |"
        )
    rows.append("")
    rows.append(
        f"Implicit: memory {r['implicit_memory_growth']:+.1%}, time x{r['implicit_time_growth']:.1f} from the few-step to the "
        f"many-step solve (target: memory within {r['target']:.0%}: **{'met' if r['met'] else 'not met'}**); unrolled: memory "
        f"{r['unrolled_memory_growth']:+.0%}, time x{r['unrolled_time_growth']:.1f}."
    )
    return "\n".join(rows)
