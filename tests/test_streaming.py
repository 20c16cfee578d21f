"""Ensembles labelled as their chunks arrive (issue 33, item 1): the same labels
as labelling every end state at once, whatever the chunking; ``basins`` with
``keep_states=False`` gives the same study without holding any start's end
state; chunks reach ``consume`` in start order even when slots finish them out
of order.  References: a plain-numpy construction of the states (their true
clusters) and numpy's own cosines, not the code's output."""

import numpy as np
import pytest

import hopdyn as hd
from hopdyn.analysis import naming
from hopdyn.analysis import runner as R


def _states(rng, n=40, k=5):
    """Noisy patterns and negations (named), four unnamed clusters (true centre
    index known), and starts that reached no steady state, shuffled."""
    P = np.sign(rng.normal(size=(k, n)))
    rows, truth = [], []
    for _ in range(60):
        j, s = rng.integers(k), rng.choice([-1, 1])
        rows.append(s * P[j] + 0.05 * rng.normal(size=n))
        truth.append(("pattern" if s > 0 else "negated", int(j)))
    centres = 3 * rng.normal(size=(4, n))
    for _ in range(60):
        c = rng.integers(4)
        rows.append(centres[c] + 0.004 * rng.normal(size=n))
        truth.append(("centre", int(c)))
    for _ in range(10):
        rows.append(rng.normal(size=n))
        truth.append(None)
    order = rng.permutation(len(rows))
    act = np.array(rows)[order]
    truth = [truth[i] for i in order]
    status = np.array([0 if t is not None else 2 for t in truth])
    return P, act, status, truth


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_labels_in_chunks_equal_labels_of_the_whole(chunk):
    P, act, status, truth = _states(np.random.default_rng(0))
    whole, keys = naming.label_attractors(act, status, P, cluster=0.05)
    labeller = naming.Labeller(P, cluster=0.05)
    found = np.concatenate([labeller.add(act[i : i + chunk], status[i : i + chunk]) for i in range(0, len(act), chunk)])
    labels, keys_chunked = labeller.labels(found)
    np.testing.assert_array_equal(labels, whole)
    assert keys_chunked == keys
    # and both are right: a label per true attractor, -1 where no steady state was reached
    for t in set(truth) - {None}:
        members = [i for i, u in enumerate(truth) if u == t]
        assert len(set(labels[members])) == 1
        key = keys[labels[members[0]]]
        assert key == t if t[0] != "centre" else key[0] == "other"
    assert np.all((labels < 0) == (status != 0))
    assert len({k for k in keys if k[0] == "other"}) == 4


def _memory(n=24, k=3, seed=2):
    rng = np.random.default_rng(seed)
    X = np.sign(rng.normal(size=(k, n)))
    net = hd.Network({"v": hd.Neuron((n,), hd.Identity())}, [hd.Exponential(("v",), X, beta=0.5, logsumexp=True)])
    starts = 1.5 * rng.normal(size=(150, n))
    return net, X, starts


def test_basins_without_states_is_the_same_study(tmp_path):
    net, X, starts = _memory()
    kw = dict(layer="v", patterns=X, settings=hd.SolveSettings(t1=300.0, dtype="float64"))
    full = hd.basins(net, starts, chunking=hd.Chunking(size=32), **kw)
    lean = hd.basins(net, starts, chunking=hd.Chunking(size=32, folder=str(tmp_path / "w")), keep_states=False, **kw)
    assert lean.report == full.report
    assert not any(k.startswith(("x_end/", "xhat_end/")) for k in lean.arrays)
    for k in ("labels", "status", "t_final", "energy_end", "nearest"):
        np.testing.assert_array_equal(lean.arrays[k], full.arrays[k])
    ends = np.asarray(full.arrays["xhat_end/v"], np.float64)
    cos = ends @ X.T / np.linalg.norm(ends, axis=1)[:, None] / np.linalg.norm(X, axis=1)[None, :]
    np.testing.assert_allclose(lean.arrays["nearest"], np.max(np.abs(cos), axis=1), rtol=1e-12)
    for a in full.attractors:  # per attractor: its first start's end state, the mean of its activations
        members = np.flatnonzero(full.labels == a["label"])
        assert a["representative"] == members[0]
        np.testing.assert_array_equal(lean.arrays["attractors/x_end/v"][a["label"]], full.arrays["x_end/v"][members[0]])
        np.testing.assert_allclose(
            lean.arrays["attractors/xhat_mean/v"][a["label"]], ends[members].mean(axis=0), rtol=1e-12
        )
    assert len(full.attractors) >= 2


