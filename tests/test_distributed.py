"""Studies across processes (issue 33): ``hopdyn basins --distributed`` with
the coordinator, process count and index named on the command line (or in
JAX's style of environment variables), two local processes sharing one
``--out``; what they write must be what one process writes, to the bit."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from hopdyn.cli import main

SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "scripts")
sys.path.insert(0, SCRIPTS)
from check_shipped import differences  # noqa: E402  the shipped-output comparison (wall-clock fields skipped)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_processes(args: list[str], out) -> None:
    """Run ``hopdyn basins ARGS --out OUT`` as processes 1 and 0 of two."""
    port = free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    base = [sys.executable, "-m", "hopdyn.cli", "basins", *args, "--out", str(out), "--distributed"]
    procs = [
        subprocess.Popen(
            [*base, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 0)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]


def same_results(one, two, json_name: str, npz_name: str) -> None:
    a = json.loads((one / json_name).read_text())
    b = json.loads((two / json_name).read_text())
    assert differences(a, b, 0.0) == []
    with np.load(one / npz_name) as x, np.load(two / npz_name) as y:
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_a_basin_ensemble_over_two_processes_is_the_ensemble_of_one(tmp_path):
    args = ["basins-two-neuron", "--set", "basins.ensemble.grid.resolution=12", "--set", "basins.chunk=32", "-q"]
    assert main(["basins", *args, "--out", str(tmp_path / "one")]) == 0
    two_processes(args, tmp_path / "two")
    same_results(tmp_path / "one", tmp_path / "two", "basins.json", "basins.npz")
    assert not (tmp_path / "two" / "basins.partial").exists()  # process 0 finished the shared work


def test_a_continuation_over_two_processes_is_the_continuation_of_one(tmp_path):
    """Values go to the processes in turn (each value's ensemble whole);
    process 0 reads the others', matches attractors and writes."""
    args = [
        "ramsauer-regimes", "--set", "basins.ensemble.random.samples=16", "--set", "continuation.range.num=3", "-q",
    ]  # fmt: skip
    assert main(["basins", *args, "--out", str(tmp_path / "one")]) == 0
    two_processes(args, tmp_path / "two")
    same_results(tmp_path / "one", tmp_path / "two", "continuation.json", "continuation.npz")
    assert not (tmp_path / "two" / "continuation.partial").exists()


@pytest.mark.parametrize(
    "extra, env, said",
    [
        (["--coordinator", "127.0.0.1:5000"], {}, "--coordinator: needs --distributed"),
        (["--distributed", "--coordinator", "h:70000", "--num-processes", "2", "--process-id", "0"], {}, "HOST:PORT"),
        (["--distributed", "--coordinator", "h:7000", "--num-processes", "2"], {}, "--process-id: needed"),
        (["--distributed", "--num-processes", "2"], {"JAX_COORDINATOR_ADDRESS": "h:7000"}, "--process-id: needed"),
        (
            ["--distributed"],
            {"JAX_COORDINATOR_ADDRESS": "h:7", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "5"},
            "0..1",
        ),
        (["--distributed", "--coordinator", "h:7", "--num-processes", "0", "--process-id", "0"], {}, ">= 1"),
    ],
)
def test_a_bad_process_option_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, extra, env, said):
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "o"
    assert main(["basins", "basins-two-neuron", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0], err
    assert not out.exists()


def test_no_cluster_and_no_options_is_one_line_saying_what_to_give(tmp_path):
    """In a fresh process (JAX joins other processes only before its first
    computation), outside any cluster JAX detects."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("JAX_COORD", "JAX_NUM_PROC", "JAX_PROCESS", "SLURM"))
    }
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "hopdyn.cli", "basins", "basins-two-neuron", "--out", str(out), "--distributed"]
    p = subprocess.run(cmd, env={**env, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr[-2000:]
    assert "--distributed: no cluster JAX can detect" in lines[0] and "--coordinator HOST:PORT" in lines[0]
    assert not out.exists()


def test_a_rule_comparison_over_two_processes_is_the_comparison_of_one(tmp_path):
    """Rules go to the processes in turn (three pieces over two processes);
    process 0 reads the other's and writes the same ``basins.json``."""
    args = ["rules-comparison", "--set", "rules.N=40", "--set", "rules.loads=[0.05, 0.2]", "--set", "rules.trials=6"]
    args += ["--set", "rules.rules=[hebbian, storkey, pseudo_inverse]", "--set", "rules.flips=[0.1, 0.3]", "-q"]
    assert main(["basins", *args, "--out", str(tmp_path / "one")]) == 0
    two_processes(args, tmp_path / "two")
    a = json.loads((tmp_path / "one" / "basins.json").read_text())
    b = json.loads((tmp_path / "two" / "basins.json").read_text())
    assert differences(a, b, 0.0) == [] and [r["family"] for r in b["rules"]["rules"]] == [
        "hebbian",
        "storkey",
        "pseudo_inverse",
    ]
    assert not (tmp_path / "two" / "rules.partial").exists()


def test_a_rule_comparison_resumes_from_the_rules_done():
    """Each rule is kept as it is done: resumed, the comparison reads them and
    solves only the rest, giving the uninterrupted report."""
    import tempfile

    import hopdyn as hd

    kw = dict(rules=["hebbian", "storkey", "pseudo_inverse"], N=32, loads=[0.05, 0.15], flips=[0.1, 0.3], trials=4)
    kw["settings"] = hd.SolveSettings(method="async", max_sweeps=10)
    whole = hd.compare_rules(**kw)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "rules.partial")

        def stop(done, total):
            if done == 2 * 2 + 1:  # inside the third rule: two rules kept
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            hd.compare_rules(**kw, folder=folder, on_step=stop)
        assert sorted(os.listdir(folder)) == ["manifest.json", "rule_00.npz", "rule_01.npz"]
        with pytest.raises(hd.UnfinishedWork):
            hd.compare_rules(**kw, folder=folder)
        seen = []
        resumed = hd.compare_rules(**kw, folder=folder, resume=True, on_step=lambda d, t: seen.append(d))
        assert resumed == whole and not os.path.exists(folder)
        assert seen == [5, 6]  # the loads of the rule not kept


