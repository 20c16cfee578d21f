"""Attractor names by the best description (issue 29): checked on independent
constructions (cluster averages built by hand, fixed points of the modern
Hopfield map iterated in plain numpy), not on the code's own output."""

import numpy as np
import pytest

import hopdyn as hd
from hopdyn.analysis import naming


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _clusters(rng, clusters, size, n, spread):
    centres = rng.normal(size=(clusters, n))
    return np.concatenate([c + spread * rng.normal(size=(size, n)) for c in centres])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cluster_averages_are_named_as_averages_of_their_members(dtype):
    rng = np.random.default_rng(1)
    X = _clusters(rng, 4, 10, 200, 0.28)
    averages = X.reshape(4, 10, -1).mean(axis=1)
    for avg in averages:  # the construction the issue describes
        nearest = max(_cos(avg, x) for x in X)
        assert 0.96 <= nearest <= 0.98, nearest
    keys, cos = naming.describe(averages.astype(dtype), X)
    assert keys == [("metastable", tuple(range(10 * c, 10 * c + 10))) for c in range(4)]
    np.testing.assert_allclose(cos, 1.0, atol=1e-6)
    # the old rule (first description above the threshold) named each one a pattern
    labels, named = hd.label_attractors(averages.astype(dtype), np.zeros(4, int), X, overlap=0.95)
    assert [named[i][0] for i in labels] == ["metastable"] * 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_patterns_stay_patterns(dtype):
    rng = np.random.default_rng(2)
    xi = rng.choice([-1.0, 1.0], (8, 150))
    states = np.tanh(2.0 * xi + 0.3 * rng.normal(size=xi.shape))  # a retrieval state: saturated, noisy
    keys, cos = naming.describe(states.astype(dtype), xi)
    assert keys == [("pattern", j) for j in range(8)]
    # and in a tight cluster: a state mostly one member is that member when
    # the member explains it better than every average (checked by hand)
    X = _clusters(rng, 1, 6, 120, 0.3)
    state = 0.9 * X[2] + 0.1 * X.mean(axis=0)
    order = np.argsort([-_cos(state, x) for x in X])
    averages = [_cos(state, X[order[:k]].mean(axis=0)) for k in range(2, 7)]
    assert _cos(state, X[2]) > max(averages) + 1e-3
    assert naming.describe(state.astype(dtype), X)[0] == ("pattern", 2)
    # a blend the average explains better is named as the average
    blend = 0.5 * X[2] + 0.5 * X[4]
    assert _cos(blend, X[[2, 4]].mean(axis=0)) > max(_cos(blend, x) for x in X) + 1e-3
    assert naming.describe(blend.astype(dtype), X)[0] == ("metastable", (2, 4))


def test_mixtures_negations_and_ties():
    rng = np.random.default_rng(3)
    xi = rng.choice([-1.0, 1.0], (7, 300))
    mix = np.sign(xi[1] + xi[3] - xi[6])
    keys, _ = naming.describe(np.stack([mix, -xi[5], -mix]), xi)
    assert keys[0] == ("mixture", ((1, 1), (3, 1), (6, -1)))
    assert keys[1] == ("negated", 5)
    assert keys[2] == ("mixture", ((1, -1), (3, -1), (6, 1)))
    # two identical patterns: their average is exactly each of them, a tie
    # decided for the description with fewer patterns
    twin = np.concatenate([xi, xi[:1]])
    assert naming.describe(xi[0], twin)[0] == ("pattern", 0)


def test_blocks_give_the_same_names(monkeypatch):
    rng = np.random.default_rng(4)
    X = _clusters(rng, 3, 5, 60, 0.3)
    states = np.concatenate([X.reshape(3, 5, -1).mean(axis=1), X, rng.normal(size=(4, 60))])
    whole = naming.describe(states, X)
    monkeypatch.setattr(naming, "BLOCK", 3)
    parts = naming.describe(states, X)
    assert whole[0] == parts[0]
    np.testing.assert_allclose(whole[1], parts[1], rtol=1e-14)  # BLAS may sum a block in another order


def test_names_say_which_members():
    assert hd.attractor_name({"kind": "metastable", "patterns": [0, 1, 2, 3]}, "X") == "avg of X[0..3]"
    assert hd.attractor_name({"kind": "metastable", "patterns": [4, 0, 7, 5, 6]}, "X") == "avg of X[0,4..7]"
    assert (
        hd.attractor_name({"kind": "mixture", "patterns": [0, 2, 4], "signs": [1, -1, 1]}, "X") == "mix X[0]−X[2]+X[4]"
    )
    assert hd.attractor_name({"kind": "negated", "pattern": 3}, "Xi") == "−Xi[3]"
    assert hd.attractor_name({"kind": "other", "label": 7}) == "other 7"


def _modern_fixed_point(X, beta, v):
    """v <- X^T softmax(beta X v), iterated in plain numpy to its fixed point."""
    for _ in range(20000):
        z = beta * X @ v
        w = np.exp(z - z.max())
        new = X.T @ (w / w.sum())
        if np.max(np.abs(new - v)) < 1e-12:
            break
        v = new
    return v


