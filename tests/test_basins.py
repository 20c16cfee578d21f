"""Basins: the Attractors.jl contract (labels, -1 undecided, fractions summing to
1), known basin fractions, batched = one-by-one labels, resume after a kill,
and capacity curves."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hopdyn import simulate
from hopdyn.analysis import naming as _naming
from hopdyn.analysis import runner as _runner
from hopdyn.cli import main, shipped_dir
from hopdyn.scenario import build as _scenario
from hopdyn.scenario import studies

# du/dt = u - u^3 per unit, as an energy-based network: identity Lagrangian and
# E_syn = -|u|^2 + sum u^4 / 4 (a dense self-coupling and a quartic polynomial on
# unit-vector patterns), so dE/duhat = u - 2u + u^3.
CUBIC = """\
name: cubic-{dim}d
seed: {seed}
dtype: float64
patterns:
  I: {{onehot: {dim}}}
neurons:
  u: {{shape: [{dim}], lagrangian: {{type: identity}}}}
synapses:
  - {{type: dense, connects: [u, u], weights: I}}
  - {{type: polynomial, connects: [u], patterns: I, n: 4, scale: -0.25}}
solver: {{t1: 200.0}}
basins:
  layer: u
  patterns: false                  # the unit vectors of the quartic term are not memories
  ensemble:
    random: {{samples: {samples}, distribution: uniform, low: -2.0, high: 2.0}}
  cluster: 0.01
"""


def _scenario_file(tmp_path, dim, samples, seed=0, extra=""):
    path = tmp_path / f"cubic{dim}.yaml"
    path.write_text(CUBIC.format(dim=dim, samples=samples, seed=seed) + extra)
    return path


def _basins_json(out):
    return json.loads((out / "basins.json").read_text())


def _check_contract(r):
    f = r["fractions"]
    assert abs(sum(f.values()) - 1.0) < 1e-12
    assert all(0.0 <= v <= 1.0 for v in f.values())
    assert set(f) <= {str(a["label"]) for a in r["attractors"]} | {"-1"}
    assert sum(a["count"] for a in r["attractors"]) + r["undecided"] == r["samples"]


def test_symmetric_double_well_splits_in_half(tmp_path):
    path = _scenario_file(tmp_path, 1, 400, seed=4)
    assert main(["basins", str(path), "--out", str(tmp_path / "o"), "-q"]) == 0
    r = _basins_json(tmp_path / "o")
    _check_contract(r)
    stable = [a for a in r["attractors"] if a["stability"] == "stable"]
    assert len(stable) == 2
    sigma = np.sqrt(0.25 / 400)
    for a in stable:
        assert abs(r["fractions"][str(a["label"])] - 0.5) < 3 * sigma


def test_cubic_3d_has_eight_attractors_of_one_eighth(tmp_path):
    n = 1024
    path = _scenario_file(tmp_path, 3, n, seed=8)
    assert main(["basins", str(path), "--out", str(tmp_path / "o"), "-q"]) == 0
    r = _basins_json(tmp_path / "o")
    _check_contract(r)
    assert len(r["attractors"]) == 8 and r["undecided"] == 0
    sigma = np.sqrt((1 / 8) * (7 / 8) / n)
    z = np.load(tmp_path / "o" / "basins.npz")
    for a in r["attractors"]:
        assert a["kind"] == "other" and a["stability"] == "stable"
        assert abs(r["fractions"][str(a["label"])] - 1 / 8) < 3 * sigma
        corner = z["x_end/u"][a["representative"]]
        np.testing.assert_allclose(np.abs(corner), 1.0, atol=1e-5)  # the corners (+-1, +-1, +-1)
    # every start ends in the corner of its own octant
    np.testing.assert_array_equal(np.sign(z["x_end/u"]), np.sign(z["x0/u"]))


def test_batched_labels_equal_one_by_one_solves(tmp_path):
    path = _scenario_file(tmp_path, 3, 200, seed=3)
    built = _scenario.load_and_build(str(path))
    report, arrays = studies.run_basins(built, str(tmp_path / "o"))
    # brute force: every start solved on its own, then labelled the same way
    ends, status = [], []
    for x in arrays["x0/u"]:
        tr = simulate(built.network, {"u": x}, built.settings, save=2)
        ends.append(np.asarray(tr.final_state["u"]))
        status.append(int(tr.status))
    labels, keys = _naming.label_attractors(np.array(ends), np.array(status), None, 0.95, 0.01, 5)
    np.testing.assert_array_equal(labels, arrays["labels"])


def test_resume_after_a_kill_gives_the_same_report(tmp_path):
    # 400 chunks of ~20 ms: a window of seconds in which to kill the run mid-way
    extra = "  chunk: 50\n"
    path = _scenario_file(tmp_path, 3, 20000, seed=5, extra=extra)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-m", "hopdyn.cli", "basins", str(path), "-q"]
    partial = tmp_path / "killed" / "basins.partial"
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "killed")], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(partial.glob("chunk_*.npz"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(partial.glob("chunk_*.npz")))
    assert proc.returncode == -signal.SIGKILL and 0 < done < 400, (proc.returncode, done)
    assert not (tmp_path / "killed" / "basins.json").exists()
    assert main(["basins", str(path), "--out", str(tmp_path / "killed"), "-q", "--resume"]) == 0
    assert main(["basins", str(path), "--out", str(tmp_path / "whole"), "-q"]) == 0
    assert _basins_json(tmp_path / "killed") == _basins_json(tmp_path / "whole")
    a, b = np.load(tmp_path / "killed" / "basins.npz"), np.load(tmp_path / "whole" / "basins.npz")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])
    assert not partial.exists()


def test_resume_refuses_a_changed_scenario(tmp_path, capsys):
    path = _scenario_file(tmp_path, 1, 50, extra="  chunk: 10\n")
    built = _scenario.load_and_build(str(path))
    layer, _, pats = studies.basin_target(built)
    x0, _, _ = studies.make_ensemble(built, layer, pats)
    _runner.solve_ensemble(
        built.network,
        {layer: x0},
        settings=built.settings,
        chunking=_runner.Chunking(folder=str(tmp_path / "o" / "basins.partial")),
    )
    rc = main(["basins", str(path), "--out", str(tmp_path / "o"), "-q", "--resume", "--set", "seed=99"])
    assert rc == 2 and "--resume" in capsys.readouterr().err


def test_labels_name_patterns_negations_and_mixtures():
    rng = np.random.default_rng(0)
    xi = rng.choice([-1.0, 1.0], (5, 200))
    mix = np.sign(xi[0] - xi[2] + xi[4])
    ends = np.stack([xi[3], -xi[1], mix, (xi[0] + xi[1]) / 2, rng.normal(size=200), xi[3] * 0.9])
    status = np.array([0, 0, 0, 0, 0, 2])  # the last one did not reach a steady state
    labels, keys = _naming.label_attractors(ends, status, xi, 0.95, 0.05, 5)
    named = [keys[lab] if lab >= 0 else None for lab in labels]
    assert named[0] == ("pattern", 3) and named[1] == ("negated", 1)
    assert named[2] == ("mixture", ((0, 1), (2, -1), (4, 1)))
    assert named[3] == ("metastable", (0, 1))
    assert named[4][0] == "other" and labels[5] == -1


def test_retrieval_curve_of_the_shipped_dense_memory(tmp_path):
    assert main(["basins", "basins-dam", "--out", str(tmp_path), "-q", "--samples", "48"]) == 0
    r = _basins_json(tmp_path)
    _check_contract(r)
    acc = dict(zip(r["retrieval"]["corruption"], r["retrieval"]["accuracy"]))
    assert acc[0.0] == 1.0 and acc[0.2] == 1.0 and acc[0.5] < 0.2
    for f in ("basin_map.png", "retrieval.png", "convergence_times.png", "attractor_energies.png", "basins.npz"):
        assert (tmp_path / f).is_file()


# basins-classical and basins-unlearning have their own test in test_discrete_network.py
@pytest.mark.parametrize(
    "name",
    sorted(
        p.stem for p in shipped_dir().glob("basins-*.yaml") if p.stem not in ("basins-classical", "basins-unlearning")
    ),
)
def test_shipped_basin_scenarios(name, tmp_path):
    assert main(["basins", name, "--out", str(tmp_path), "-q", "--samples", "64"]) == 0
    _check_contract(_basins_json(tmp_path))


def _capacity(tmp_path, family, N, loads, trials, n=3):
    text = f"""\