def test_a_capacity_sweep_over_two_processes_is_the_sweep_of_one(tmp_path):
    """Loads go to the processes in turn; process 0 reads the others' and writes."""
    args = ["capacity-rules-storkey", "--set", "capacity.loads=[0.1, 0.2, 0.3]", "--set", "capacity.trials=8", "-q"]
    assert main(["basins", *args, "--out", str(tmp_path / "one")]) == 0
    two_processes(args, tmp_path / "two")
    a = json.loads((tmp_path / "one" / "basins.json").read_text())
    b = json.loads((tmp_path / "two" / "basins.json").read_text())
    assert differences(a, b, 0.0) == [] and len(b["capacity"]["loads"]) == 3
    assert not (tmp_path / "two" / "capacity.partial").exists()


def test_a_capacity_sweep_resumes_where_it_stopped(tmp_path):
    """Each load is kept as it is done: an interrupted sweep resumed gives the
    uninterrupted report, solving only the loads not kept; unfinished work is
    never discarded silently."""
    import hopdyn as hd

    kw = dict(family="hebbian", N=48, loads=[0.05, 0.1, 0.2, 0.3], trials=6, flip=0.1)
    kw["settings"] = hd.SolveSettings(method="async", max_sweeps=10)
    whole = hd.capacity(**kw)
    folder = tmp_path / "capacity.partial"

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hd.capacity(**kw, folder=str(folder), on_step=stop)
    assert sorted(p.name for p in folder.glob("load_*.npz")) == ["load_0000.npz", "load_0001.npz"]
    with pytest.raises(hd.UnfinishedWork):
        hd.capacity(**kw, folder=str(folder))
    seen = []
    resumed = hd.capacity(**kw, folder=str(folder), resume=True, on_step=lambda d, t: seen.append(d))
    assert resumed == whole and not folder.exists()
    assert seen == [1, 2, 3, 4]
