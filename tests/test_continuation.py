"""Continuation of attractors across a parameter, on the pitchfork
``du/dt = mu u - u^3``: one attractor (0) for mu < 0, two (+-sqrt(mu)) with
half the starts each for mu > 0, matched as one continuing and one new
attractor; one compiled solve for the whole range."""

import numpy as np
import pytest

import hopdyn as hd


def pitchfork():
    # identity Lagrangian: dE/du = u + dE_syn/du; E_syn = -w u^2 + u^4/4 gives
    # du/dt = (2w - 1) u - u^3, so mu = 2w - 1 and w = (mu + 1)/2
    unit = np.eye(1)
    return hd.Network(
        {"u": hd.Neuron(1, hd.Identity())},
        [hd.Dense(("u", "u"), np.array([[0.5]])), hd.Polynomial(("u",), unit, n=4, scale=-0.25)],
    )


def test_pitchfork_one_attractor_then_two_matched_across_mu():
    from hopdyn.solvers import compile as C

    starts = {"u": np.linspace(-1.5, 1.5, 40).reshape(-1, 1) + 0.0123}  # symmetric, none exactly at 0
    mus = [-0.5, -0.2, 0.2, 0.5, 1.0]
    C._COMPILED.clear()
    with hd.CompileLog() as log:
        r = hd.continuation(
            pitchfork(),
            lambda n: n.synapses[0].weights,
            mus,
            starts,
            layer="u",
            transform=lambda mu: [[(mu + 1) / 2]],
            settings=hd.SolveSettings(method="tsit5", t1=400.0, dtype="float64"),
            patterns=None,
            naming=hd.Naming(cluster=0.01),
        )
    runs = [s for s in log.solves if s["function"] == "hopdyn.solvers.simulate._run"]
    assert len(runs) == 1, log.solves  # the parameter is an array: one program for every value
    assert r["values"] == mus
    ids = [a["id"] for a in r["attractors"]]
    assert len(ids) == 2
    first, second = r["attractors"]
    # the attractor at 0 continues into one branch; the other branch is new at mu = 0.2
    assert first["present"] == [True] * 5 and first["first"] == -0.5 and first["last"] == 1.0
    assert second["present"] == [False, False, True, True, True] and second["first"] == 0.2
    for k, mu in enumerate(mus):
        fr = [f for f in r["fractions"][k] if f is not None]
        if mu < 0:
            assert fr == [1.0]
            assert [x for x in r["energies"][k] if x is not None] == pytest.approx([0.0], abs=1e-9)
        else:
            assert fr == pytest.approx([0.5, 0.5])
            for f, (lo, hi) in zip(r["fractions"][k], r["intervals"][k]):
                assert lo <= f <= hi
            # energies of the two branches: -mu^2/4 each (E = -mu u^2/2 + u^4/4 + const at u^2 = mu)
            e = [x for x in r["energies"][k] if x is not None]
            assert e == pytest.approx([-(mu**2) / 4] * 2, abs=1e-6)


def test_continuation_refuses_a_parameter_that_is_not_an_array():
    with pytest.raises(hd.AnalysisError, match="parameter"):
        hd.continuation(pitchfork(), lambda n: n.synapses[5], [0.1], {"u": np.zeros((2, 1))}, layer="u")


# ------------------------------------------------------------------ from a scenario file
PITCHFORK = """\
name: pitchfork
seed: 1
dtype: {dtype}
patterns:
  one: {{values: [[1.0]]}}
neurons:
  u: {{shape: [1], lagrangian: {{type: identity}}}}
synapses:
  - {{type: dense, connects: [u, u], weights: one, scale: 0.5}}   # E = -s u^2: mu = 2 s - 1
  - {{type: polynomial, connects: [u], patterns: one, n: 4, scale: -0.25}}
solver: {{method: tsit5, t1: 400.0}}
basins:
  layer: u
  patterns: false
  cluster: 0.01
  ensemble:
    random: {{samples: {samples}, low: -1.5, high: 1.5}}
continuation:
  parameter: synapses[0].scale
{values}
"""


