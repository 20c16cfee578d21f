"""Slot refilling (continuous batching): the same answers as lock-step chunks
and as each member solved alone, with members entering and leaving slots."""

import numpy as np
import pytest

import hopdyn as hd
from helpers import DTYPES
from hopdyn.solvers.slots import solve_in_slots, supported


def ramsauer(beta=0.27, seed=3):
    """Ramsauer's energy on 12 patterns in 3 clusters near the cluster-average
    transition: the starts' steps spread (some linger near the averages)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32))
    X = centres[np.arange(12) * 3 // 12] + rng.normal(0, 0.5, (12, 32))
    X *= 6.0 / np.linalg.norm(X, axis=1, keepdims=True)
    net = hd.Network({"v": hd.Neuron(32, hd.Identity())}, [hd.Exponential(("v",), X, beta=beta, logsumexp=True)])
    return net, X


def settings(dtype):
    return hd.SolveSettings(method="tsit5", t1=2000.0, dtype=dtype, steady_state=hd.SteadyState(1e-6, 1e-7))


@pytest.mark.parametrize("dtype", DTYPES)
def test_refilled_slots_give_the_lock_step_answers(dtype):
    net, X = ramsauer()
    starts = np.random.default_rng(0).normal(size=(96, 32))
    kw = dict(layer="v", settings=settings(dtype), patterns=X, naming=hd.Naming(overlap=0.98))
    lock = hd.basins(net, starts, chunking=hd.Chunking(16, refill=False), **kw)
    slot = hd.basins(net, starts, chunking=hd.Chunking(16, refill=True), **kw)
    np.testing.assert_array_equal(lock.labels, slot.labels)
    np.testing.assert_array_equal(lock.arrays["status"], slot.arrays["status"])
    # both stop once the field is within the steady-state tolerance (1e-7 + 1e-6 |v|), with
    # their own step sequences (Diffrax's loop and the slot loop): the ends agree to that
    np.testing.assert_allclose(
        slot.arrays["x_end/v"], lock.arrays["x_end/v"], atol=1e-4 if dtype == "float32" else 1e-5
    )
    # every end is a fixed point of Ramsauer's update v = X^T softmax(beta X v), checked in numpy
    v = np.asarray(slot.arrays["x_end/v"], np.float64)
    z = 0.27 * v @ X.T
    w = np.exp(z - z.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    assert np.max(np.abs(w @ X - v)) < (1e-3 if dtype == "float32" else 1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_member_ends_where_it_ends_alone_whatever_the_slots(dtype):
    net, _ = ramsauer()
    x0 = {"v": np.random.default_rng(1).normal(size=(24, 32))}
    x0 = {k: np.asarray(v) for k, v in net.init_state(x0).items()}
    s = settings(dtype)
    many, stats = solve_in_slots(net, x0, s, 6)
    assert stats.rounds > 1 and 0 < stats.busy <= 1  # members entered as others left
    wide, _ = solve_in_slots(net, x0, s, 24)  # one slot each: nothing refilled
    pairs = [(wide, many)]
    for i in (0, 7, 19):
        alone, _ = solve_in_slots(net, {"v": x0["v"][i : i + 1]}, s, 1)
        pairs.append((alone, {k: v[i : i + 1] for k, v in many.items()}))
    for got, ref in pairs:
        np.testing.assert_array_equal(got["status"], ref["status"])
        # XLA evaluates a batch of 6, 24 and 1 with other kernels: equal up to rounding
        assert np.max(np.abs(got["x_end/v"] - ref["x_end/v"])) < (1e-4 if dtype == "float32" else 1e-10)
        if dtype == "float64":  # float32: other kernels round otherwise, so the step sequence
            # (and where the steady-state test first passes) may differ; the end states above may not
            np.testing.assert_array_equal(got["n_steps"], ref["n_steps"])


def test_refill_writes_each_chunk_as_it_completes(tmp_path):
    net, X = ramsauer()
    starts = np.random.default_rng(2).normal(size=(40, 32))
    seen = []
    r = hd.basins(
        net, starts, layer="v", settings=settings("float64"), patterns=X, chunking=hd.Chunking(8, str(tmp_path / "partial"), refill=True),
        on_chunk=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert seen == [(i, 5) for i in range(1, 6)] and r.report["samples"] == 40
    assert not (tmp_path / "partial").exists()  # done: the chunks are in the result


def test_only_fsal_adaptive_solves_run_in_slots():
    net, _ = ramsauer()
    assert supported(settings("float32"), net)
    assert not supported(hd.SolveSettings(method="auto"), net)
    assert not supported(hd.SolveSettings(method="dopri8"), net)
    assert not supported(hd.SolveSettings(method="euler", dt=0.1), net)
    assert not supported(hd.SolveSettings(method="tsit5", steady_state=False), net)
    quasi = hd.Network(
        {"v": hd.Neuron(4, hd.Identity()), "m": hd.Neuron(3, hd.Softmax(1.0), tau=0.0)},
        [hd.Dense(("m", "v"), np.ones((3, 4)))],
    )
    assert not supported(settings("float32"), quasi)
    with pytest.raises(ValueError, match="slots"):
        solve_in_slots(net, {"v": np.zeros((2, 32))}, hd.SolveSettings(method="dopri8"), 2)
