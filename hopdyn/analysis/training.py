"""``train``: learn a network's arrays through its equilibrium.

Each minibatch clamps the inputs on a layer, lets the network settle
(``equilibrium``: one solve, gradients by the implicit function theorem or by
unrolling), and scores the readout at the steady state: cross-entropy on a
label layer, or the squared error of hidden (masked) elements of a layer that
is shown the rest.  The arrays learned are chosen by a ``learn`` function, as
``eqx.tree_at``'s ``where``; the optimiser is optax's.  A checkpoint per epoch
(``folder``) lets ``resume`` continue where a run stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..core.errors import AnalysisError
from ..core.progress import phase
from ..model.params import Doc, dataclass_arguments

LOSSES = ("cross_entropy", "reconstruction")


class TrainingDiverged(AnalysisError):
    """The loss or the learned arrays stopped being finite: a numerical failure
    of the run, not an input error (``hopdyn train`` exits 1)."""


OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How to train (every field has a default; each is checked where the
    settings are made: ``AnalysisError`` naming the field)."""

    loss: Annotated[Literal["cross_entropy", "reconstruction"], Doc("what the equilibrium is scored by")] = (
        "cross_entropy"
    )
    hidden: Annotated[float, Field(gt=0, lt=1), Doc("reconstruction: share of the layer's elements hidden")] = 0.25
    optimizer: Annotated[Literal["adam", "adamw", "sgd"], Doc("optax's optimiser")] = "adam"
    learning_rate: Annotated[float, Field(gt=0, allow_inf_nan=False), Doc("the optimiser's step")] = 1e-2
    epochs: Annotated[int, Field(ge=1), Doc("passes over the training examples")] = 10
    batch_size: Annotated[int, Field(ge=1), Doc("examples per step (at most the training set)")] = 64
    seed: Annotated[int, Field(ge=0), Doc("draws the batches and masks")] = 0
    adjoint: Annotated[
        Literal["implicit", "unrolled"], Doc("gradients by the implicit function theorem or unrolled")
    ] = "implicit"
    max_seconds: Annotated[float | None, Field(gt=0), Doc("stop after the epoch that takes training past this")] = None

    def __post_init__(self):
        from ..model.checks import check_fields

        check_fields(self, AnalysisError)


dataclass_arguments(TrainSettings)


@dataclasses.dataclass
class Training:
    """What ``train`` returns: the trained network, the learned arrays, and per
    epoch the mean training loss, accuracies (cross-entropy) or hidden-element
    errors (reconstruction) on both splits, and seconds."""

    network: object
    learned: tuple
    history: list[dict]
    seconds_compile: float
    resumed_from: int
    step_bytes: int | None  # XLA's account of one training step (arguments + outputs + temporaries)


def check_examples(inputs, targets=None, *, dtype="float64", names=("inputs_data", "targets")):
    """Training data, checked before any work: ``inputs`` one example per row
    (at least one, each of at least one finite value the dtype can hold),
    ``targets`` one non-negative class index per example (or ``None``).
    Returns ``(X (n, size) float64, y int64 or None)``; raises ``AnalysisError``
    naming ``names[0]`` or ``names[1]``."""
    try:
        X = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnalysisError("expected an array of numbers, one example per row", (names[0],)) from None
    if X.ndim < 2:
        raise AnalysisError(
            f"expected one example per row (2 or more dimensions), got shape {list(X.shape)}", (names[0],)
        )
    if X.shape[0] == 0 or X[0].size == 0:
        raise AnalysisError(
            f"expected at least one example of at least one value, got shape {list(X.shape)}", (names[0],)
        )
    bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
    if bad.size:
        raise AnalysisError(f"example {int(bad[0])} has non-finite values ({bad.size} examples in all)", (names[0],))
    top = float(np.finfo(np.dtype(dtype)).max)
    if np.max(np.abs(X)) > top:
        raise AnalysisError(f"values beyond {dtype}'s range ({top:.3g})", (names[0],))
    X = X.reshape(len(X), -1)
    if targets is None:
        return X, None
    try:
        y = np.asarray(targets, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnalysisError("expected class indices (numbers)", (names[1],)) from None
    if y.shape != (len(X),):
        raise AnalysisError(f"expected {len(X)} class indices, one per example, got shape {list(y.shape)}", (names[1],))
    wrong = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y >= 2**31))
    if wrong.size:
        raise AnalysisError(
            f"expected non-negative integer class indices, got {y[wrong[0]]!r} at example {int(wrong[0])}",
            (names[1],),
        )
    return X, y.astype(np.int64)