def test_chunks_reach_consume_in_start_order(tmp_path, monkeypatch):
    net, X, starts = _memory(seed=4)
    starts[3] *= 1e-9  # a start next to the saddle at 0 takes far longer: slots finish chunks out of order
    s = hd.SolveSettings(t1=300.0, dtype="float64")
    whole = R.solve_ensemble(net, {"v": starts}, settings=s, chunking=R.Chunking(size=16, refill=True))
    written, write = [], R._write_chunk
    monkeypatch.setattr(R, "_write_chunk", lambda path, i, fp, arrays: (written.append(i), write(path, i, fp, arrays)))
    seen = []
    got = R.solve_ensemble(
        net,
        {"v": starts},
        settings=s,
        chunking=R.Chunking(size=16, folder=str(tmp_path / "w"), refill=True),
        consume=lambda i, arrays: seen.append((i, arrays)),
    )
    assert got == {}
    assert written != sorted(written)  # done out of order (waited on disk), handed over in order:
    assert [i for i, _ in seen] == list(range(len(seen))) and len(seen) == -(-len(starts) // 16)
    for k, v in whole.items():
        np.testing.assert_array_equal(np.concatenate([a[k] for _, a in seen]), v)


def test_checking_the_starts_does_not_copy_them():
    """``hd.basins`` checks its starts before solving; for float64 starts the
    check reads them where they are (the continuation bench's peak was a
    float64 copy of 10^4 starts made by that check).  Measured with
    tracemalloc, which sees numpy's allocations: the check's peak stays well
    under the starts' size (the finiteness mask is an eighth of it)."""
    import tracemalloc

    from hopdyn.model.checks import check_states

    starts = np.random.default_rng(0).normal(size=(1000, 1000))  # 8 MB
    tracemalloc.start()
    try:
        check_states({"v": starts}, "starts", finite=True)
        check_states(starts, "starts", finite=True)  # an array alone, as hd.basins accepts
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < starts.nbytes / 4, peak


def _count_reads(monkeypatch) -> list[int]:
    """The number of rows of each read of drawn rows, from now on."""
    from hopdyn.core.patterns import DrawnRows

    reads, rows = [], DrawnRows.rows
    monkeypatch.setattr(
        DrawnRows, "rows", lambda self, a, b: (reads.append(min(b, len(self)) - a), rows(self, a, b))[1]
    )
    return reads


@pytest.mark.parametrize("distribution", ["normal", "uniform", "binary"])
def test_drawn_rows_are_the_whole_draw(distribution):
    """A ``DrawnRows`` read in pieces, in order, skipping and going back, gives
    the numbers of numpy's whole draw from the same generator."""
    from hopdyn.core.patterns import DrawnRows, random_patterns, rng

    whole = random_patterns(rng(7, "basins:random"), distribution, (300, 6), -1.5, 2.0, 0.3, 1.7)
    rows = DrawnRows(7, "basins:random", distribution, (300, 6), -1.5, 2.0, 0.3, 1.7)
    assert rows.shape == (300, 6) and len(rows) == 300 and np.shape(rows) == (300, 6)
    np.testing.assert_array_equal(np.concatenate([rows[0:1], rows[1:64], rows[64:250], rows[250:]]), whole)
    np.testing.assert_array_equal(rows[200:230], whole[200:230])  # skipping ahead
    np.testing.assert_array_equal(rows[10:20], whole[10:20])  # going back
    np.testing.assert_array_equal(rows[-1], whole[-1])
    np.testing.assert_array_equal(np.asarray(rows), whole)
    np.testing.assert_array_equal(rows.reshape(-1, 2, 3)[5:9], whole[5:9].reshape(4, 2, 3))
    assert rows.identity() != DrawnRows(8, "basins:random", distribution, (300, 6), -1.5, 2.0, 0.3, 1.7).identity()
    with pytest.raises(ValueError):
        rows.reshape(-1, 4)


def test_basins_from_drawn_rows_is_the_same_study(tmp_path, monkeypatch):
    """Random starts drawn a chunk at a time (``random_starts(lazy=True)``) give
    the study of the same starts drawn whole — in lock-step chunks, in refilled
    slots and resumed — and no read draws more than a chunk's rows."""
    from hopdyn.core.patterns import DrawnRows

    net, X, _ = _memory()
    lazy = hd.random_starts(150, 24, "normal", std=1.5, seed=3, lazy=True)
    whole = hd.random_starts(150, 24, "normal", std=1.5, seed=3)
    assert isinstance(lazy, DrawnRows) and isinstance(whole, np.ndarray)
    reads = _count_reads(monkeypatch)
    kw = dict(layer="v", patterns=X, settings=hd.SolveSettings(t1=300.0, dtype="float64"), keep_states=False)
    for refill in (False, True):
        ref = hd.basins(net, whole, chunking=hd.Chunking(size=32, refill=refill), **kw)
        reads.clear()
        folder = str(tmp_path / f"w{refill}")
        got = hd.basins(net, lazy, chunking=hd.Chunking(size=32, refill=refill, folder=folder), **kw)
        assert got.report == ref.report
        for k in ("labels", "status", "t_final", "energy_end", "nearest"):
            np.testing.assert_array_equal(got.arrays[k], ref.arrays[k])
        assert isinstance(got.arrays["x0/v"], DrawnRows) and reads and max(reads) <= 32, reads
    # an interrupted study resumes from its chunks: the starts' identity is in the fingerprint
    s = hd.SolveSettings(t1=300.0, dtype="float64")
    base = {}
    fp = R.fingerprint(net, {"v": lazy}, base, s, 32)
    assert fp == R.fingerprint(net, {"v": hd.random_starts(150, 24, "normal", std=1.5, seed=3, lazy=True)}, base, s, 32)
    assert fp != R.fingerprint(net, {"v": hd.random_starts(150, 24, "normal", std=1.5, seed=4, lazy=True)}, base, s, 32)


def test_stacked_rows_are_the_joined_parts():
    """A ``StackedRows`` of arrays and drawn rows reads, across the parts'
    boundaries, the rows ``np.concatenate`` of the whole parts gives; its
    identity changes with any part."""
    from hopdyn.core.patterns import DrawnRows, StackedRows

    g = np.random.default_rng(0)
    a, c = g.normal(size=(7, 6)), g.normal(size=(5, 6))
    drawn = DrawnRows(7, "basins:random", "binary", (40, 6))
    whole = np.concatenate([a, np.asarray(drawn), c])
    rows = StackedRows([a, drawn, c])
    assert rows.shape == (52, 6) and len(rows) == 52
    for lo, hi in [(0, 3), (3, 9), (5, 50), (46, 52), (10, 20), (0, 52), (51, 60)]:
        np.testing.assert_array_equal(rows[lo:hi], whole[lo:hi])
    np.testing.assert_array_equal(rows[47], whole[47])
    np.testing.assert_array_equal(np.asarray(rows), whole)
    np.testing.assert_array_equal(rows.reshape(-1, 3, 2)[4:12], whole[4:12].reshape(8, 3, 2))
    b = a.copy()
    b[2, 3] += 1e-12
    assert rows.identity() == StackedRows([a.copy(), DrawnRows(7, "basins:random", "binary", (40, 6)), c]).identity()
    assert rows.identity() != StackedRows([b, drawn, c]).identity()
    assert rows.identity() != StackedRows([a, DrawnRows(8, "basins:random", "binary", (40, 6)), c]).identity()
    with pytest.raises(ValueError):
        StackedRows([a, np.zeros((3, 5))])


def test_a_mixed_scenario_ensemble_draws_its_random_starts_a_chunk_at_a_time(tmp_path, monkeypatch):
    """Corrupted patterns, random starts and a grid in one ``basins:`` ensemble:
    the starts are those of the whole draw joined (corruptions first, then the
    random starts, then the grid), and a study without kept states reads no
    more than a chunk of the random ones at a time."""
    from helpers import HEBBIAN_16, write_scenario
    from hopdyn.analysis import ensembles as E
    from hopdyn.core.patterns import StackedRows
    from hopdyn.scenario import studies
    from hopdyn.scenario.build import load_and_build

    text = HEBBIAN_16 + (
        "basins:\n  chunk: 16\n  ensemble:\n"
        "    corruption: {levels: [0.1, 0.3], samples: 3}\n"
        "    random: {samples: 70, distribution: normal, std: 0.5}\n"
        "    grid: {through: [{pattern: 0}, {pattern: 1}, {pattern: 2}], resolution: 4}\n"
    )
    built = load_and_build(write_scenario(tmp_path, text))
    layer, _, pats = studies.basin_target(built)
    x0, meta, _ = studies.make_ensemble(built, layer, pats)
    sc = built.scenario
    corrupted, _, _ = E.corrupted_starts(pats, [0.1, 0.3], 3, "flip", "all", sc.seed)
    random = E.random_starts(70, 16, "normal", std=0.5, seed=sc.seed)
    grid, _, _ = E.grid_starts(pats[0], pats[1], pats[2], extent=sc.basins.ensemble.grid.extent, resolution=4)
    assert isinstance(x0, StackedRows) and x0.shape == (len(corrupted) + 70 + 16, 16)
    np.testing.assert_array_equal(np.asarray(x0), np.concatenate([corrupted, random, grid]))
    np.testing.assert_array_equal(meta["group"], np.repeat([0, 1, 2], [len(corrupted), 70, 16]))
    reads = _count_reads(monkeypatch)
    report, arrays = studies.run_basins(built, str(tmp_path / "o"), keep_states=False, classify=0)
    assert report["samples"] == len(x0) and isinstance(arrays[f"x0/{layer}"], StackedRows)
    assert reads and max(reads) <= 16, reads


def test_each_chunk_gives_back_what_its_solve_freed(monkeypatch):
    """The C heap's free pages go back to the system once per chunk handed over
    (the continuation bench's resident memory grew with the chunks run: glibc
    keeps freed blocks of every thread's arena)."""
    from hopdyn.core import budget

    budget.release_free_memory()  # harmless where there is no malloc_trim; on glibc it runs
    calls = []
    monkeypatch.setattr(R, "release_free_memory", lambda: calls.append(1))
    net, X, starts = _memory()
    R.solve_ensemble(
        net, {"v": starts}, settings=hd.SolveSettings(t1=300.0, dtype="float64"), chunking=R.Chunking(size=32)
    )
    assert len(calls) == -(-len(starts) // 32)


@pytest.mark.parametrize(
    "kw, where",
    [
        (dict(samples=0), "samples"),
        (dict(samples=10**8 + 1), "samples"),  # the schema's cap on basins.ensemble.random.samples
        (dict(size=2.5), "size"),
        (dict(distribution="weird"), "distribution"),
        (dict(std=0.0), "std"),
        (dict(low=float("nan")), "low"),
        (dict(lazy="yes"), "lazy"),
    ],
)
def test_random_starts_checks_its_arguments_as_the_scenario_does(kw, where):
    """``hd.random_starts`` is held to ``basins.ensemble.random``'s constraints
    and names the argument (a hopdyn error, not numpy's)."""
    args = dict(samples=4, size=3, distribution="normal", lazy=True)
    args.update(kw)
    with pytest.raises(hd.AnalysisError) as e:
        hd.random_starts(**args)
    assert e.value.location[0] == where, e.value


def test_a_continuation_of_a_million_random_starts_fits_where_a_basin_study_does_not():
    """The up-front estimate counts what each command holds: a continuation
    draws its random starts a chunk at a time and keeps per start only its
    label, status, time and energy (16 numbers), a ``hopdyn basins`` study
    keeps every start and end state for ``basins.npz``."""
    from hopdyn.core.budget import memory_budget
    from hopdyn.scenario import resources
    from hopdyn.scenario.loader import ScenarioError, load, resolve

    path = resolve("ramsauer-regimes")
    many = ["basins.ensemble.random.samples=1000000"]
    sc, _ = load(path, many)
    with memory_budget(2**30):
        held = resources.check(sc, "f.yaml", ".", "basins")["ensemble"]
        assert held == 8 * 10**6 * 16  # no start held: 122 MiB
        alone, _ = load(path, [*many, "continuation=null"])
        with pytest.raises(ScenarioError, match="basins.ensemble.random.samples"):
            resources.check(alone, "f.yaml", ".", "basins")  # 10^6 x (64 + 3 x 64 + 16) float64: 2 GiB