def _pitchfork_file(tmp_path, values="  values: [0.25, 0.4, 0.6, 0.75, 1.0]", samples=40, dtype="float64"):
    path = tmp_path / "pitchfork.yaml"
    path.write_text(PITCHFORK.format(values=values, samples=samples, dtype=dtype))
    return path


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scenario_continuation_of_the_pitchfork(tmp_path, dtype):
    import json

    from hopdyn.analysis.ensembles import random_starts
    from hopdyn.cli import main

    path = _pitchfork_file(tmp_path, dtype=dtype)
    assert main(["basins", str(path), "--out", str(tmp_path / "o"), "-q"]) == 0
    r = json.loads((tmp_path / "o" / "continuation.json").read_text())
    z = np.load(tmp_path / "o" / "continuation.npz")
    assert r["parameter"] == "synapses[0].scale" and r["values"] == [0.25, 0.4, 0.6, 0.75, 1.0]
    assert [a["present"] for a in r["attractors"]] == [[True] * 5, [False, False, True, True, True]]
    assert r["attractors"][1]["first"] == 0.6 and r["recompiles"] is False and r["programs"] == 1
    # the reference: a start ends at sign(u0) sqrt(mu) for mu > 0, at 0 for mu < 0
    x0 = random_starts(40, 1, "uniform", -1.5, 1.5, 0.0, 1.0, 1)[:, 0]
    eps = float(np.finfo(dtype).eps) ** 0.5
    for k, s in enumerate(r["values"]):
        mu = 2 * s - 1
        ids = z[f"ids/{k}"]
        if mu < 0:
            assert r["fractions"][k] == [1.0, None] and np.all(ids == 0)
            assert r["energies"][k][0] == pytest.approx(0.0, abs=eps)
            continue
        # one branch keeps id 0, the other is id 1; each holds the starts of one sign
        signs = {i: set(np.sign(x0[ids == i]).tolist()) for i in (0, 1)}
        assert sorted(signs.values(), key=min) == [{-1.0}, {1.0}]
        up = np.mean(x0 > 0)
        assert sorted(r["fractions"][k]) == pytest.approx(sorted([up, 1 - up]))
        for f, (lo, hi) in zip(r["fractions"][k], r["intervals"][k]):
            assert lo <= f <= hi
        assert r["energies"][k] == pytest.approx([-(mu**2) / 4] * 2, abs=10 * eps)
    assert (tmp_path / "o" / "continuation_fractions.png").exists()
    assert not (tmp_path / "o" / "continuation.partial").exists()


def test_a_parameter_that_changes_shapes_is_allowed_and_said_so(tmp_path):
    import json

    from hopdyn.cli import main

    path = _pitchfork_file(tmp_path)
    text = (
        path.read_text()
        .replace(
            "parameter: synapses[0].scale\n  values: [0.25, 0.4, 0.6, 0.75, 1.0]",
            "parameter: basins.ensemble.random.samples\n  values: [20, 30]",
        )
        .replace("scale: 0.5}", "scale: 0.25}")
    )
    path.write_text(text)
    assert main(["basins", str(path), "--out", str(tmp_path / "o"), "-q"]) == 0
    r = json.loads((tmp_path / "o" / "continuation.json").read_text())
    assert r["samples"] == [20, 30] and r["recompiles"] is True and r["programs"] == 2
    # other starts: matched by the distance of the end states alone (both at 0)
    assert [a["present"] for a in r["attractors"]] == [[True, True]]


