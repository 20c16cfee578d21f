"""Bounded, honest, recoverable: the classes of hostile input and faults of
issue 16, each as a regression test that fails without its fix.

Classes: small inputs that would exhaust memory (refused up front, exit 2,
naming the key and the estimate, before any allocation); output folders
checked before the work (exit 2) and never left half-written (a full disk is
exit 1 with the previous results intact); resumes that could mix data
(content fingerprints, self-checking chunks, manifests); numerical trouble
reported as a status (failure at t0, diverging ensembles, step limits: exit
1); terminal and format hygiene (escape sequences, YAML merge keys, UTF-16,
devices)."""

import errno
import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from helpers import HEBBIAN_16
from helpers import write_scenario as _write
from hopdyn.analysis import runner as R
from hopdyn.cli import main
from hopdyn.core import io as _io
from hopdyn.core.budget import memory_budget
from hopdyn.core.outputs import OutputFolder, manifest_problems
from hopdyn.scenario import studies
from hopdyn.scenario.build import load_and_build

BASE = HEBBIAN_16


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hopdyn: error:"), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------ 1. memory
def _bomb(path, n=4000):
    """An .npz that is ~50 KB on disk and declares an n x n float64 array (128 MB at n = 4000)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z, z.open("W.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (n, n)})
        zero = bytes(1 << 20)
        for _ in range(n * n * 8 // len(zero)):
            f.write(zero)


@pytest.mark.parametrize(
    "case,text,extra,key",
    [
        ("onehot", BASE.replace("shape: [3, 16]}}", "shape: [3, 16]}}\n  L: {onehot: 30000}"), [], "patterns.L.onehot"),
        (
            "huge-layer",
            BASE.replace("[16], lagrangian", "[7000, 7000], lagrangian")
            .replace("synapses:\n  - {type: hebbian, connects: [s], patterns: Xi}\n", "")
            .replace("{pattern: Xi, index: 0, corrupt: {flip: 0.2}}", "{zeros: true}"),
            [],
            "solver.save.n",
        ),
        ("capacity", BASE + "capacity: {family: hebbian, N: 100000, loads: [0.1]}\n", ["basins"], "capacity.N"),
        (
            "samples",
            BASE + "basins: {ensemble: {random: {samples: 10}}}\n",
            ["basins", "--samples", "100000000"],
            "basins.ensemble.random.samples",
        ),
        (
            "batch",
            BASE.replace(
                "{pattern: Xi, index: 0, corrupt: {flip: 0.2}}", "{random: {distribution: normal, batch: 10000000}}"
            ),
            [],
            "initial.s.random.batch",
        ),
    ],
)
def test_requests_over_the_budget_are_refused_before_any_work(tmp_path, capsys, case, text, extra, key):
    path = _write(tmp_path, text)
    verb = extra[0] if extra else "run"
    rc = main([verb, path, *extra[1:], "--out", str(tmp_path / "o"), "--memory-budget", "1G"])
    line = _one_line(capsys, key, "needs about", "memory budget of 1.0 GiB")
    assert rc == 2, line
    assert not (tmp_path / "o").exists()  # nothing written, no folder made


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, capsys):
    _bomb(tmp_path / "w.npz")
    assert os.path.getsize(tmp_path / "w.npz") < 1_000_000
    path = _write(tmp_path, BASE.replace("shape: [3, 16]}}", "shape: [3, 16]}}\n  W: {file: w.npz}"))
    assert main(["validate", path, "--memory-budget", "64M"]) == 2
    _one_line(capsys, "patterns.W.file", "[4000, 4000]", "memory budget")
    with memory_budget(64 * 2**20), pytest.raises(Exception, match="memory budget"):
        load_and_build(path)


def test_a_truncated_npy_is_one_line(tmp_path, capsys):
    buf = io.BytesIO()
    np.save(buf, np.ones((50, 16)))
    (tmp_path / "t.npy").write_bytes(buf.getvalue()[:300])
    path = _write(tmp_path, BASE.replace("shape: [3, 16]}}", "shape: [3, 16]}}\n  T: {file: t.npy}"))
    assert main(["validate", path]) == 2
    _one_line(capsys, "patterns.T.file", "truncated")


def test_reads_are_bounded_by_what_is_read(capsys):
    assert main(["validate", "/dev/zero"]) == 2
    _one_line(capsys, "/dev/zero", "not a regular file")


def test_alias_bombs_and_deep_values_in_overrides_are_one_line(tmp_path, capsys):
    path = _write(tmp_path, BASE)
    levels = ["&a [1,1,1,1,1,1,1,1,1,1]"] + [f"&{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]" for i in range(6)]
    bomb = "[" + ", ".join(levels) + "]"  # 10^7 values after expansion, from ~370 characters
    assert main(["validate", path, "--set", f"description={bomb}"]) == 2
    _one_line(capsys, "--set description", "more than 1000000 values")
    assert main(["validate", path, "--set", "solver.t1=" + "[" * 20000 + "]" * 20000]) == 2
    _one_line(capsys, "--set solver.t1", "nested deeper")


def test_chunks_follow_the_budget(tmp_path):
    path = _write(tmp_path, BASE + "basins: {ensemble: {random: {samples: 64}}}\n")
    built = load_and_build(path)
    with memory_budget(2**40):
        big = R.chunk_size(built.network, 64)
    with memory_budget(256 * 1024):
        small = R.chunk_size(built.network, 64)
    assert big == 64 and 1 <= small < 64


# ------------------------------------------------------------------ 2. output folders
@pytest.mark.parametrize("where", ["file", "under-a-file", "/proc/hopdyn-test", "/dev/null"])
def test_unwritable_output_folders_are_refused_before_the_work(tmp_path, capsys, where):
    path = _write(tmp_path, BASE)
    out = {"file": path, "under-a-file": os.path.join(path, "sub")}.get(where, where)
    assert main(["run", path, "--out", out, "-q"]) == 2
    _one_line(capsys, "--out")
    assert open(path).read() == BASE  # the file given as --out is untouched


def test_a_full_disk_while_writing_keeps_the_previous_results(tmp_path, capsys, monkeypatch):
    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    before = {f: (out / f).read_bytes() for f in os.listdir(out)}
    real = _io.write_npz

    def full(p, arrays):
        real(p, arrays)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io, "write_npz", full)
    assert main(["run", path, "--out", str(out), "-q", "--set", "solver.t1=40"]) == 1
    _one_line(capsys, "No space left on device", "previous results")
    assert {f: (out / f).read_bytes() for f in os.listdir(out)} == before  # every file as it was, no staging left
    assert manifest_problems(str(out)) == []


def test_a_second_writer_to_one_folder_is_refused(tmp_path, capsys):
    path = _write(tmp_path, BASE)
    with OutputFolder(str(tmp_path / "o"), "test"):
        assert main(["run", path, "--out", str(tmp_path / "o"), "-q"]) == 2
        _one_line(capsys, "another hopdyn command is writing")
    assert main(["run", path, "--out", str(tmp_path / "o"), "-q"]) == 0  # free again


def test_the_manifest_tells_a_consistent_set(tmp_path):
    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    assert main(["verify", path, "--out", str(out), "-q"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["files"]["result.json"]["command"] == "run" and m["files"]["verify.json"]["command"] == "verify"
    assert m["files"]["result.json"]["scenario_sha256"] == m["files"]["verify.json"]["scenario_sha256"]
    assert manifest_problems(str(out)) == []
    (out / "trajectory.npz").write_bytes(b"not the run's")  # a rerun killed after replacing one file
    shutil.copy(path, out / "stray.txt")
    problems = manifest_problems(str(out))
    assert any("trajectory.npz: changed" in p for p in problems) and any("stray.txt" in p for p in problems)


# ------------------------------------------------------------------ 3. resume integrity
def _partial(tmp_path, text, chunk=4):
    built = load_and_build(_write(tmp_path, text))
    layer, _, pats = studies.basin_target(built)
    x0, _, _ = studies.make_ensemble(built, layer, pats)
    folder = str(tmp_path / "partial")
    kw = dict(settings=built.settings)
    whole = R.solve_ensemble(built.network, {layer: x0}, chunking=R.Chunking(chunk, folder), **kw)
    return built, layer, x0, folder, kw, whole


def test_damaged_chunks_are_solved_again_and_said_so(tmp_path):
    text = BASE + "basins: {ensemble: {random: {samples: 12}}}\n"
    built, layer, x0, folder, kw, whole = _partial(tmp_path, text)
    chunks = sorted(os.listdir(folder))
    shutil.copy(os.path.join(folder, "chunk_00000.npz"), os.path.join(folder, "chunk_00001.npz"))  # copied over
    with open(os.path.join(folder, "chunk_00002.npz"), "r+b") as f:
        f.truncate(100)  # truncated
    (tmp_path / "partial" / "manifest.json").write_text('{"fingerp')  # a truncated manifest
    said = []
    again = R.solve_ensemble(
        built.network, {layer: x0}, chunking=R.Chunking(4, folder, resume=True), log=said.append, **kw
    )
    assert "chunk_00000.npz" in chunks
    assert any("chunk 1" in s and "holds chunk 0" in s for s in said)
    assert any("chunk 2" in s and "cannot be read" in s for s in said)
    assert any("manifest.json is damaged" in s for s in said)
    for k in whole:
        np.testing.assert_array_equal(again[k], whole[k])


def test_resume_refuses_an_edited_data_file(tmp_path, capsys):
    np.save(tmp_path / "xi.npy", np.sign(np.random.default_rng(1).normal(size=(3, 16))))
    text = BASE.replace("Xi: {random: {distribution: binary, shape: [3, 16]}}", "Xi: {file: xi.npy}")
    text += "basins: {ensemble: {random: {samples: 12}}, chunk: 4}\n"
    path = _write(tmp_path, text)
    built = load_and_build(path)
    layer, _, pats = studies.basin_target(built)
    x0, _, _ = studies.make_ensemble(built, layer, pats)
    R.solve_ensemble(
        built.network,
        {layer: x0},
        settings=built.settings,
        chunking=R.Chunking(4, str(tmp_path / "o" / "basins.partial")),
    )
    np.save(tmp_path / "xi.npy", -np.load(tmp_path / "xi.npy"))  # the same scenario file, other data
    assert main(["basins", path, "--out", str(tmp_path / "o"), "-q", "--resume"]) == 2
    _one_line(capsys, "--resume", "changed")


# ------------------------------------------------------------------ 4. numerical trouble
def test_a_state_not_finite_at_t0_is_a_failed_status_with_a_result(tmp_path, capsys):
    # an identity layer at 1e30: its energy x^2/2 overflows float32 before any step
    text = BASE.replace("corrupt: {flip: 0.2}}", "corrupt: {flip: 0.2}, scale: 1.0e30}").replace(
        "type: tanh, beta: 2.0", "type: identity"
    )
    path = _write(tmp_path, text)
    assert main(["run", path, "--out", str(tmp_path / "o"), "-q"]) == 1
    r = json.loads((tmp_path / "o" / "result.json").read_text())
    assert r["status"] == "failed" and not r["checks"]["solved"] and "t0" in r["failure"]["note"]
    assert r["failure"]["t"] == 0.0 and r["energy"]["initial"] is None
    assert main(["verify", path, "--out", str(tmp_path / "o"), "-q"]) == 1
    v = json.loads((tmp_path / "o" / "verify.json").read_text())
    assert not v["ok"] and v["certificates"][0]["fixed_point"]["kind"] == "none"
    assert "Traceback" not in capsys.readouterr().err


def test_an_ensemble_that_diverges_counts_its_failures_and_exits_1(tmp_path):
    text = BASE.replace("patterns: Xi}", "patterns: Xi, scale: -1.0e6}").replace(
        "solver: {t1: 50,", "solver: {method: tsit5, divergence: 10, t1: 50,"
    )
    path = _write(tmp_path, text + "basins: {ensemble: {random: {samples: 8}}}\n")
    assert main(["basins", path, "--out", str(tmp_path / "o"), "-q"]) == 1
    r = json.loads((tmp_path / "o" / "basins.json").read_text())
    assert r["failed"] == 8 and r["undecided"] == 8 and r["outcomes"] == {"failed": 8}


def test_a_run_stopped_by_its_step_limit_exits_1(tmp_path):
    path = _write(tmp_path, BASE.replace("solver: {t1: 50,", "solver: {max_steps: 3, t1: 50,"))
    assert main(["run", path, "--out", str(tmp_path / "o"), "-q"]) == 1
    r = json.loads((tmp_path / "o" / "result.json").read_text())
    assert r["status"] == "max_steps" and r["checks"]["within_max_steps"] is False


# ------------------------------------------------------------------ 5. hygiene
def test_escape_sequences_in_names_are_not_echoed(tmp_path, capsys):
    path = _write(tmp_path, BASE.replace("  s: {shape", '  "s\\e]0;pwned\\a\\e[2J": {shape'))
    assert main(["validate", path]) == 2
    line = _one_line(capsys, "neurons.s\\x1b]0;pwned")
    assert "\x1b" not in line and "\x07" not in line


def test_yaml_merge_keys_are_accepted_and_duplicates_refused(tmp_path, capsys):
    text = BASE.replace(
        "  s: {shape: [16], lagrangian: {type: tanh, beta: 2.0}}",
        "  s: &layer {shape: [16], lagrangian: {type: tanh, beta: 2.0}}\n  t:\n    <<: *layer\n    tau: 0.5",
    )
    built = load_and_build(_write(tmp_path, text))
    assert float(built.network.neurons["t"].tau) == 0.5 and built.network.neurons["t"].shape == (16,)
    assert main(["validate", _write(tmp_path, text.replace("    tau: 0.5", "    tau: 0.5\n    tau: 0.7"))]) == 2
    _one_line(capsys, "duplicate key 'tau'")


def test_utf16_and_nul_files_say_what_they_are(tmp_path, capsys):
    (tmp_path / "u.yaml").write_text(BASE, encoding="utf-16")
    assert main(["validate", str(tmp_path / "u.yaml")]) == 2
    _one_line(capsys, "UTF-16")


def test_simulate_refuses_over_the_budget_from_python():
    import hopdyn as hd

    net = hd.Network({"v": hd.Neuron(3, hd.Tanh())})
    with memory_budget(1000), pytest.raises(hd.ResourceError, match=r"^x0: this solve .* batch 10 x 201 saved rows"):
        hd.simulate(net, {"v": np.ones((10, 3))})
    assert hd.simulate(net, {"v": np.ones(3)}).status_name == "steady_state"


def test_files_written_for_another_version_of_the_scenario_are_removed(tmp_path):
    path = _write(tmp_path, BASE)
    out = tmp_path / "o"
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    assert main(["verify", path, "--out", str(out), "-q"]) == 0
    assert (out / "verify.json").exists()
    _write(tmp_path, BASE.replace("t1: 50", "t1: 40"))  # the scenario changed: verify.json describes the old one
    assert main(["run", path, "--out", str(out), "-q"]) == 0
    assert not (out / "verify.json").exists() and manifest_problems(str(out)) == []
