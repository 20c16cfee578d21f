"""Figures and reports that do not mislead: legend colours that match the
bars, zeros on log axes said so, time axes in t, labels that name the
synapse, and stored patterns only where the file declares them."""

import numpy as np
from matplotlib.colors import to_rgba

import hopdyn as hd
from hopdyn.cli import main, verify_table
from hopdyn.figures import plots
from hopdyn.figures.run import term_labels


def test_attractor_legend_colours_match_their_bars():
    report = {
        "patterns": "Xi",
        "attractors": [
            {"label": 0, "kind": "pattern", "pattern": 0, "count": 5, "energy": -3.0},
            {"label": 1, "kind": "negated", "pattern": 0, "count": 4, "energy": -3.0},
            {"label": 2, "kind": "mixture", "patterns": [0, 1, 2], "signs": [1, 1, 1], "count": 2, "energy": -2.0},
        ],
    }
    fig = plots.attractor_energy_figure(report, "t")
    ax = fig.axes[0]
    bars = {to_rgba(p.get_facecolor()) for p in ax.patches}
    legend = {
        t.get_text(): to_rgba(h.get_facecolor())
        for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)
    }
    assert set(legend) == {"pattern", "negated", "mixture"}  # only the kinds present
    assert len(set(legend.values())) == 3 and set(legend.values()) == bars


def test_a_zero_bit_error_rate_is_drawn_open_and_said_so():
    cap = {
        "family": "hebbian",
        "N": 100,
        "flip": 0.1,
        "error_rate": 0.01,
        "method": "async",
        "loads": [0.05, 0.1, 0.2],
        "retrieved": [1.0, 1.0, 0.5],
        "exact": [1.0, 1.0, 0.2],
        "bit_error": [0.0, 0.001, 0.05],
        "K": [5, 10, 20],
    }
    fig = plots.capacity_figure(cap, "t")
    texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("no bit errors (drawn at 1e-06)" in t for t in texts)
    assert any("10% of signs flipped" in ax.get_ylabel() for ax in fig.axes)


def test_states_heat_map_is_drawn_against_t_and_names_the_member():
    net = hd.Network({"v": hd.Neuron(5, hd.Tanh())}, [hd.Bias(("v",), 0.3)])
    traj = hd.simulate(net, {"v": np.zeros((3, 5))}, save=20)
    fig = plots.states_figure(traj.members(), "v", None, None, "t")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("time t") and "the first of 3 trajectories" in ax.get_title()


def test_energy_terms_are_named_by_kind_and_layers():
    net = hd.Network(
        {"m": hd.Neuron(2, hd.Softmax()), "v": hd.Neuron(3, hd.Tanh())}, [hd.Dense(("m", "v"), np.ones((2, 3)))]
    )
    labels = term_labels(net)
    assert labels == {"m": "layer m", "v": "layer v", "synapse:0": "dense m-v"}
    traj = hd.simulate(net, {"v": np.zeros(3)}, save=10).truncated()
    fig = plots.energy_figure([traj], "t", labels)
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert any(t.startswith("dense m-v (starts at ") for t in texts) and not any("-0)" in t for t in texts)


def test_a_random_weight_matrix_is_not_called_stored_patterns(tmp_path, capsys):
    path = tmp_path / "w.yaml"
    path.write_text(
        "name: w\npatterns: {W1: {random: {distribution: normal, shape: [4, 6]}}}\n"
        "neurons: {a: {shape: [4], lagrangian: {type: tanh}}, b: {shape: [6], lagrangian: {type: tanh}}}\n"
        "synapses: [{type: dense, connects: [a, b], weights: W1, scale: 0.1}]\n"
        "initial: {a: {random: {distribution: normal}}}\n"
    )
    assert main(["verify", str(path), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "W1[" not in out and "(1 trajectory)" in out
    report = {
        "members": 2,
        "certificates": [],
        "checks": {"solved": True},
        "fixed_points": {},
        "lyapunov": {
            "max_dEdt": -1.0,
            "tolerance": 1e-6,
            "max_dEdt_rounding": 0.0,
            "max_rise": -1.0,
            "rise_tolerance": 1e-6,
        },
        "premises": {
            "convex": {"min_curvature": 1.0, "layer": "a"},
            "gradient": {"ok": True, "non_gradient": []},
            "bounded_below": {"min_energy": 0.0},
        },
    }
    assert "(2 trajectories)" in verify_table(report)


def test_the_retrieval_animation_shows_every_frame_and_its_moving_marker(tmp_path):
    """The GIF's frames (one shared palette) are the picked time points, each
    different from the one before, each with the red marker on the energy
    curve and the image's grey levels of that time: a 4x4 state going from
    black to white shows ever lighter pixels."""
    from types import SimpleNamespace

    from PIL import Image, ImageSequence

    from hopdyn.figures.run import write_animation

    ts = np.linspace(0.0, 10.0, 30)
    level = ts / 10.0  # every unit at this level: the image's grey
    member = SimpleNamespace(ts=ts, xhat={"v": np.repeat(level[:, None], 16, 1)}, energy=-ts)
    path = tmp_path / "retrieval.gif"
    write_animation(str(path), member, "v", (4, 4), "t")
    with Image.open(path) as im:
        frames, durations = [], []
        for f in ImageSequence.Iterator(im):
            frames.append(np.asarray(f.convert("RGB"), float))
            durations.append(f.info["duration"])
    assert len(frames) == 30 and durations[:-1] == [90] * 29 and durations[-1] == 1200
    red = np.asarray(to_rgba("C3")[:3]) * 255
    greys = []
    for before, frame in zip([None] + frames[:-1], frames):
        assert before is None or np.any(before != frame)
        assert np.min(np.abs(frame - red).sum(axis=2)) < 30  # the marker, in (nearly) its own colour
        h, w, _ = frame.shape
        greys.append(frame[h // 2, w // 5].mean())  # a pixel inside the image panel
    assert np.all(np.diff(greys) >= -1.0) and greys[0] < 20 and greys[-1] > 235, greys
