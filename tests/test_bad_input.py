"""Bad input: one line on stderr naming the file and the key, exit 2, no
traceback, no output file.  A corpus of malformed scenarios, --set overrides,
and atomic writing."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hopdyn.cli import main
from hopdyn.core import io as _io

GOOD = """\
name: tiny
patterns:
  Xi: {random: {distribution: uniform, shape: [4, 3]}}
neurons:
  v: {shape: [3], lagrangian: {type: sigmoid, beta: 0.5}}
  m: {shape: [4], lagrangian: {type: softmax}}
synapses:
  - {type: dense, connects: [m, v], weights: Xi}
initial:
  v: {random: {distribution: uniform}}
solver: {t1: 50.0}
"""


def _sub(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new)


# (id, file content, substring the one-line message must contain)
CORPUS = [
    ("syntax-error", "name: x\nneurons: {v: [", "YAML syntax error"),
    ("bad-indentation", "name: x\n  neurons: 1\n bad: 2\n", "line"),
    ("empty-file", "", "empty"),
    ("only-comments", "# nothing here\n", "empty"),
    ("top-level-list", "- 1\n- 2\n", "expected a mapping"),
    ("python-object-tag", "name: !!python/object/apply:os.system ['echo pwned']\n", "YAML tag"),
    ("custom-tag", "name: !foo x\n" + GOOD.split("\n", 1)[1], "YAML tag"),
    ("duplicate-key", GOOD + "name: again\n", "duplicate key 'name'"),
    ("missing-name", GOOD.split("\n", 1)[1], "name: required key is missing"),
    ("bad-name", _sub("name: tiny", "name: Tiny Net"), "name: "),
    ("unknown-top-key", GOOD + "plot: yes\n", "plot: unknown key"),
    ("missing-neurons", "name: x\n", "neurons: required"),
    # an index list emptied by an edit (found by the fuzz test): refused, not a crash in corrupt()
    (
        "empty-index-list",
        _sub("v: {random: {distribution: uniform}}", "v: {pattern: Xi, index: [], corrupt: {flip: 0.25}}"),
        "initial.v.index: expected at least 1 item (got 0)",
    ),
    (
        "negative-index",
        _sub("v: {random: {distribution: uniform}}", "v: {pattern: Xi, index: -1}"),
        "initial.v.index: should be greater than or equal to 0",
    ),
    ("empty-neurons", "name: x\nneurons: {}\n", "neurons:"),
    ("unknown-lagrangian", _sub("type: sigmoid", "type: sigmod"), "neurons.v.lagrangian: unknown type 'sigmod'"),
    ("negative-tau", _sub("beta: 0.5}}", "beta: 0.5}, tau: -1}"), "neurons.v.tau"),
    (
        "all-layers-quasi-static",
        _sub("beta: 0.5}}", "beta: 0.5}, tau: 0}").replace("{type: softmax}}", "{type: softmax}, tau: 0}"),
        "tau = 0",
    ),
    ("nan-tau", _sub("beta: 0.5}}", "beta: 0.5}, tau: .nan}"), "neurons.v.tau"),
    ("string-tau", _sub("beta: 0.5}}", "beta: 0.5}, tau: fast}"), "neurons.v.tau"),
    ("negative-shape", _sub("v: {shape: [3]", "v: {shape: [-3]"), "neurons.v.shape[0]"),
    ("unknown-lagrangian-param", _sub("beta: 0.5", "gamma: 0.5"), "neurons.v.lagrangian.gamma: unknown key"),
    ("negative-beta", _sub("beta: 0.5", "beta: -0.5"), "neurons.v.lagrangian.beta"),
    ("unknown-synapse-type", _sub("type: dense", "type: densse"), "synapses[0]: unknown type 'densse'"),
    ("synapse-missing-weights", _sub(", weights: Xi", ""), "synapses[0].weights: required"),
    ("synapse-unknown-neuron", _sub("connects: [m, v]", "connects: [m, w]"), "synapses[0].connects"),
    ("synapse-one-neuron", _sub("connects: [m, v]", "connects: [m]"), "synapses[0].connects"),
    ("missing-pattern", _sub("weights: Xi", "weights: Theta"), "synapses[0].weights: unknown pattern 'Theta'"),
    ("weight-shape-mismatch", _sub("shape: [4, 3]", "shape: [4, 5]"), "synapses[0].weights"),
    ("two-pattern-sources", _sub("Xi: {random:", "Xi: {onehot: 3, random:"), "patterns.Xi"),
    (
        "pattern-file-missing",
        _sub("Xi: {random: {distribution: uniform, shape: [4, 3]}}", "Xi: {file: nowhere.npy}"),
        "patterns.Xi.file",
    ),
    (
        "pattern-values-ragged",
        _sub("Xi: {random: {distribution: uniform, shape: [4, 3]}}", "Xi: {values: [[1, 2], [3]]}"),
        "patterns.Xi.values",
    ),
    (
        "pattern-values-nan",
        _sub("Xi: {random: {distribution: uniform, shape: [4, 3]}}", "Xi: {values: [[1, .nan, 2]]}"),
        "patterns.Xi.values",
    ),
    ("pattern-zero-shape", _sub("shape: [4, 3]", "shape: [4, 0]"), "patterns.Xi.random.shape[1]"),
    ("pattern-huge-shape", _sub("shape: [4, 3]", "shape: [100000, 100000]"), "patterns.Xi.random.shape"),
    (
        "unknown-distribution",
        _sub("distribution: uniform, shape", "distribution: poisson, shape"),
        "patterns.Xi.random.distribution",
    ),
    (
        "unknown-sample-image",
        _sub(
            "Xi: {random: {distribution: uniform, shape: [4, 3]}}", "Xi: {images: {source: sample, names: [mona_lisa]}}"
        ),
        "patterns.Xi.images",
    ),
    ("initial-unknown-neuron", GOOD.replace("initial:\n", "initial:\n  q: {zeros: true}\n"), "initial.q"),
    (
        "initial-index-out-of-range",
        _sub("v: {random: {distribution: uniform}}", "v: {pattern: Xi, index: 9}"),
        "initial.v.index",
    ),
    ("initial-pattern-no-index", _sub("v: {random: {distribution: uniform}}", "v: {pattern: Xi}"), "initial.v"),
    (
        "initial-values-wrong-size",
        _sub("v: {random: {distribution: uniform}}", "v: {values: [1, 2]}"),
        "initial.v.values",
    ),
    (
        "initial-two-kinds",
        _sub("v: {random: {distribution: uniform}}", "v: {zeros: true, values: [1, 2, 3]}"),
        "initial.v",
    ),
    (
        "corrupt-flip-above-one",
        _sub("v: {random: {distribution: uniform}}", "v: {pattern: Xi, index: 0, corrupt: {flip: 1.5}}"),
        "initial.v.corrupt.flip",
    ),
    ("clamp-unknown-neuron", GOOD + "clamp: [w]\n", "clamp"),
    ("clamp-mask-wrong-size", GOOD + "clamp: {v: {values: [true, false]}}\n", "clamp.v.values"),
    ("unknown-method", _sub("solver: {t1: 50.0}", "solver: {method: rk4}"), "solver.method"),
    ("negative-rtol", _sub("solver: {t1: 50.0}", "solver: {rtol: -1.0e-6}"), "solver.rtol"),
    ("euler-without-dt", _sub("solver: {t1: 50.0}", "solver: {method: euler}"), "solver.dt"),
    (
        "async-two-free-layers",
        _sub("solver: {t1: 50.0}", "solver: {method: async}"),
        "solver.method: async updates one layer",
    ),
    (
        "dense-async-without-memory",
        _sub("solver: {t1: 50.0}", "solver: {method: dense_async}") + "clamp: [m]\n",
        "solver.method: dense_async needs exactly one polynomial or exponential synapse",
    ),
    (
        "async-non-quadratic",
        _sub("solver: {t1: 50.0}", "solver: {method: async}").replace(
            "{type: dense, connects: [m, v], weights: Xi}", "{type: polynomial, connects: [v], patterns: Xi, n: 3}"
        )
        + "clamp: [m]\n",
        "solver.method: async needs an energy quadratic",
    ),
    ("order-without-retrieval", _sub("solver: {t1: 50.0}", "solver: {order: [v]}"), "solver.order"),
    ("order-unknown-layer", _sub("solver: {t1: 50.0}", "solver: {method: retrieval, order: [w]}"), "solver.order"),
    ("zero-max-sweeps", _sub("solver: {t1: 50.0}", "solver: {method: sync, max_sweeps: 0}"), "solver.max_sweeps"),
    ("compare-unknown-method", GOOD + "outputs: {compare: rk4}\n", "outputs.compare"),
    ("too-many-clusters", _sub("shape: [4, 3]}", "shape: [4, 3], clusters: 9}"), "patterns.Xi.random"),
    (
        "unlearn-without-dreams",
        _sub("solver: {t1: 50.0}", "solver: {t1: 50.0}").replace(
            "{type: dense, connects: [m, v], weights: Xi}",
            "{type: dense, connects: [m, v], weights: Xi}\n  - {type: hebbian, connects: [m], patterns: Xi, unlearn: {rate: 0.1}}",
        ),
        "unlearn.dreams",
    ),
    ("t1-before-t0", _sub("solver: {t1: 50.0}", "solver: {t0: 10.0, t1: 5.0}"), "solver.t1"),
    (
        "save-times-decreasing",
        _sub("solver: {t1: 50.0}", "solver: {t1: 50.0, save: {ts: [3.0, 1.0]}}"),
        "solver.save.ts",
    ),
    ("bad-dtype", GOOD + "dtype: float16\n", "dtype"),
    ("unknown-plot", GOOD + "outputs: {plots: [histogram]}\n", "outputs.plots[0]"),
    ("image-shape-mismatch", GOOD + "outputs: {layer: v, image_shape: [2, 2]}\n", "outputs.image_shape"),
    ("readout-check-without-readout", GOOD + "checks: {readout: {min_accuracy: 0.5}}\n", "checks.readout"),
    ("negative-seed", GOOD + "seed: -4\n", "seed"),
    (
        "alias-bomb",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefg", "bcdefgh")
        ),
        "aliases",
    ),
]


def _check_bad(capsys, argv, fragment, fname, out=None):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert fname in lines[0], lines[0]
    assert fragment in lines[0], lines[0]
    if out is not None:
        assert not os.path.exists(out)


@pytest.mark.parametrize("case,text,fragment", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_scenario_exits_2_with_one_line(case, text, fragment, tmp_path, capsys):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    _check_bad(capsys, ["run", str(path), "--out", str(out)], fragment, path.name, out)
    _check_bad(capsys, ["validate", str(path)], fragment, path.name)


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


def test_binary_garbage(tmp_path, capsys):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _check_bad(
        capsys, ["run", str(path), "--out", str(tmp_path / "out")], "garbage.yaml", "garbage.yaml", tmp_path / "out"
    )


def test_fifty_megabyte_file(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.write(GOOD.encode())
        f.write(b"# " + b"x" * (50 * 2**20) + b"\n")
    _check_bad(capsys, ["run", str(path), "--out", str(tmp_path / "out")], "limited to", "huge.yaml", tmp_path / "out")


def test_missing_file(tmp_path, capsys):
    _check_bad(capsys, ["run", str(tmp_path / "nope.yaml")], "no such file", "nope.yaml")


def test_directory_instead_of_file(tmp_path, capsys):
    _check_bad(capsys, ["run", str(tmp_path)], "directory", str(tmp_path))


def test_npz_key_and_csv_files(tmp_path, capsys):
    np.savez(tmp_path / "w.npz", W=np.ones((4, 3)), other=np.zeros(2))
    np.savetxt(tmp_path / "w.csv", np.ones((4, 3)), delimiter=",")
    text = _sub("Xi: {random: {distribution: uniform, shape: [4, 3]}}", "Xi: {file: w.npz}")
    (tmp_path / "a.yaml").write_text(text)
    _check_bad(capsys, ["validate", str(tmp_path / "a.yaml")], "name one with `key`", "a.yaml")
    (tmp_path / "b.yaml").write_text(text.replace("{file: w.npz}", "{file: w.npz, key: W}"))
    assert main(["validate", str(tmp_path / "b.yaml")]) == 0
    (tmp_path / "c.yaml").write_text(text.replace("{file: w.npz}", "{file: w.csv}"))
    assert main(["validate", str(tmp_path / "c.yaml")]) == 0


# ------------------------------------------------------------------ --set
def test_set_overrides_any_key(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    out = tmp_path / "o"
    rc = main(
        [
            "run",
            str(path),
            "--out",
            str(out),
            "-q",
            "--no-plots",
            "--set",
            "solver.rtol=1e-8",
            "--set",
            "synapses[0].scale=2.0",
            "--set",
            "neurons.m.lagrangian.beta=3",
            "--set",
            "solver.save={n: 7}",
        ]
    )
    assert rc == 0
    r = json.loads((out / "result.json").read_text())
    assert r["solver"]["rtol"] == 1e-8
    assert len(np.load(out / "trajectory.npz")["t"]) <= 8


@pytest.mark.parametrize(
    "item,fragment",
    [
        ("solver.rtol", "expected key.path=value"),
        ("synapses[5].scale=1", "no element 5"),
        ("solver..rtol=1", "malformed key path"),
        ("solver.rtol=-1", "solver.rtol"),
        ("solver.bogus=1", "solver.bogus: unknown key"),
    ],
)
def test_bad_set(item, fragment, tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    _check_bad(
        capsys, ["run", str(path), "--out", str(tmp_path / "o"), "--set", item], fragment, "tiny.yaml", tmp_path / "o"
    )


# ------------------------------------------------------------------ run-time failures and exit 1
def test_failed_solve_is_exit_1_with_status(tmp_path):
    text = """\