def test_resume_after_a_kill_keeps_the_values_done(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys

    from hopdyn.cli import main

    # the run kills itself (SIGKILL) right after writing its third value: no race
    # with a clock, whatever the machine's speed
    path = _pitchfork_file(tmp_path, values="  range: {start: 0.25, stop: 1.0, num: 60}", samples=64)
    partial = tmp_path / "killed" / "continuation.partial"
    child = (
        "import os, signal, sys\n"
        "from hopdyn.analysis import runner as R\n"
        "real, n = R._write_chunk, [0]\n"
        "def write(p, *a):\n"
        "    real(p, *a)\n"
        "    n[0] += os.path.basename(p).startswith('value_')\n"
        "    if n[0] == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "R._write_chunk = write\n"
        "from hopdyn.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    cmd = [sys.executable, "-c", child, "basins", str(path), "-q", "--out", str(tmp_path / "killed")]
    proc = subprocess.Popen(cmd, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    proc.wait()
    done = sorted(p.name for p in partial.glob("value_*.npz"))
    assert proc.returncode == -signal.SIGKILL and len(done) == 3, (proc.returncode, done)
    assert not (tmp_path / "killed" / "continuation.json").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in partial.glob("value_*.npz")}
    # a resume with other values is refused: the kept ones belong to another sweep
    other = tmp_path / "other.yaml"
    other.write_text(path.read_text().replace("num: 60", "num: 61").replace("name: pitchfork", "name: pitchfork"))
    assert main(["basins", str(other), "--out", str(tmp_path / "killed"), "-q", "--resume"]) == 2
    assert {p.name: p.stat().st_mtime_ns for p in partial.glob("value_*.npz")} == stamps
    # the resume reads what was done (the files are not rewritten) and solves the rest
    seen = []
    from hopdyn.analysis import runner as R

    real = R._write_chunk
    try:
        R._write_chunk = lambda p, *a: (seen.append(os.path.basename(p)), real(p, *a))
        assert main(["basins", str(path), "--out", str(tmp_path / "killed"), "-q", "--resume"]) == 0
    finally:
        R._write_chunk = real
    seen = [n for n in seen if n.startswith("value_")]
    assert not set(seen) & set(done) and len(seen) == 60 - len(done)
    assert main(["basins", str(path), "--out", str(tmp_path / "whole"), "-q"]) == 0
    a = json.loads((tmp_path / "killed" / "continuation.json").read_text())
    b = json.loads((tmp_path / "whole" / "continuation.json").read_text())
    assert a == b
    assert not partial.exists()


@pytest.mark.parametrize(
    "change, key",
    [
        ("parameter: synapses[0].scale", "parameter: synapses[5].scale"),
        ("basins:\n  layer: u", "basins_:\n  layer: u"),
        ("values: [0.25, 0.4, 0.6, 0.75, 1.0]", "range: {start: -1, stop: 1, num: 3, spacing: log}"),
        ("values: [0.25, 0.4, 0.6, 0.75, 1.0]", "values: [0.25, abc]"),
        ("values: [0.25, 0.4, 0.6, 0.75, 1.0]", "values: [0.25, [1, 2]]"),
    ],
)
def test_bad_continuation_is_one_line_before_any_work(tmp_path, capsys, change, key):
    from hopdyn.cli import main

    path = _pitchfork_file(tmp_path)
    path.write_text(path.read_text().replace(*((change, key))))
    code = main(["basins", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pitchfork.yaml" in err[0], err
    assert not (tmp_path / "o").exists()


def test_ramsauer_regimes_change_where_the_linearisation_says(tmp_path):
    """The shipped study at three values of beta placed by closed forms: the
    average of all patterns (every start) is a fixed point that loses stability
    when beta * the largest eigenvalue of the patterns' covariance passes 1
    (the Jacobian of X^T softmax(beta X v) at uniform weights is beta Cov(X)),
    and a cluster's average likewise with the covariance of its four patterns."""
    import json

    from hopdyn.cli import main, resolve
    from hopdyn.scenario.build import load_and_build

    path = resolve("ramsauer-regimes")
    X = np.asarray(load_and_build(path).patterns["X"], np.float64)

    def critical(P):
        k = len(P)
        cov = P.T @ (np.eye(k) / k - np.ones((k, k)) / k**2) @ P
        return 1 / np.linalg.eigvalsh(cov).max()

    b1 = critical(X)
    b2 = [critical(X[4 * c : 4 * c + 4]) for c in range(3)]
    assert 2 * b1 < min(b2) / 2  # three separate regimes for these patterns
    values = [float(b1 / 2), float(2 * b1), float(2 * max(b2))]
    overrides = ["basins.ensemble.random.samples=48", "continuation.range=null", f"continuation.values={values}"]
    args = ["basins", path, "--out", str(tmp_path / "o"), "-q"]
    assert main(args + [a for o in overrides for a in ("--set", o)]) == 0
    r = json.loads((tmp_path / "o" / "continuation.json").read_text())
    kinds = [
        {(a["kind"], tuple(a.get("patterns", [a.get("pattern")]))) for a in r["attractors"] if a["present"][i]}
        for i in range(3)
    ]
    assert kinds[0] == {("metastable", tuple(range(12)))}
    assert kinds[1] == {("metastable", tuple(range(4 * c, 4 * c + 4))) for c in range(3)}
    assert {k for k, _ in kinds[2]} == {"pattern"} and len(kinds[2]) >= 10
    assert r["undecided"] == [0, 0, 0] and len(r["events"]) == 2
