"""Never outside the folder, never a wrong program, never a traceback (issue 27):
each class of attack on what landed since the first reliability round, as a
test that fails without its fix.

Classes: manifests that name paths outside their folder; folders passed from
Python; partial-result folders that are links or files; leftovers of killed
runs; compilation-cache entries moved, truncated or unwritable; training data
and checkpoints; resumed studies that must equal uninterrupted ones; values a
dtype cannot hold; forged run outputs; escape sequences on stdout."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import hopdyn as hd
from helpers import HEBBIAN_16, tiny_train
from helpers import write_scenario as _write
from hopdyn.analysis import runner as R
from hopdyn.cli import main

BASE = HEBBIAN_16.replace("solver: {", "solver: {method: tsit5, ")
BASINS = BASE + "basins: {ensemble: {random: {samples: 12}}, chunk: 4}\n"
CONT = BASINS + "continuation: {parameter: 'neurons.s.lagrangian.beta', values: [1.5, 2.0]}\n"


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("hopdyn: error")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files)


# ------------------------------------------------------------------ 1. never outside the folder
@pytest.mark.parametrize("entry", ["../victim.txt", "ABSOLUTE", "sub/../../victim.txt"])
def test_a_manifest_never_directs_a_deletion_outside_its_folder(tmp_path, capsys, entry):
    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's")
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    name = str(victim) if entry == "ABSOLUTE" else entry
    m["files"][name] = {"command": "run", "sha256": "0" * 64, "scenario_sha256": "another"}
    (out / "manifest.json").write_text(json.dumps(m))
    assert main(["run", path, "--out", str(out), "-q", "--set", "solver.t1=40"]) == 0
    assert victim.read_text() == "the user's"
    assert name not in json.loads((out / "manifest.json").read_text())["files"]


def test_only_files_still_as_hopdyn_wrote_them_are_removed_as_stale(tmp_path):
    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    assert main(["verify", path, "--out", str(out), "-q"]) == 0
    (out / "verify.json").write_text("edited by the user")  # no longer what hopdyn wrote
    assert main(["run", path, "--out", str(out), "-q", "--set", "solver.t1=40"]) == 0
    assert (out / "verify.json").read_text() == "edited by the user"


def test_a_folder_passed_from_python_keeps_the_users_files(tmp_path):
    net = hd.Network({"s": hd.Neuron(8, hd.Tanh(2.0))}, [hd.Hebbian(("s",), np.sign(np.eye(2, 8) - 0.5))])
    starts = np.random.default_rng(0).normal(size=(12, 8))
    s = hd.SolveSettings(method="tsit5", t1=50.0)
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("the user's")
    hd.basins(net, starts, layer="s", settings=s, chunking=hd.Chunking(4, str(d)))
    assert _tree(d) == ["notes.txt"] and (d / "notes.txt").read_text() == "the user's"
    (d / "chunk_00000.npz").write_text("left from before")  # a name hopdyn gives its chunks
    with pytest.raises(hd.UnfinishedWork):  # never discarded without being asked
        hd.basins(net, starts, layer="s", settings=s, chunking=hd.Chunking(4, str(d)))
    hd.basins(net, starts, layer="s", settings=s, chunking=hd.Chunking(4, str(d), resume=False))
    assert _tree(d) == ["notes.txt"]
    c = tmp_path / "cont"
    c.mkdir()
    (c / "notes.txt").write_text("the user's")
    hd.continuation(
        net,
        lambda n: n.neurons["s"].lagrangian.beta,
        [1.5, 2.0],
        starts,
        layer="s",
        settings=s,
        chunking=hd.Chunking(4),
        folder=str(c),
    )
    assert _tree(c) == ["notes.txt"]
    fresh = tmp_path / "fresh"
    hd.basins(net, starts, layer="s", settings=s, chunking=hd.Chunking(4, str(fresh)))
    assert not fresh.exists()  # the folder hopdyn made is removed again when done


@pytest.mark.parametrize("kind", ["basins", "continuation", "training"])
def test_partial_folders_that_are_links_are_replaced_not_followed(tmp_path, kind):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    out = tmp_path / "o"
    out.mkdir()
    os.symlink(elsewhere, out / f"{kind}.partial")
    if kind == "training":
        _data(tmp_path)
        path = _write(tmp_path, TRAIN)
        assert main(["train", path, "--out", str(out), "-q"]) == 0
    else:
        path = _write(tmp_path, CONT if kind == "continuation" else BASINS)
        assert main(["basins", path, "--out", str(out), "-q"]) == 0
    assert _tree(elsewhere) == ["keep.txt"]
    assert not os.path.islink(out / f"{kind}.partial")


def test_a_file_where_partial_results_go_is_one_line(tmp_path, capsys):
    path = _write(tmp_path, CONT)
    out = tmp_path / "o"
    out.mkdir()
    (out / "continuation.partial").write_text("mine")
    assert main(["basins", path, "--out", str(out), "-q"]) == 2
    _one_line(capsys, "continuation.partial", "not a folder")
    assert (out / "continuation.partial").read_text() == "mine"


def test_leftovers_of_a_killed_run_are_removed(tmp_path):
    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    (out / ".hopdyn-staging-999999").mkdir()
    (out / ".hopdyn-staging-999999" / "result.json").write_text("{}")
    (out / ".result.json.abc.tmp").write_text("half")
    assert main(["run", path, "--out", str(out), "-q", "--set", "solver.t1=40"]) == 0
    assert not any(n.startswith(".hopdyn-staging") or n.endswith(".tmp") for n in os.listdir(out))


# ------------------------------------------------------------------ 2. never a wrong program
def _run(args, cache, cwd):
    env = {**os.environ, "HOPDYN_COMPILATION_CACHE": str(cache), "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", "hopdyn.cli", *args, "--no-plots"],  # the programs are the subject, not the figures
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _energy(out):
    return json.loads((out / "result.json").read_text())["energy"]["final"]


@pytest.mark.parametrize("store", ["programs", "jax"])
def test_a_cache_entry_under_another_name_is_a_miss(tmp_path, store):
    """Two scenarios of one structure but other sizes; after both ran, every
    entry of one is moved under the other's names: the next run must still
    give its own numbers (recompiled, said in one line)."""
    cache = tmp_path / "cache"
    a = _write(tmp_path, BASE, "a.yaml")
    b = _write(tmp_path, BASE.replace("16", "24"), "b.yaml")
    assert not cache.exists()  # the first runs compile afresh: their numbers are the references
    r = _run(["run", a, "--out", str(tmp_path / "a"), "-q"], cache, tmp_path)
    assert r.returncode == 0, r.stderr
    of_a = set(_tree(cache))
    r = _run(["run", b, "--out", str(tmp_path / "b"), "-q"], cache, tmp_path)
    assert r.returncode == 0, r.stderr
    of_b = set(_tree(cache)) - of_a
    fresh = {name: _energy(tmp_path / name) for name in "ab"}
    assert fresh["a"] != fresh["b"]
    pick = (lambda f: f.startswith("programs")) if store == "programs" else (lambda f: f.endswith("-hopdyn"))
    # b's entries replaced by a's content, under b's names (the attack of the issue)
    a_files = sorted(f for f in of_a if pick(f))
    b_files = sorted(f for f in of_b if pick(f))
    assert a_files and b_files
    for i, f in enumerate(b_files):
        shutil.copy(cache / a_files[i % len(a_files)], cache / f)
    r = _run(["run", b, "--out", str(tmp_path / "b3"), "-q"], cache, tmp_path)
    assert r.returncode == 0, r.stderr
    assert _energy(tmp_path / "b3") == pytest.approx(fresh["b"], rel=1e-6)
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if "compilation cache" in ln]) == 1, r.stderr


def test_truncated_and_unwritable_caches_are_one_line_and_leave_nothing(tmp_path):
    cache = tmp_path / "cache"
    a = _write(tmp_path, BASE, "a.yaml")
    assert _run(["run", a, "--out", str(tmp_path / "a"), "-q"], cache, tmp_path).returncode == 0
    for f in _tree(cache):
        p = cache / f
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)])
    r = _run(["run", a, "--out", str(tmp_path / "a2"), "-q"], cache, tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if "compilation cache" in ln]) == 1, r.stderr
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes through permissions: make the folder refuse by a file in its way
        shutil.rmtree(ro)
        ro.write_text("a file where the cache folder goes")
    else:
        ro.chmod(0o555)
    r = _run(["run", a, "--out", str(tmp_path / "a3"), "-q"], ro / "jax" if ro.is_file() else ro, tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 1, r.stderr
    assert not [f for f in _tree(tmp_path) if f.endswith(".tmp")]


# ------------------------------------------------------------------ 3. training
TRAIN = tiny_train(data="d.npz", epochs=2, extra="")


def _data(tmp_path, x=None, y=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6)) if x is None else x
    y = rng.integers(0, 3, 48).astype(float) if y is None else y
    np.savez(tmp_path / "d.npz", inputs=x, targets=y)


@pytest.mark.parametrize(
    "case, key",
    [
        ("inf-label", "targets_key"),
        ("nan-input", "inputs_key"),
        ("0-d", "inputs_key"),
        ("empty", "inputs_key"),
        ("fraction-label", "targets_key"),
    ],
)
def test_bad_training_data_is_one_line_before_any_work(tmp_path, capsys, case, key):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 6)), rng.integers(0, 3, 48).astype(float)
    if case == "inf-label":
        y[3] = np.inf
    elif case == "nan-input":
        x[5, 2] = np.nan
    elif case == "0-d":
        x = np.float64(3.0)
    elif case == "empty":
        x, y = np.zeros((0, 6)), np.zeros(0)
    else:
        y[0] = 1.5
    _data(tmp_path, x, y)
    out = tmp_path / "o"
    assert main(["train", _write(tmp_path, TRAIN), "--out", str(out), "-q"]) == 2
    _one_line(capsys, f"training.data.{key}")
    assert not out.exists()


def test_resume_refuses_edited_training_data(tmp_path, capsys):
    _data(tmp_path)
    path = _write(tmp_path, TRAIN)
    out = tmp_path / "o"
    assert main(["train", path, "--out", str(out), "-q", "--keep-checkpoints"]) == 0
    _data(tmp_path, y=np.random.default_rng(5).integers(0, 3, 48).astype(float))  # other labels, same file name
    assert main(["train", path, "--out", str(out), "-q", "--resume"]) == 2
    _one_line(capsys, "resume")


def test_a_diverging_training_is_a_status_not_a_traceback(tmp_path, capsys):
    _data(tmp_path)
    path = _write(tmp_path, TRAIN.replace("learning_rate: 0.02", "learning_rate: 1.0e+300"))
    out = tmp_path / "o"
    assert main(["train", path, "--out", str(out), "-q"]) == 2  # float32 cannot hold it: refused up front
    _one_line(capsys, "training.learning_rate", "float32")
    path = _write(tmp_path, TRAIN.replace("learning_rate: 0.02", "learning_rate: 1.0e+30"))
    code = main(["train", path, "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "learning rate" in err, err
    assert not (out / "training.partial").exists()


@pytest.mark.parametrize("damage", ["truncated", "nan", "shape"])
def test_damaged_checkpoints_are_skipped_for_the_one_before(tmp_path, damage):
    from hopdyn.analysis import training as T
    from hopdyn.core.outputs import WorkFolder

    _data(tmp_path)
    path = _write(tmp_path, TRAIN)
    out = tmp_path / "o"
    assert main(["train", path, "--out", str(out), "-q", "--keep-checkpoints"]) == 0
    folder = out / "training.partial"
    last = folder / "epoch_0002.npz"
    if damage == "truncated":
        last.write_bytes(last.read_bytes()[:200])
    else:
        with np.load(last) as z:
            arrays = {k: z[k] for k in z.files}
        if damage == "nan":
            arrays["leaf_0"] = np.full_like(arrays["leaf_0"], np.nan)
        else:
            arrays["leaf_0"] = np.zeros((7, 7))
        arrays["meta/checksum"] = np.str_(R._checksum({k: v for k, v in arrays.items() if not k.startswith("meta/")}))
        np.savez(last, **arrays)
    identity = json.loads((folder / "manifest.json").read_text())["identity"]
    work = WorkFolder(str(folder), T.EPOCHS, identity, resume=True)
    import jax.numpy as jnp

    with np.load(folder / "epoch_0001.npz") as z:
        like = [z[f"leaf_{i}"] for i in range(sum(k.startswith("leaf_") for k in z.files))]
    params, state = tuple(jnp.asarray(v) for v in like), ()
    said = []
    got = T._latest(work, params, state, said.append)
    assert got is not None and got[0] == 1
    assert len(said) == 1 and "epoch_0002.npz" in said[0]


def test_a_full_disk_while_writing_a_checkpoint_is_one_line(tmp_path, capsys, monkeypatch):
    from hopdyn.core import io as _io

    _data(tmp_path)
    path = _write(tmp_path, TRAIN)

    def full(p, arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io, "write_npz", full)
    assert main(["train", path, "--out", str(tmp_path / "o"), "-q"]) == 1
    _one_line(capsys, "No space left on device", "checkpoint")


def test_train_from_python_checks_its_data():
    net = hd.Network({"v": hd.Neuron(4, hd.Identity())}, [])
    with pytest.raises(hd.HopdynError, match="inputs_data"):
        hd.train(net, lambda n: (), np.full((3, 4), np.nan), None, inputs="v", readout="v", settings=None)


# ------------------------------------------------------------------ 4. resume is the uninterrupted run
def test_a_resumed_basin_study_is_the_uninterrupted_one_bit_for_bit(tmp_path):
    # Ramsauer's energy just past where the cluster averages lose stability: starts
    # near them linger, so method auto and refill auto both decide something
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    X = centres[np.arange(12) * 3 // 12] + rng.normal(0, 0.5, (12, 32))
    X *= 8.0 / np.linalg.norm(X, axis=1, keepdims=True)
    cov = [X[i : i + 4].T @ (np.eye(4) / 4 - np.ones((4, 4)) / 16) @ X[i : i + 4] for i in (0, 4, 8)]
    beta = 1.1 * max(1 / np.linalg.eigvalsh(c).max() for c in cov)
    net = hd.Network({"v": hd.Neuron(32, hd.Identity())}, [hd.Exponential(("v",), X, beta=beta, logsumexp=True)])
    starts = rng.normal(size=(96, 32))
    s = hd.SolveSettings(method="auto", t1=5000.0, dtype="float32")
    kw = dict(settings=s)
    said = []
    whole = R.solve_ensemble(net, {"v": starts}, chunking=R.Chunking(16, str(tmp_path / "w")), log=said.append, **kw)
    assert any("refilling slots" in m for m in said), said  # the case the fix is about

    def stop_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    folder = str(tmp_path / "p")
    with pytest.raises(KeyboardInterrupt):
        R.solve_ensemble(net, {"v": starts}, chunking=R.Chunking(16, folder), on_chunk=stop_after_three, **kw)
    kept = sorted(f for f in os.listdir(folder) if f.startswith("chunk_"))
    assert 0 < len(kept) < 6
    said = []
    again = R.solve_ensemble(net, {"v": starts}, chunking=R.Chunking(16, folder, resume=True), log=said.append, **kw)
    assert any(f"resumed: {len(kept)} of 6 chunks" in m for m in said), said
    for k in whole:
        np.testing.assert_array_equal(again[k], whole[k], err_msg=k)


# ------------------------------------------------------------------ 5. values, forged outputs, terminals
def test_values_the_dtype_cannot_hold_are_refused_when_validated(tmp_path, capsys):
    path = _write(tmp_path, BASE.replace("solver: {", "solver: {t0: -1.0e+308, "))
    assert main(["run", path, "--out", str(tmp_path / "o"), "-q"]) == 2
    _one_line(capsys, "solver.t0", "float32")
    with pytest.raises(hd.HopdynError, match="t0"):
        hd.SolveSettings(t0=-1e308, dtype="float32")


def test_continuation_refuses_values_that_are_not_finite_numbers():
    net = hd.Network({"s": hd.Neuron(4, hd.Tanh(2.0))}, [])
    for bad in (float("nan"), "abc", float("inf")):
        with pytest.raises(hd.HopdynError, match="values"):
            hd.continuation(net, lambda n: n.neurons["s"].lagrangian.beta, [1.0, bad], np.zeros((2, 4)), layer="s")


@pytest.mark.parametrize("forge", ["truncated", "wrong-shapes", "strings"])
def test_a_forged_run_output_with_a_matching_hash_is_solved_again(tmp_path, capsys, forge):
    from hopdyn.core.outputs import sha256

    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    traj = out / "trajectory.npz"
    if forge == "truncated":
        traj.write_bytes(traj.read_bytes()[:300])
    else:
        with np.load(traj) as z:
            arrays = {k: z[k] for k in z.files}
        if forge == "wrong-shapes":
            arrays["x/s"] = arrays["x/s"][:, :3]
        else:
            arrays["status"] = np.str_("steady")
        np.savez(traj, **arrays)
    m = json.loads((out / "manifest.json").read_text())
    m["files"]["trajectory.npz"]["sha256"] = sha256(str(traj))
    (out / "manifest.json").write_text(json.dumps(m))
    assert main(["verify", path, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "(from a new solve)" in captured.out


def test_an_output_path_with_escape_sequences_is_escaped_on_stdout(tmp_path, capsys):
    path = _write(tmp_path, BASE)
    out = tmp_path / "res\x1b]0;owned\x07\nline"
    assert main(["run", path, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out and "\x07" not in captured.out
    assert "res\\x1b]0;owned\\x07\\nline" in captured.out


# ------------------------------------------------------------------ 6. interruptions lose nothing
def test_unfinished_work_is_never_discarded_silently(tmp_path):
    """From Python: a folder holding an interrupted ensemble's chunks is
    refused without ``resume``; ``resume=False`` discards, ``True`` reuses."""
    net = hd.Network({"s": hd.Neuron(8, hd.Tanh(beta=2.0))}, [hd.Hebbian(("s",), np.ones((1, 8)))])
    starts = np.random.default_rng(0).normal(size=(12, 8))
    folder = str(tmp_path / "work")

    def stop_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        R.solve_ensemble(net, {"s": starts}, chunking=R.Chunking(4, folder), on_chunk=stop_after_two)
    kept = sorted(os.listdir(folder))
    with pytest.raises(hd.UnfinishedWork, match="resume=True continues it, resume=False discards it") as e:
        hd.basins(net, starts, layer="s", chunking=hd.Chunking(4, folder))
    assert e.value.location == ("resume",) and e.value.files == 2
    assert sorted(os.listdir(folder)) == kept  # nothing touched
    said = []
    b = hd.basins(net, starts, layer="s", chunking=hd.Chunking(4, folder, resume=True), log=said.append)
    assert any("resumed: 2 of 3 chunks" in m for m in said), said
    with pytest.raises(KeyboardInterrupt):
        R.solve_ensemble(net, {"s": starts}, chunking=R.Chunking(4, folder), on_chunk=stop_after_two)
    said = []
    again = hd.basins(net, starts, layer="s", chunking=hd.Chunking(4, folder, resume=False), log=said.append)
    assert not any("resumed" in m for m in said) and not os.path.exists(folder)
    np.testing.assert_array_equal(again.labels, b.labels)


def test_the_command_line_names_resume_and_restart(tmp_path, capsys, monkeypatch):
    from hopdyn.scenario import studies

    path = _write(tmp_path, BASINS)
    out = tmp_path / "o"
    real = studies.run_basins

    def interrupted(*a, **kw):  # Ctrl-C after the second chunk
        def stop(done, total):
            if done == 2:
                raise KeyboardInterrupt

        return real(*a, **{**kw, "on_chunk": stop})

    monkeypatch.setattr(studies, "run_basins", interrupted)
    assert main(["basins", path, "--out", str(out), "-q"]) == 130
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"hopdyn: interrupted; the finished work is kept: `hopdyn basins {path} --out {out} -q --resume` continues it"
    )
    monkeypatch.setattr(studies, "run_basins", real)
    chunks = sorted((out / "basins.partial").iterdir())
    assert main(["basins", path, "--out", str(out), "-q"]) == 2  # neither --resume nor --restart
    line = _one_line(capsys, "--resume", "--restart")
    assert "interrupted run (2 saved files)" in line, line
    assert sorted((out / "basins.partial").iterdir()) == chunks
    assert main(["basins", path, "--out", str(out), "--resume"]) == 0
    assert "resumed: 2 of 3 chunks read from" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse: one or the other
        main(["basins", path, "--out", str(out), "-q", "--resume", "--restart"])
    assert e.value.code == 2


def test_training_says_what_it_does_and_cleans_up(tmp_path, capsys):
    _data(tmp_path)
    path = _write(tmp_path, TRAIN)
    out = tmp_path / "o"
    assert main(["train", path, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "compiling the training step" in err and "epoch 2/2" in err, err
    assert not (out / "training.partial").exists()  # checkpoints removed after a successful run
    assert main(["train", path, "--out", str(out), "-q", "--keep-checkpoints"]) == 0
    assert sorted(p.name for p in (out / "training.partial").glob("epoch_*")) == ["epoch_0001.npz", "epoch_0002.npz"]
    capsys.readouterr()
    assert main(["train", path, "--out", str(out), "--resume"]) == 0
    assert "resumed: 2 of 2 epochs read from" in capsys.readouterr().err


def test_an_eta_leaves_the_set_up_out(monkeypatch):
    """The rate behind an ETA is measured from the first report, so compiling
    before it does not inflate the estimate."""
    from hopdyn.core import progress

    clock = iter([100.0, 110.0, 111.0])  # bar made, first report after 10 s of compiling, one step later
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    lines = []
    rep = progress.Reporter(live=False)
    monkeypatch.setattr(rep, "line", lines.append)
    b = progress._Bar(rep, "work", 0)
    b.update(0, 10)
    b.update(1)
    assert lines[-1] == "work: 1/10, ETA 9 s"  # 1 s per step, not 11