def data_digest(X, y=None) -> str:
    """A hash of the training data: part of the identity a resumed run must share."""
    from .runner import _checksum

    return _checksum({"inputs": X} if y is None else {"inputs": X, "targets": y})


def _optimizer(s: TrainSettings):
    import optax

    return {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd}[s.optimizer](s.learning_rate)


def _log_probs(network, readout: str, x):
    import jax
    import jax.numpy as jnp

    from ..model.lagrangians import Softmax

    lag = network.neurons[readout].lagrangian
    if isinstance(lag, Softmax):  # its activations are probabilities: log softmax(beta x)
        return jax.nn.log_softmax(lag.beta * x[readout], axis=-1)
    return jax.nn.log_softmax(jnp.reshape(network.activations(x)[readout], x[readout].shape), axis=-1)


def _programs(network, learn, inputs: str, readout: str, s: TrainSettings, solve):
    """The jitted step and evaluation (the network enters as an argument)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from ..solvers.equilibrium import equilibrium

    opt = _optimizer(s)

    def settle(net, params, xb, mask):
        net = eqx.tree_at(learn, net, params)
        if s.loss == "cross_entropy":
            net = net.clamp(inputs)
            x = equilibrium(net, {inputs: xb}, solve, adjoint=s.adjoint)
        else:
            net = net.clamp(**{inputs: ~mask})
            x = equilibrium(net, {inputs: jnp.where(mask, 0.0, xb)}, solve, adjoint=s.adjoint)
        return net, x

    def losses(net, params, xb, yb, mask):
        net, x = settle(net, params, xb, mask)
        if s.loss == "cross_entropy":
            logp = _log_probs(net, readout, x)
            nll = -jnp.take_along_axis(logp, yb[:, None], axis=-1)[:, 0]
            return nll, (jnp.argmax(logp, axis=-1) == yb).astype(logp.dtype)
        out = jax.vmap(net.activations)(x)[readout].reshape(xb.shape)
        err = jnp.sum(jnp.where(mask, (out - xb) ** 2, 0.0), axis=-1) / jnp.maximum(jnp.sum(mask), 1)
        return err, err

    @eqx.filter_jit
    def step(net, params, state, xb, yb, mask):
        def mean_loss(p):
            return jnp.mean(losses(net, p, xb, yb, mask)[0])

        value, grads = jax.value_and_grad(mean_loss)(params)
        updates, state = opt.update(grads, state, params)
        return eqx.apply_updates(params, updates), state, value

    @eqx.filter_jit
    def evaluate(net, params, xb, yb, mask):
        return losses(net, params, xb, yb, mask)

    return opt, step, evaluate


def _masks(rng, n: int, size: int, hidden: float) -> np.ndarray:
    """One mask per batch: ``hidden`` of the elements, at random."""
    m = np.zeros((n, size), bool)
    k = max(1, int(round(hidden * size)))
    for i in range(n):
        m[i, rng.choice(size, k, replace=False)] = True
    return m


def _evaluate(evaluate, net, params, X, y, mask, batch: int) -> tuple[float, float]:
    """Mean loss and mean metric over a split, in batches padded to one shape."""
    if len(X) == 0:
        return float("nan"), float("nan")
    losses, metric = [], []
    for i in range(0, len(X), batch):
        xb, yb = X[i : i + batch], y[i : i + batch]
        n = len(xb)
        pad = batch - n
        if pad:
            xb = np.concatenate([xb, np.repeat(xb[-1:], pad, 0)])
            yb = np.concatenate([yb, np.repeat(yb[-1:], pad, 0)])
        lo, me = evaluate(net, params, xb, yb, mask)
        losses.append(np.asarray(lo)[:n])
        metric.append(np.asarray(me)[:n])
    return float(np.mean(np.concatenate(losses))), float(np.mean(np.concatenate(metric)))


EPOCHS = r"epoch_\d{4}\.npz"


def _checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}.npz"


def _save(work, epoch: int, params, state, history) -> None:
    """One checkpoint: the learned arrays and optimiser state, the run's identity,
    the history so far and a checksum of the arrays (checked before use)."""
    import jax

    from ..core.io import write_npz
    from ..core.outputs import WriteError
    from .runner import _checksum

    leaves = jax.tree.leaves((params, state))
    arrays = {f"leaf_{i}": np.asarray(v) for i, v in enumerate(leaves)}
    meta = {"meta/identity": np.str_(work.identity), "meta/history": np.str_(json.dumps(history))}
    try:
        write_npz(work.where(_checkpoint_name(epoch)), {**arrays, **meta, "meta/checksum": np.str_(_checksum(arrays))})
    except OSError as e:
        raise WriteError(
            f"writing the checkpoint of epoch {epoch} in {work.path} failed ({e.strerror or e}); "
            "the checkpoints before it are kept (--resume continues from them)"
        ) from None


def _read_checkpoint(path: str, identity: str, like: list) -> tuple[list | None, list | None, str | None]:
    """A checkpoint's leaves and history, or why it cannot be used."""
    from .runner import _checksum

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001  truncated or foreign: zipfile, numpy and OS errors vary
        return None, None, f"cannot be read ({type(e).__name__})"
    try:
        owner, history, checksum = (str(data.pop(k)) for k in ("meta/identity", "meta/history", "meta/checksum"))
        history = json.loads(history)
    except (KeyError, ValueError):
        return None, None, "carries no identity, history or checksum"
    if owner != identity:
        return None, None, "belongs to another training run"
    if checksum != _checksum(data):
        return None, None, "does not match its checksum"
    leaves = [data.get(f"leaf_{i}") for i in range(len(like))]
    if len(data) != len(like) or any(v is None for v in leaves):
        return None, None, f"holds {len(data)} arrays where this run has {len(like)}"
    for i, (v, ref) in enumerate(zip(leaves, like)):
        if v.shape != np.shape(ref) or v.dtype != np.dtype(str(ref.dtype)):
            return (
                None,
                None,
                f"array {i} has shape {list(v.shape)} {v.dtype}, this run {list(np.shape(ref))} {ref.dtype}",
            )
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            return None, None, "holds non-finite values"
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return None, None, "carries no history"
    return leaves, history, None