name: cap
neurons:
  s: {{shape: [{N}], lagrangian: {{type: tanh, beta: 10.0}}}}
solver: {{t1: 200.0, steady_state: {{rtol: 1.0e-5, atol: 1.0e-6}}}}
capacity: {{family: {family}, N: {N}, loads: {loads}, trials: {trials}, n: {n}, flip: 0.1}}
"""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cap.yaml").write_text(text)
    assert main(["basins", str(tmp_path / "cap.yaml"), "--out", str(tmp_path), "-q"]) == 0
    return _basins_json(tmp_path)["capacity"]


def test_capacity_classical_vs_dense_small(tmp_path):
    c = _capacity(tmp_path / "h", "hebbian", 120, [0.05, 0.3], 30)
    assert c["retrieved"][0] >= 0.9 and c["retrieved"][1] <= 0.5
    d = _capacity(tmp_path / "p", "polynomial", 60, [1.0], 30)
    assert d["retrieved"][0] >= 0.9  # K = N, far beyond 0.14 N


@pytest.mark.slow
def test_classical_capacity_collapses_near_0_138_at_N_500(tmp_path):
    c = _capacity(tmp_path / "h", "hebbian", 500, [0.08, 0.12, 0.17, 0.2], 100)
    r = dict(zip(c["loads"], c["retrieved"]))
    # finite N = 500 smooths the transition at alpha_c = 0.138 (Amit et al.)
    assert r[0.08] >= 0.9 and r[0.12] >= 0.7  # before the collapse
    assert r[0.17] <= 0.4 and r[0.2] <= 0.15  # after it


@pytest.mark.slow
def test_dense_polynomial_retrieves_far_beyond_classical_capacity(tmp_path):
    d = _capacity(tmp_path / "p", "polynomial", 200, [0.14, 0.5, 1.0], 100)
    assert min(d["retrieved"]) >= 0.95