def test_modern_network_at_moderate_beta_ends_at_cluster_averages():
    """40 patterns in 4 clusters of 10 (the issue's example): at a beta
    between the global and the cluster regimes every attractor is the average
    of one cluster, and basins names each one by its cluster's members."""
    rng = np.random.default_rng(5)
    n = 32
    X = _clusters(rng, 4, 10, n, 0.3)
    X *= 6.0 / np.linalg.norm(X, axis=1, keepdims=True)

    def critical(P):  # 1 / the largest eigenvalue of the patterns' covariance
        k = len(P)
        return 1 / np.linalg.eigvalsh(P.T @ (np.eye(k) / k - np.ones((k, k)) / k**2) @ P).max()

    inner = min(critical(X[10 * c : 10 * c + 10]) for c in range(4))
    beta = 0.25 * inner
    assert beta > 2 * critical(X)  # past the global average, inside the cluster regime
    points = [_modern_fixed_point(X, beta, X[10 * c : 10 * c + 10].mean(axis=0)) for c in range(4)]
    for c, p in enumerate(points):  # the reference fixed points: cluster averages, not members
        assert max(_cos(p, x) for x in X) < 0.99
        assert _cos(p, X[10 * c : 10 * c + 10].mean(axis=0)) > 0.999
    net = hd.Network(
        {"v": hd.Neuron((n,), hd.Identity())},
        [hd.Exponential(("v",), X.astype(np.float32), beta=float(beta), logsumexp=True)],
    )
    starts = np.concatenate([X[10 * c : 10 * c + 10][:4] + 0.2 * rng.normal(size=(4, n)) for c in range(4)])
    b = hd.basins(net, starts, layer="v", patterns=X, pattern_name="X", settings=hd.SolveSettings(t1=500.0))
    kinds = {(a["kind"], tuple(a.get("patterns", []))) for a in b.attractors}
    assert kinds == {("metastable", tuple(range(10 * c, 10 * c + 10))) for c in range(4)}
    ends = b.arrays["xhat_end/v"]
    for i, lab in enumerate(b.labels):
        c = b.attractors[lab]["patterns"][0] // 10
        assert _cos(ends[i], points[c]) > 0.9999


def _study(n_patterns, n_averages, values=4):
    """A continuation report with ``2 n_patterns + n_averages`` attractors, as
    ``continuation.json`` holds it."""
    atts = [{"kind": "pattern", "pattern": j} for j in range(n_patterns)]
    atts += [{"kind": "negated", "pattern": j} for j in range(n_patterns)]
    atts += [{"kind": "metastable", "patterns": list(range(4 * c, 4 * c + 4))} for c in range(n_averages)]
    for i, a in enumerate(atts):
        a["id"] = i
    n = len(atts)
    share = [1.0 / n] * n
    return {
        "parameter": "beta",
        "patterns": "X",
        "values": [0.1 * (v + 1) for v in range(values)],
        "attractors": atts,
        "fractions": [share] * values,
        "intervals": [[[0.0, 2.0 / n]] * n] * values,
        "energies": [[-float(i) for i in range(n)]] * values,
        "energy_ranges": [[[-float(i) - 0.1, -float(i) + 0.1] for i in range(n)]] * values,
        "undecided": [0] * values,
        "samples": [100] * values,
    }


def _legend_texts(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


@pytest.mark.parametrize("n_patterns, n_averages", [(10, 3), (20, 4)])
def test_continuation_figures_colour_and_name_every_attractor(n_patterns, n_averages):
    from matplotlib.colors import to_hex

    from hopdyn.figures import plots
    from hopdyn.figures.colours import LEGEND_MOST

    r = _study(n_patterns, n_averages)
    n = len(r["attractors"])
    assert n >= 23
    k = n if n <= LEGEND_MOST else LEGEND_MOST - 1  # drawn one by one; the rest pooled and counted
    fig = plots.continuation_fractions_figure(r, "study")
    bands = [c for c in fig.axes[0].collections if c.get_array() is None and len(c.get_facecolor())]
    colours = [to_hex(b.get_facecolor()[0]) for b in bands[:k]]
    assert len(set(colours)) == k  # one colour per attractor
    shown = plots._shown(r)
    for i, c in zip(shown, colours):  # the hue says the kind: patterns blue (B > R), negations orange (R > B)
        red, blue = int(c[1:3], 16), int(c[5:7], 16)
        assert {"pattern": blue > red, "negated": red > blue, "metastable": True}[r["attractors"][i]["kind"]]
    texts = _legend_texts(fig)
    names = plots._continuation_names(r)
    if n <= LEGEND_MOST:
        assert sorted(texts) == sorted(names)
    else:
        assert len(texts) == LEGEND_MOST and texts[0] == f"+{n - k} more (in continuation.json)"
        assert len(bands) == k + 1  # the pooled band
    assert "avg of X[0..3]" in names and "avg of X[4..7]" in names
    # the energies figure gives each attractor the same colour and the same legend
    energy = plots.continuation_energies_figure(r, "study")
    lines = [to_hex(line.get_color()) for line in energy.axes[0].lines if line.get_marker() == "o"]
    assert [lines[i] for i in shown] == colours
    assert sorted(_legend_texts(energy)) == sorted(texts)


def test_the_settings_objects_check_their_fields_like_the_schema():
    """``basins`` takes ``Naming`` and ``Chunking`` (as Diffrax takes
    ``SaveAt``), each checked where it is made with the schema's bounds."""
    for make, field in (
        (lambda: hd.Naming(overlap=1.5), "Naming.overlap"),
        (lambda: hd.Naming(cluster=0.0), "Naming.cluster"),
        (lambda: hd.Naming(mixtures=11), "Naming.mixtures"),
        (lambda: hd.Naming(overlap=True), "Naming.overlap"),
        (lambda: hd.Chunking(size=0), "Chunking.size"),
        (lambda: hd.Chunking(size=2.5), "Chunking.size"),
    ):
        with pytest.raises(hd.AnalysisError) as e:
            make()
        assert e.value.where == field, (e.value, field)
    assert hd.Chunking(8, "f").folder == "f" and hd.Naming().overlap == 0.95
    from hopdyn.scenario.schema import scenario_model

    basins = scenario_model().model_json_schema()["$defs"]["BasinsSpec"]["properties"]
    assert basins["overlap"]["default"] == hd.Naming().overlap and basins["mixtures"]["maximum"] == 9
