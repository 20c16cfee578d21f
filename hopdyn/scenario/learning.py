"""A scenario's ``training:`` section (``hopdyn train``): its data, the split,
the patterns it learns, and the trained scenario it writes back.

Everything is checked before any work (a bad key is one line naming it).  The
patterns named in ``learn`` are the arrays trained: every synapse field that
refers to one (``weights: Labels``, ``patterns: Memories``) takes the learned
array (transposed where the synapse says ``transpose``).  The result is a
scenario like the input with those patterns read from ``trained.npz``, the
held-out examples as its initial states and, for classification, their labels
as the readout's expected indices, so ``run``, ``verify`` and ``basins``
accept it unchanged.
"""

from __future__ import annotations

import copy
import os

import numpy as np

from ..analysis.training import check_examples
from ..core import patterns as P
from ..core.errors import AnalysisError, UnfinishedWork
from ..model.params import SYNAPSES, parameters, pattern_ref
from .build import Built
from .loader import ScenarioError


def pattern_sites(sc) -> dict[str, list[tuple[int, str, bool]]]:
    """``{pattern: [(synapse index, field, transposed)]}``: where each named
    pattern enters the network."""
    sites: dict[str, list] = {}
    for i, spec in enumerate(sc.synapses):
        for name, (annotation, _) in parameters(SYNAPSES[spec.type]).items():
            value = getattr(spec, name, None)
            if pattern_ref(annotation) is not None and isinstance(value, str):
                transposed = name == "weights" and bool(getattr(spec, "transpose", False))
                sites.setdefault(value, []).append((i, name, transposed))
    return sites