name: runaway
neurons:
  a: {shape: [1], lagrangian: {type: identity}}
patterns:
  W: {values: [[1.0]]}
synapses:
  - {type: dense, connects: [a, a], weights: W, scale: 2.0}
initial:
  a: {values: [1.0]}
solver: {t1: 100.0, divergence: 1.0e+6}
"""
    (tmp_path / "r.yaml").write_text(text)
    rc = main(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "o"), "-q"])
    r = json.loads((tmp_path / "o" / "result.json").read_text())
    assert rc == 1 and r["status"] == "failed" and r["checks"]["solved"] is False
    assert r["failure"]["t"] == pytest.approx(np.log(1e6) / 3, rel=0.2)


def test_unconverged_is_exit_1_when_required(tmp_path):
    (tmp_path / "t.yaml").write_text(GOOD + "checks: {converged: true}\n")
    rc = main(
        ["run", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "o"), "-q", "--set", "solver.t1=0.01", "--no-plots"]
    )
    r = json.loads((tmp_path / "o" / "result.json").read_text())
    assert rc == 1 and r["status"] == "horizon" and r["checks"]["converged"] is False


# ------------------------------------------------------------------ schema, list, atomic writes, real process
def test_schema_is_json_schema_of_the_format(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert {"name", "neurons", "synapses", "initial", "clamp", "solver", "checks", "outputs", "patterns"} <= set(
        schema["properties"]
    )
    assert schema.get("additionalProperties") is False
    assert "name" in schema["required"] and "neurons" in schema["required"]


def test_list_names_every_shipped_scenario(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("chn-tutorial", "dam-tutorial", "two-neuron-phase", "pattern-completion"):
        assert name in out


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "result.json"

    def crash(f):
        f.write(b'{"partial": ')
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        _io.atomic_write(str(target), crash)
    assert not target.exists()
    assert os.listdir(tmp_path) == []
    _io.write_json(str(target), {"a": 1.0, "b": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1.0, "b": None}


def test_real_process_prints_one_line_and_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(_sub("type: sigmoid", "type: sigmod"))
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    p = subprocess.run(
        [sys.executable, "-m", "hopdyn.cli", "run", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "bad.yaml: neurons.v.lagrangian: unknown type 'sigmod'" in p.stderr
    assert not (tmp_path / "o").exists()


def test_every_problem_is_reported_and_typos_get_a_suggestion(tmp_path, capsys):
    path = tmp_path / "typos.yaml"
    path.write_text(
        "name: ty\nneurons:\n  v: {shape: [3], lagrangain: {type: tanh}, tua: 2}\n"
        "synapses:\n  - {type: bias, connects: [v], weights: 1.0}\nsolver: {rtoll: 1.0e-5}\n"
    )
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "hopdyn: error: typos.yaml: neurons.v.lagrangain: unknown key; did you mean `lagrangian`?"
    expected = [
        "synapses[0].weights: unknown key; expected one of type, connects, bias",
        "neurons.v.tua: unknown key; did you mean `tau`?",
        "solver.rtoll: unknown key; did you mean `rtol`?",
        "neurons.v.lagrangian: required key is missing",
        "synapses[0].bias: required key is missing",
    ]
    assert sorted(line.split("typos.yaml: ", 1)[1] for line in lines[1:]) == sorted(expected)


def test_a_misspelt_scenario_name_gets_a_did_you_mean(capsys):
    from hopdyn.cli import main

    assert main(["run", "dam-tutorail", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean `dam-tutorial`?" in err[0]


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["serve", "--port", "99999"], "argument --port: expected a port number from 0 to 65535"),
        (["basins", "x", "--samples", "abc"], "argument --samples: invalid int value"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run"], "the following arguments are required: FILE"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and "usage" not in err[0], err
