"""``hopdyn bench --cases training``: the shipped ``digits-train`` study trained
with implicit gradients for its epochs, then with unrolled gradients (back-
propagation through the solver's steps) for the same training time; held-out
accuracy, time per epoch, and XLA's memory account of one training step for
each.  Targets (issue 21): accuracy >= 97% with 3-nearest neighbours beside it,
an epoch under 60 s on the 2-core machine after compiling."""

from __future__ import annotations

TARGETS = {"accuracy": 0.97, "epoch_seconds": 60.0}


def training_bench(quick: bool = False, log=print) -> dict:
    from ..scenario import learning
    from ..scenario.build import load_and_build
    from ..scenario.loader import load, shipped_dir

    path = str(shipped_dir() / "digits-train.yaml")
    rows = []
    budget = None
    for adjoint in ("implicit", "unrolled"):
        sets = [f"training.adjoint={adjoint}"]
        if quick:
            sets.append("training.epochs=1")
        if budget is not None:
            sets += [f"training.max_seconds={budget}", "training.epochs=1000"]
        built = load_and_build(path, sets)
        _, data = load(path, sets)
        got = learning.run_training(built, data, None, False, "", log=None, measure_memory=True)
        r = got["report"]
        ep = r["epochs"]
        seconds = sum(h["seconds"] for h in ep)
        budget = budget or seconds
        rows.append(
            dict(
                adjoint=adjoint,
                epochs=len(ep),
                train_seconds=seconds,
                epoch_seconds=seconds / len(ep),
                compile_seconds=r["compile_seconds"],
                test_accuracy=ep[-1]["test_accuracy"],
                step_bytes=r["step_bytes"],
            )
        )
        log(
            f"  training {adjoint:9s}: {len(ep)} epochs in {seconds:.1f} s, held-out accuracy {ep[-1]['test_accuracy']:.4f}"
        )
    imp = rows[0]
    return {
        "mode": "quick" if quick else "full",
        "scenario": "digits-train",
        "rows": rows,
        "knn_test_accuracy": r["knn_test_accuracy"],
        "targets": TARGETS,
        "met": {
            "accuracy": imp["test_accuracy"] >= TARGETS["accuracy"],
            "epoch_seconds": imp["epoch_seconds"] < TARGETS["epoch_seconds"],
        },
    }


def training_table(r: dict) -> str:
    lines = [
        "| gradients | epochs | training time | per epoch | compile | held-out accuracy | memory per step (XLA) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in r["rows"]:
        mem = f"{x['step_bytes'] / 2**20:.1f} MiB" if x["step_bytes"] else "n/a"
        lines.append(
            f"| {x['adjoint']} | {x['epochs']} | {x['train_seconds']:.1f} s | {x['epoch_seconds']:.1f} s | "
            f"{x['compile_seconds']:.1f} s | {x['test_accuracy']:.2%} | {mem} |"
        )
    k = r["knn_test_accuracy"]
    lines.append("")
    lines.append(
        f"{k['k']}-nearest neighbours on the same split: {k['accuracy']:.2%}. Targets: accuracy >= "
        f"{r['targets']['accuracy']:.0%} ({'met' if r['met']['accuracy'] else 'not met'}), an epoch under "
        f"{r['targets']['epoch_seconds']:.0f} s ({'met' if r['met']['epoch_seconds'] else 'not met'})."
    )
    return "\n".join(lines)
