"""hd.train and hopdyn train: learning through the equilibrium on small problems,
checked by independent paths (simulate's solve of the trained network, a numpy
k-nearest-neighbours against scikit-learn's), resume equal to an uninterrupted
run, and bad training sections refused before any work."""

import json
import os

import numpy as np
import pytest

import hopdyn as hd
from helpers import tiny_train
from hopdyn.analysis.training import TrainSettings, knn_accuracy, train
from hopdyn.cli import main

SOLVE = hd.SolveSettings(method="tsit5", steady_state={"rtol": 1e-4, "atol": 1e-5})


def blobs(n=96, D=6, C=3, seed=0):
    """``n`` examples of ``C`` classes around fixed centres (the same for every seed)."""
    centres = np.random.default_rng(100).uniform(0, 1, (C, D))
    rng = np.random.default_rng(seed)
    y = np.arange(n) % C
    return centres[y] + rng.normal(0, 0.08, (n, D)), y


def memory_network(D=6, C=3, K=6, seed=1, dtype="float32"):
    rng = np.random.default_rng(seed)
    return hd.Network(
        {
            "x": hd.Neuron(D, hd.Identity(), 1.0),
            "y": hd.Neuron(C, hd.Softmax(1.0), 1.0),
            "z": hd.Neuron(K, hd.Softmax(8.0), 0.0),
        },
        [
            hd.L2Memory(("x", "z"), rng.uniform(0, 1, (K, D))),
            hd.Dense(("z", "y"), rng.normal(0, 0.1, (K, C)), scale=1.0),
        ],
    ).astype(dtype)


LEARN = lambda n: (n.synapses[0].patterns, n.synapses[1].weights)  # noqa: E731


def test_training_learns_and_simulate_agrees_with_its_accuracy():
    X, y = blobs()
    Xt, yt = blobs(48, seed=5)
    net = memory_network()
    r = train(
        net,
        LEARN,
        X,
        y,
        inputs="x",
        readout="y",
        solve=SOLVE,
        test=(Xt, yt),
        settings=TrainSettings(epochs=8, batch_size=16, learning_rate=0.02),
    )
    h = r.history
    assert h[-1]["loss"] < 0.6 * h[0]["loss"]
    assert h[-1]["test_accuracy"] >= 0.95
    # an independent path: simulate's solve of the trained network, read out by argmax
    traj = hd.simulate(r.network.clamp("x"), {"x": Xt.astype(np.float32)}, SOLVE, save=2)
    pred = np.argmax(np.asarray(traj.xhat["y"])[:, -1], axis=1)
    assert np.all(np.asarray(traj.status) == hd.STATUSES.index("steady_state"))
    assert np.mean(pred == yt) == pytest.approx(h[-1]["test_accuracy"], abs=1.5 / len(yt))


def test_resume_continues_to_the_same_parameters(tmp_path):
    X, y = blobs(48)
    net = memory_network()
    kw = dict(inputs="x", readout="y", solve=SOLVE)
    s3 = TrainSettings(epochs=3, batch_size=16, learning_rate=0.05)
    whole = train(net, LEARN, X, y, settings=s3, folder=str(tmp_path / "a"), identity="x", **kw)
    train(
        net,
        LEARN,
        X,
        y,
        settings=TrainSettings(epochs=2, batch_size=16, learning_rate=0.05),
        folder=str(tmp_path / "b"),
        identity="x",
        keep_checkpoints=True,  # a finished run removes them otherwise
        **kw,
    )
    resumed = train(
        net,
        LEARN,
        X,
        y,
        settings=s3,
        folder=str(tmp_path / "b"),
        resume=True,
        identity="x",
        keep_checkpoints=True,
        **kw,
    )
    assert sorted(os.listdir(tmp_path / "b")) == ["epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz", "manifest.json"]
    assert not (tmp_path / "a").exists()  # a finished run removes its checkpoints (and the folder it made)
    assert resumed.resumed_from == 2
    for a, b in zip(whole.learned, resumed.learned):
        np.testing.assert_array_equal(a, b)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in whole.history]
    with pytest.raises(hd.AnalysisError, match="another training run"):
        train(net, LEARN, X, y, settings=s3, folder=str(tmp_path / "b"), resume=True, identity="other", **kw)


def test_reconstruction_lowers_the_error_on_hidden_inputs():
    X, _ = blobs(64)
    rng = np.random.default_rng(3)
    net = hd.Network(
        {"x": hd.Neuron(6, hd.Identity(), 1.0), "z": hd.Neuron(6, hd.Softmax(4.0), 0.0)},
        [hd.L2Memory(("x", "z"), rng.uniform(0, 1, (6, 6)))],
    ).astype("float32")
    r = train(
        net,
        lambda n: (n.synapses[0].patterns,),
        X,
        None,
        inputs="x",
        readout="x",
        solve=SOLVE,
        test=(X[:16], None),
        settings=TrainSettings(loss="reconstruction", hidden=0.34, epochs=4, batch_size=16, learning_rate=0.05),
    )
    # the independent reference: hidden pixels guessed by each pixel's training mean
    imputer = np.mean(np.abs(X[:16] - X.mean(axis=0)))
    assert r.history[-1]["test_hidden_error"] < 0.5 * imputer
    assert r.history[-1]["loss"] < r.history[0]["loss"]