def _latest(work, params, state, say):
    """The last sound checkpoint of this run: (epoch, params, state, history), or
    ``None``.  A damaged one (truncated, poisoned, of another shape) is said and
    skipped for the one before it."""
    import jax

    treedef = jax.tree.structure((params, state))
    like = jax.tree.leaves((params, state))
    epochs = sorted(int(name[6:10]) for name in work.names())
    for epoch in reversed(epochs):
        path = work.existing(_checkpoint_name(epoch))
        leaves, history, problem = _read_checkpoint(path, work.identity, like)
        if problem:
            say(f"checkpoint {path} {problem}: not used")
            continue
        p, st = jax.tree.unflatten(treedef, [jax.numpy.asarray(v) for v in leaves])
        return epoch, p, st, history
    return None


def train(
    network,
    learn: Callable,
    inputs_data: np.ndarray,
    targets: np.ndarray | None,
    *,
    inputs: str,
    readout: str,
    settings: TrainSettings | None = None,
    solve=None,
    test: tuple[np.ndarray, np.ndarray | None] | None = None,
    folder: str | None = None,
    resume: bool | None = None,
    identity: str = "",
    keep_checkpoints: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    measure_memory: bool = False,
) -> Training:
    """Learn a network's arrays through its equilibrium (what ``hopdyn train`` runs).

    **Arguments:**

    - ``network``: the ``Network``.
    - ``learn``: picks the arrays to learn, as ``eqx.tree_at``'s ``where``
      (``lambda n: (n.synapses[0].patterns,)``).
    - ``inputs_data``: ``(n, ...)`` examples, one per row (finite numbers).
    - ``targets``: ``n`` class indices (``loss="cross_entropy"``), or ``None``.
    - ``inputs``, ``readout``: the layer the examples are clamped on and the
      layer scored: cross-entropy of its activations against ``targets``, or
      (``loss="reconstruction"``, ``readout == inputs``) the error on hidden
      elements of the inputs.
    - ``settings``: a ``TrainSettings`` (loss, optimiser, learning rate,
      epochs, batch size, seed, adjoint).
    - ``solve``: the ``SolveSettings`` of every equilibrium (a named ODE method
      and a steady-state test).
    - ``test``: ``(inputs, targets)`` held out, evaluated after every epoch.
    - ``folder``, ``resume``, ``identity``: a checkpoint per epoch; ``resume``
      continues from the last sound one there (``identity`` must match),
      ``False`` discards them, ``None`` refuses a folder that holds them.
      A finished run removes its checkpoints unless ``keep_checkpoints``.
    - ``on_batch``, ``log``: progress (``on_batch(done, total)`` is first
      called once the step is compiled, so an ETA leaves compiling out);
      ``measure_memory``: also report XLA's account of one step (compiles it
      once more).

    **Returns:**

    A ``Training``: the trained network, the learned arrays, the history per
    epoch (loss, accuracy or hidden error on both splits, seconds).

    **Raises:**

    ``AnalysisError`` naming the argument for bad data (non-finite values,
    labels that are not class indices) or settings; ``TrainingDiverged`` when
    the loss or the learned arrays stop being finite or an equilibrium is not
    reached (lower the learning rate)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from ..solvers.settings import SolveSettings

    s = settings or TrainSettings()
    if s.loss not in LOSSES:
        raise AnalysisError(f"expected one of {', '.join(LOSSES)}, got {s.loss!r}", ("loss",))
    if s.optimizer not in OPTIMIZERS:
        raise AnalysisError(f"expected one of {', '.join(OPTIMIZERS)}, got {s.optimizer!r}", ("optimizer",))
    for key, layer in (("inputs", inputs), ("readout", readout)):
        if layer not in network.neurons:
            raise AnalysisError(f"unknown neuron {layer!r} (neurons: {', '.join(network.neurons)})", (key,))
    if s.loss == "reconstruction" and readout != inputs:
        raise AnalysisError("reconstruction reads the layer it shows: readout must equal inputs", ("readout",))
    solve = solve or SolveSettings(method="tsit5", steady_state=True)
    dtype = np.dtype(str(network.dtype))
    X, y = check_examples(inputs_data, targets, dtype=dtype)
    if s.loss == "cross_entropy" and y is None:
        raise AnalysisError("cross_entropy needs one class index per example", ("targets",))
    if y is not None and y.max() >= network.neurons[readout].size:
        raise AnalysisError(
            f"classes up to {int(y.max())}, but layer {readout!r} has {network.neurons[readout].size} units",
            ("targets",),
        )
    X = X.astype(dtype)
    y = np.zeros(len(X), np.int32) if y is None else y.astype(np.int32)
    if test is None or len(test[0]) == 0:
        Xt, yt = np.zeros((0, X.shape[1]), dtype), np.zeros(0, np.int32)
    else:
        Xt, yt = check_examples(test[0], test[1], dtype=dtype, names=("test", "test"))
        Xt = Xt.astype(dtype)
        yt = np.zeros(len(Xt), np.int32) if yt is None else yt.astype(np.int32)
    size = network.neurons[inputs].size
    if X.shape[1] != size:
        raise AnalysisError(f"inputs have {X.shape[1]} values each, layer {inputs!r} has {size}", ("inputs",))
    B = min(s.batch_size, len(X))
    opt, step, evaluate = _programs(network, learn, inputs, readout, s, solve)
    params = tuple(jnp.asarray(v) for v in learn(network))
    state = opt.init(params)
    history: list[dict] = []
    start_epoch = 0
    work = None
    if folder:
        from ..core.outputs import WorkFolder

        work = WorkFolder(
            folder,
            EPOCHS,
            identity,
            resume,
            changed=f"{folder} holds checkpoints of another training run (scenario, settings or data changed); "
            "use another folder or drop --resume",
        )
        if work.problem and log:
            log(work.problem)
    if work is not None and resume:
        got = _latest(work, params, state, log or (lambda message: None))
        if got is not None:
            start_epoch, params, state, history = got
            if log:
                log(
                    f"resumed: {start_epoch} of {s.epochs} epochs read from {folder} (continuing after epoch {start_epoch})"
                )
    rng_mask = np.random.default_rng([s.seed, 1])
    eval_mask = _masks(rng_mask, 1, size, s.hidden)[0] if s.loss == "reconstruction" else np.zeros(size, bool)
    compile_start = time.perf_counter()
    with phase(f"compiling the training step (a batch of {B}) and running it once"):
        with _solve_failures(work, "before the first step (the untrained network)"):
            jax.block_until_ready(step(network, params, state, X[:B], y[:B], eval_mask))  # result discarded
    seconds_compile = time.perf_counter() - compile_start
    step_bytes = _step_bytes(step, network, params, state, X[:B], y[:B], eval_mask) if measure_memory else None
    spent = sum(h["seconds"] for h in history)
    batches = len(X) // B
    if on_batch:  # the clock of an ETA starts here, after compiling
        on_batch(start_epoch * batches, s.epochs * batches)
    for epoch in range(start_epoch, s.epochs):
        t0 = time.perf_counter()
        rng = np.random.default_rng([s.seed, epoch])
        order = rng.permutation(len(X))
        masks = _masks(rng, batches, size, s.hidden) if s.loss == "reconstruction" else None
        total = 0.0
        for b in range(batches):
            idx = order[b * B : (b + 1) * B]
            mask = masks[b] if masks is not None else eval_mask
            with _solve_failures(work, f"in epoch {epoch + 1}, batch {b + 1}"):
                params, state, value = step(network, params, state, X[idx], y[idx], mask)
                total += float(value)
            if on_batch:
                on_batch(epoch * batches + b + 1, s.epochs * batches)
        if not np.isfinite(total) or not all(np.all(np.isfinite(np.asarray(p))) for p in params):
            if work is not None and not work.names():
                work.finish()  # nothing worth resuming: no folder left behind
            raise TrainingDiverged(
                f"the training loss became {total:.4g} in epoch {epoch + 1} (the learned arrays are no longer "
                "finite); lower the learning rate",
                ("learning_rate",),
            )
        seconds = time.perf_counter() - t0
        _, train_metric = _evaluate(evaluate, network, params, X, y, eval_mask, B)
        test_loss, test_metric = _evaluate(evaluate, network, params, Xt, yt, eval_mask, B)
        key = "accuracy" if s.loss == "cross_entropy" else "hidden_error"
        history.append(
            {
                "epoch": epoch + 1,
                "loss": total / batches,
                "test_loss": test_loss,
                f"train_{key}": train_metric,
                f"test_{key}": test_metric,
                "seconds": seconds,
            }
        )
        if log:
            log(
                f"epoch {epoch + 1}/{s.epochs}: loss {total / batches:.4f}, train {key} {train_metric:.4f}, "
                f"test {key} {test_metric:.4f} ({seconds:.1f} s)"
            )
        if work is not None:
            _save(work, epoch + 1, params, state, history)
        spent += seconds
        if s.max_seconds is not None and spent >= s.max_seconds:
            break
    if work is not None and not keep_checkpoints:
        work.finish()  # finished: the result is what the caller keeps
    trained = eqx.tree_at(learn, network, params)
    return Training(trained, tuple(np.asarray(p) for p in params), history, seconds_compile, start_epoch, step_bytes)


@contextlib.contextmanager
def _solve_failures(work, where: str):
    """An equilibrium that is not reached during training (Equinox's runtime
    error from inside the compiled step) is the run's numerical failure:
    ``TrainingDiverged``, one line, and no partial folder without a checkpoint."""
    import equinox as eqx

    try:
        yield
    except eqx.EquinoxRuntimeError:
        if work is not None and not work.names():
            work.finish()
        raise TrainingDiverged(
            f"the equilibrium was not reached {where} (no steady state within the step limit, or non-finite "
            "values: the learned arrays may have diverged); lower the learning rate, or raise solver.t1/max_steps",
            ("learning_rate",),
        ) from None


def _step_bytes(step, *args) -> int | None:
    """XLA's memory account of the compiled step (deterministic, unlike RSS)."""
    from ..solvers.compile import memory_bytes

    try:
        return memory_bytes(step.lower(*args).compile())
    except Exception:  # a backend without the analysis  # noqa: BLE001
        return None


def knn_accuracy(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, k: int = 3) -> float:
    """Test accuracy of k-nearest neighbours (Euclidean, majority vote, ties to
    the nearest), the baseline a learned memory is compared with."""
    X, Xt = np.asarray(X, float).reshape(len(X), -1), np.asarray(Xt, float).reshape(len(Xt), -1)
    d = (Xt**2).sum(1)[:, None] - 2 * Xt @ X.T + (X**2).sum(1)[None, :]
    near = np.argsort(d, axis=1, kind="stable")[:, :k]
    labels = y[near]
    pred = np.empty(len(Xt), y.dtype)
    for i, row in enumerate(labels):
        counts = np.bincount(row)
        best = np.flatnonzero(counts == counts.max())
        pred[i] = next(v for v in row if v in best)  # ties: the nearest of the tied classes
    return float(np.mean(pred == yt))