def load_data(sc, path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The examples (one per row, scaled) and their class indices."""
    file = os.path.basename(path)
    d = sc.training.data
    if d.source == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ScenarioError(
                file, "training.data.source", "digits needs scikit-learn (pip install scikit-learn)"
            ) from None
        bunch = load_digits()
        X, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
        scale = 1 / 16 if d.scale is None else d.scale
    else:
        full = os.path.join(os.path.dirname(os.path.abspath(path)), d.file)
        try:
            X = P.load_file(full, d.inputs_key)
            y = P.load_file(full, d.targets_key) if d.targets_key and sc.training.loss == "cross_entropy" else None
        except P.PatternError as e:
            raise ScenarioError(file, "training.data.file", str(e)) from None
        scale = 1.0 if d.scale is None else d.scale
    keys = {"inputs": "training.data.inputs_key", "targets": "training.data.targets_key"}
    if d.source == "digits":
        keys = {"inputs": "training.data", "targets": "training.data"}
    try:
        X, y = check_examples(np.asarray(X) * scale, y, dtype=sc.dtype, names=("inputs", "targets"))
    except AnalysisError as e:
        where = d.file if d.source != "digits" else "digits"
        raise ScenarioError(file, keys[e.location[0]], f"{where}: {e.message}") from None
    if len(X) < 2:
        raise ScenarioError(file, "training.data", "expected at least two examples")
    return X, y


def check(built: Built, X: np.ndarray, y: np.ndarray | None) -> None:
    """Every key of ``training:`` against the network, before any work."""
    sc, file = built.scenario, os.path.basename(built.file)
    t = sc.training
    for key in ("inputs", "readout"):
        layer = getattr(t, key)
        if layer not in sc.neurons:
            raise ScenarioError(file, f"training.{key}", f"unknown neuron {layer!r} (neurons: {', '.join(sc.neurons)})")
    size = built.network.neurons[t.inputs].size
    if X.shape[1] != size:
        raise ScenarioError(file, "training.data", f"examples have {X.shape[1]} values, layer {t.inputs!r} has {size}")
    if t.loss == "reconstruction" and t.readout != t.inputs:
        raise ScenarioError(file, "training.readout", "reconstruction reads the layer it shows: use the inputs' layer")
    if t.loss == "cross_entropy":
        if y is None:
            raise ScenarioError(file, "training.data", "cross_entropy needs class indices (targets_key)")
        classes = built.network.neurons[t.readout].size
        if int(y.max()) >= classes:
            raise ScenarioError(
                file, "training.readout", f"classes up to {int(y.max())}, but layer {t.readout!r} has {classes} units"
            )
    sites = pattern_sites(sc)
    for name in t.learn:
        if name not in sc.patterns:
            raise ScenarioError(
                file, "training.learn", f"unknown pattern {name!r} (patterns: {', '.join(sc.patterns)})"
            )
        if name not in sites:
            raise ScenarioError(file, "training.learn", f"pattern {name!r} is used by no synapse: nothing to learn")
        for i, _, _ in sites[name]:
            if getattr(sc.synapses[i], "unlearn", None) is not None:
                raise ScenarioError(
                    file, f"synapses[{i}].unlearn", f"{name!r} is unlearned after storage; it cannot be trained"
                )
    rows = set()
    for name, what in t.init.items():
        if name not in t.learn:
            raise ScenarioError(file, f"training.init.{name}", f"{name!r} is not learned (training.learn)")
        arr = built.patterns[name]
        width = size if what == "inputs" else built.network.neurons[t.readout].size
        if arr.ndim != 2 or arr.shape[1] != width:
            raise ScenarioError(
                file,
                f"training.init.{name}",
                f"pattern {name!r} has shape {list(arr.shape)}; {what} rows need (K, {width})",
            )
        rows.add(arr.shape[0])
    if len(rows) > 1:
        raise ScenarioError(
            file, "training.init", f"patterns started from examples need the same K rows, got {sorted(rows)}"
        )
    if rows and rows.pop() > int(round((1 - t.test_fraction) * len(X))):
        raise ScenarioError(file, "training.init", "more rows than training examples")
    if t.image_shape is not None and int(np.prod(t.image_shape)) != size:
        raise ScenarioError(
            file, "training.image_shape", f"{t.image_shape} does not hold layer {t.inputs!r} of {size} values"
        )
    m = sc.solver.method
    if m == "auto":
        pass  # resolved once on the concrete network (run_training)
    elif m in ("rkc",) or m in ("async", "sync", "dense_async", "retrieval"):
        raise ScenarioError(file, "solver.method", f"training solves an ODE to its equilibrium; {m} cannot (use tsit5)")


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed train/test split of ``n`` examples (the seed's permutation)."""
    order = np.random.default_rng([seed, 7]).permutation(n)
    k = int(round(fraction * n))
    return np.sort(order[k:]), np.sort(order[:k])


def learner(sc, names: list[str]):
    """``(where, expand, collect)``: ``where(network)`` the learned arrays'
    sites in the network (as ``eqx.tree_at`` wants), ``expand`` the per-site
    values from one array per pattern, ``collect`` the inverse (a pattern used
    by several synapses is learned per use; ``collect`` keeps its first)."""
    sites = pattern_sites(sc)
    flat = [(name, i, field, tr) for name in names for (i, field, tr) in sites[name]]

    def where(net):
        return tuple(getattr(net.synapses[i], field) for (_, i, field, _) in flat)

    def expand(learned: dict):
        return tuple(learned[name].T if tr else learned[name] for (name, _, _, tr) in flat)

    def collect(values: tuple) -> dict:
        out = {}
        for (name, _, _, tr), v in zip(flat, values):
            out.setdefault(name, np.asarray(v).T if tr else np.asarray(v))
        return out

    return where, expand, collect


def trained_scenario(data: dict, sc, learned: dict, Xt: np.ndarray, yt: np.ndarray | None, npz: str) -> dict:
    """The input scenario with its learned patterns read from ``npz`` and the
    held-out examples as its initial states (labels as expected readouts)."""
    t = sc.training
    out = copy.deepcopy(data)
    out.pop("training", None)
    out.pop("continuation", None)
    out["name"] = f"{sc.name}-trained"
    out["description"] = f"{sc.name} after training: the learned patterns, the held-out examples as starts."
    pats = out.setdefault("patterns", {})
    for name in learned:
        pats[name] = {"file": npz, "key": name}
    pats["HeldOut"] = {"file": npz, "key": "held_out"}
    checks = out.setdefault("checks", {})
    checks.update({"converged": True, "fixed_point": True, "stable": True, "classify": "all"})
    out["initial"] = {t.inputs: {"pattern": "HeldOut", "index": "all"}}
    if t.loss == "cross_entropy":
        out["clamp"] = [t.inputs]
        classes = int(np.prod(sc.neurons[t.readout].shape))
        pats["Classes"] = {"onehot": classes}
        outputs = out.setdefault("outputs", {})
        outputs["readout"] = {"layer": t.readout, "patterns": "Classes", "expect": [int(v) for v in yt]}
    else:
        out["initial"][t.inputs]["corrupt"] = {"mask": float(t.hidden)}
    return out


def run_training(
    built: Built,
    data: dict,
    folder: str | None,
    resume: bool | None,
    identity: str,
    on_batch=None,
    log=None,
    measure_memory=False,
    keep_checkpoints: bool = False,
) -> dict:
    """Train as the scenario says; returns the report, the trained scenario
    (a dict for YAML), the arrays for ``trained.npz`` and what the figures need."""
    import dataclasses

    import jax

    from ..analysis.training import TrainSettings, knn_accuracy, train

    sc = built.scenario
    t = sc.training
    X, y = load_data(sc, built.file)
    check(built, X, y)
    train_idx, test_idx = split(len(X), t.test_fraction, sc.seed)
    network = built.network.unclamp().astype(built.settings.dtype or sc.dtype)
    solve = dataclasses.replace(built.settings, save=2, dtype=None)
    if solve.method == "auto":  # resolved once, on the first example: every batch runs one solve
        from ..solvers.stiffness import resolve_auto

        solve, _ = resolve_auto(network, network.init_state({t.inputs: X[train_idx[:1]]}), solve)
    if solve.steady is None:
        solve = dataclasses.replace(solve, steady_state=True)
    where, expand, collect = learner(sc, list(t.learn))
    if t.init:
        import equinox as eqx

        first = {name: np.asarray(built.patterns[name]) for name in t.learn}
        K = first[next(iter(t.init))].shape[0]
        pick = np.random.default_rng([sc.seed, 11]).choice(train_idx, K, replace=False)
        classes = network.neurons[t.readout].size
        for name, what in t.init.items():
            first[name] = X[pick] if what == "inputs" else np.eye(classes)[y[pick]]
        dtype = np.dtype(str(network.dtype))
        network = eqx.tree_at(where, network, tuple(np.asarray(v, dtype) for v in expand(first)))
    settings = TrainSettings(
        loss=t.loss,
        hidden=t.hidden,
        optimizer=t.optimizer,
        learning_rate=t.learning_rate,
        epochs=t.epochs,
        batch_size=t.batch_size,
        seed=sc.seed,
        adjoint=t.adjoint,
        max_seconds=t.max_seconds,
    )
    ytr = None if y is None else y[train_idx]
    yte = None if y is None else y[test_idx]
    try:
        result = train(
            network,
            where,
            X[train_idx],
            ytr,
            inputs=t.inputs,
            readout=t.readout,
            settings=settings,
            solve=solve,
            test=(X[test_idx], yte),
            folder=folder,
            resume=resume,
            identity=identity,
            keep_checkpoints=keep_checkpoints,
            on_batch=on_batch,
            log=log,
            measure_memory=measure_memory,
        )
    except UnfinishedWork as e:
        from .studies import unfinished

        raise unfinished(built.file, e) from None
    learned = collect(result.learned)
    report = {
        "scenario": sc.name,
        "loss": t.loss,
        "adjoint": t.adjoint,
        "method": solve.method,
        "examples": {"train": int(len(train_idx)), "test": int(len(test_idx))},
        "epochs": result.history,
        "compile_seconds": result.seconds_compile,
        "step_bytes": result.step_bytes,
        "resumed_after_epoch": result.resumed_from,
        "devices": str(jax.devices()[0].platform),
    }
    final = result.history[-1] if result.history else {}
    if t.loss == "cross_entropy":
        report["test_accuracy"] = final.get("test_accuracy")
        report["knn_test_accuracy"] = {"k": 3, "accuracy": knn_accuracy(X[train_idx], ytr, X[test_idx], yte, 3)}
    else:
        report["test_hidden_error"] = final.get("test_hidden_error")
    arrays = {**learned, "held_out": X[test_idx], "train_index": train_idx, "test_index": test_idx}
    if yte is not None:
        arrays["held_out_labels"] = yte
    trained = trained_scenario(data, sc, learned, X[test_idx], yte, "trained.npz")
    return dict(report=report, scenario=trained, arrays=arrays, network=result.network, X=X[test_idx], y=yte)


def train_study(built: Built, data: dict, folder: str | None, resume: bool | None, identity: str, **kw) -> dict:
    """What ``hopdyn train`` computes: ``run_training`` and, for a classifier of
    images, one generated input per class (``arrays["generated"]``).

    **Arguments:** as ``run_training`` (``kw``: its keywords)."""
    from ..core.progress import phase

    got = run_training(built, data, folder, resume, identity, **kw)
    t = built.scenario.training
    if t.image_shape is not None and t.loss == "cross_entropy":
        classes = built.network.neurons[t.readout].size
        with phase(f"generating one input per class: one batched equilibrium of {classes} (compiled first)"):
            got["arrays"]["generated"] = generate(got["network"], t, classes)
    return got


def generate(network, t, classes: int, strength: float = 10.0) -> np.ndarray:
    """For each class, the inputs' layer at equilibrium with the readout clamped
    to that class (state ``strength`` on its unit, 0 elsewhere) and the inputs
    free from zero: what the memory holds for the class."""
    import jax.numpy as jnp

    from ..solvers.equilibrium import equilibrium

    net = network.unclamp().clamp(t.readout)
    y0 = strength * np.eye(classes)
    x = equilibrium(net, {t.readout: jnp.asarray(y0, network.dtype)}, method="tsit5", steady_state=True, throw=False)
    return np.asarray(x[t.inputs])