def test_knn_matches_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    X, y = blobs(90, seed=2)
    Xt, yt = blobs(60, seed=9)
    Xt = Xt + np.random.default_rng(1).normal(0, 0.2, Xt.shape)  # some mistakes to agree on
    for k in (1, 3):
        ref = KNeighborsClassifier(n_neighbors=k).fit(X, y).score(Xt, yt)
        assert knn_accuracy(X, y, Xt, yt, k) == pytest.approx(ref, abs=1 / 60)


SCENARIO = tiny_train()


def _scenario(tmp_path, text=SCENARIO):
    X, y = blobs(96)
    np.savez(tmp_path / "data.npz", inputs=X, targets=y)
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def test_train_command_writes_a_scenario_run_and_verify_accept(tmp_path):
    path = _scenario(tmp_path)
    out = tmp_path / "out"
    assert main(["train", str(path), "--out", str(out), "-q", "--keep-checkpoints"]) == 0
    report = json.loads((out / "training.json").read_text())
    for name in ("trained.yaml", "trained.npz", "training_curves.png", "learned_Memories.png", "generated.png"):
        assert (out / name).exists(), name
    assert len(report["epochs"]) == 3 and report["examples"] == {"train": 72, "test": 24}
    trained = out / "trained.yaml"
    assert main(["run", str(trained), "--out", str(tmp_path / "run"), "-q", "--no-plots"]) in (0, 1)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    # simulate's readout of the held-out examples equals the training's own accuracy
    acc = result["readout"]["accuracy"]
    assert acc == pytest.approx(report["test_accuracy"], abs=1.5 / 24)
    assert main(["verify", str(trained), "--out", str(tmp_path / "verify"), "-q"]) in (0, 1)
    verify = json.loads((tmp_path / "verify" / "verify.json").read_text())
    assert verify["checks"]["lyapunov"] and verify["checks"]["stable"]
    # --resume with every epoch done: nothing trained again, the same report
    assert main(["train", str(path), "--out", str(out), "-q", "--resume"]) == 0
    again = json.loads((out / "training.json").read_text())
    assert again["resumed_after_epoch"] == 3 and again["epochs"] == report["epochs"]


@pytest.mark.parametrize(
    "change, key",
    [
        (("inputs: x", "inputs: w"), "training.inputs"),
        (("learn: [Memories, LabelMemories]", "learn: [Nope]"), "training.learn"),
        (("data: {file: data.npz}", "data: {file: missing.npz}"), "training.data.file"),
        (("image_shape: [2, 3]", "image_shape: [2, 2]"), "training.image_shape"),
        (("optimizer", "optimizer"), None),
    ],
)
def test_bad_training_sections_are_one_line_and_exit_2(tmp_path, capsys, change, key):
    if key is None:
        text = SCENARIO.replace("  epochs: 3", "  epochs: 0")
        key = "training.epochs"
    else:
        text = SCENARIO.replace(*change)
    path = _scenario(tmp_path, text)
    out = tmp_path / "out"
    assert main(["train", str(path), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and key in err[0] and "Traceback" not in "\n".join(err)
    assert not out.exists()


def test_shipped_digits_study_meets_its_targets_by_independent_paths(tmp_path):
    """plots/digits-train: held-out accuracy >= 97%, its 3-nearest-neighbours
    reference recomputed by scikit-learn on the same split, and simulate's
    readout of the shipped trained scenario equal to the training's accuracy."""
    import pathlib

    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    folder = pathlib.Path(__file__).resolve().parent.parent / "plots" / "digits-train"
    report = json.loads((folder / "training.json").read_text())
    z = np.load(folder / "trained.npz")
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    tr, te = z["train_index"], z["test_index"]
    assert len(set(tr) | set(te)) == len(X) and not set(tr) & set(te)  # a split of the whole set
    np.testing.assert_allclose(z["held_out"], X[te], atol=1e-6)
    knn = KNeighborsClassifier(n_neighbors=3).fit(X[tr], y[tr]).score(X[te], y[te])
    assert report["knn_test_accuracy"]["accuracy"] == pytest.approx(knn, abs=1 / len(te))
    assert report["test_accuracy"] >= 0.97
    assert main(["run", str(folder / "trained.yaml"), "--out", str(tmp_path / "run"), "-q", "--no-plots"]) == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["readout"]["accuracy"] == pytest.approx(report["test_accuracy"], abs=1.5 / len(te))
    verify = json.loads((folder.parent / "digits-train-trained" / "verify.json").read_text())
    assert verify["ok"] and verify["classified_members"] == len(te) == verify["fixed_points"]["stable"]
