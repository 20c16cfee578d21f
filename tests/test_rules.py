"""Learning rules beyond Hebb (issue 32): each rule's weights against a plain
numpy implementation written from the paper's formula (loops, no shared code),
the property each rule is known for, and the rules from YAML and under the
discrete rules."""

import jax
import numpy as np
import pytest

import hopdyn as hd
from hopdyn.cli import main

jax.config.update("jax_enable_x64", True)


def patterns(K, N, seed=0):
    return np.random.default_rng(seed).choice([-1.0, 1.0], (K, N))


# ------------------------------------------------------------------ references, from the papers
def storkey_reference(X):
    """Storkey (1997), eq. for w_ij^nu with h_ij^nu = sum_{k != i, j} w_ik^(nu-1) xi_k^nu."""
    K, n = X.shape
    W = np.zeros((n, n))
    for p in X:
        new = W.copy()
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                h_ij = sum(W[i, k] * p[k] for k in range(n) if k not in (i, j))
                h_ji = sum(W[j, k] * p[k] for k in range(n) if k not in (i, j))
                new[i, j] = W[i, j] + (p[i] * p[j] - p[i] * h_ji - h_ij * p[j]) / n
        W = new
    return W


def pseudo_inverse_reference(X, keep_diagonal):
    """Kanter & Sompolinsky (1987): W = (1/N) sum_{mu nu} xi^mu (C^-1)_{mu nu} xi^nu, C = Xi Xi^T / N."""
    K, n = X.shape
    C = X @ X.T / n
    W = X.T @ np.linalg.inv(C) @ X / n
    if not keep_diagonal:
        np.fill_diagonal(W, 0.0)
    return W


def perceptron_reference(X, kappa, rate, epochs, symmetric):
    """Perceptron learning with margin kappa, one pattern at a time."""
    K, n = X.shape
    W = np.zeros((n, n))

    def gammas(W, p):
        out = np.zeros(n)
        for i in range(n):
            norm = np.sqrt(np.sum(W[i] ** 2))
            out[i] = p[i] * (W[i] @ p) / norm if norm > 0 else 0.0
        return out

    for _ in range(epochs):
        if all(np.all(gammas(W, p) > kappa) for p in X):
            break
        for p in X:
            unstable = gammas(W, p) <= kappa
            dW = np.zeros((n, n))
            for i in range(n):
                for j in range(n):
                    if i == j:
                        continue
                    steps = int(unstable[i]) + (int(unstable[j]) if symmetric else 0)
                    dW[i, j] = rate / n * steps * p[i] * p[j]
            W = W + dW
    return W


def test_storkey_weights_are_the_papers():
    X = patterns(4, 12)
    np.testing.assert_allclose(np.asarray(hd.Storkey(("s",), X).weights), storkey_reference(X), atol=1e-12)


@pytest.mark.parametrize("keep_diagonal", [False, True])
def test_pseudo_inverse_weights_are_the_papers(keep_diagonal):
    X = patterns(6, 20, seed=1)
    W = np.asarray(hd.PseudoInverse(("s",), X, keep_diagonal=keep_diagonal).weights)
    np.testing.assert_allclose(W, pseudo_inverse_reference(X, keep_diagonal), atol=1e-10)
    if keep_diagonal:  # the exact projection: every pattern is mapped onto itself
        np.testing.assert_allclose(W @ X.T, X.T, atol=1e-10)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("kappa", [0.0, 0.4])
def test_perceptron_weights_are_the_rules(symmetric, kappa):
    X = patterns(6, 16, seed=2)  # rate/N = 1/32: every field is exact, so a zero stability is zero in both
    cls = hd.Perceptron if symmetric else hd.DirectedPerceptron
    syn = cls(("s",) if symmetric else ("s", "s"), X, kappa=kappa, rate=0.5, epochs=60)
    ref = perceptron_reference(X, kappa, 0.5, 60, symmetric)
    np.testing.assert_allclose(np.asarray(syn.weights), ref, atol=1e-10)
    W = np.asarray(syn.weights)
    assert np.allclose(W, W.T) == symmetric
    # converged: every stability above the margin (as computed independently here)
    g = X * (X @ W.T) / np.sqrt((W**2).sum(axis=1))
    assert g.min() > kappa


def test_the_rules_store_what_hebb_cannot():
    """At load 0.6 (well above Hebb's 0.138) perceptron learning and the
    pseudo-inverse make every pattern a fixed point; Hebb's rule does not."""
    N, K = 60, 36
    X = patterns(K, N, seed=3)

    def fixed(W):
        return float(np.mean(np.all(np.sign(X @ W.T) == X, axis=1)))

    hebb = np.asarray(hd.Hebbian(("s",), X).weights())
    assert fixed(hebb) < 0.2
    assert fixed(np.asarray(hd.PseudoInverse(("s",), X).weights)) == 1.0
    assert fixed(np.asarray(hd.Perceptron(("s",), X, epochs=2000).weights)) == 1.0
    assert fixed(np.asarray(hd.DirectedPerceptron(("s", "s"), X, epochs=2000).weights)) == 1.0
    # Storkey beyond Hebb at a load where Hebb already fails
    K2 = 12
    X2 = X[:K2]
    hebb2 = np.mean(np.sign(X2 @ np.asarray(hd.Hebbian(("s",), X2).weights()).T) == X2)
    storkey2 = np.mean(np.sign(X2 @ np.asarray(hd.Storkey(("s",), X2).weights).T) == X2)
    assert storkey2 >= hebb2


def test_rules_run_under_the_ode_and_the_discrete_rules():
    N = 40
    X = patterns(5, N, seed=4)
    start = X[2].copy()
    start[:4] *= -1  # 10% of the signs flipped
    # kappa = 1: a wide margin (at kappa = 0.3 random update orders leave a 10% flip in spurious states half the time)
    for syn in (hd.Storkey(("s",), X), hd.PseudoInverse(("s",), X), hd.Perceptron(("s",), X, kappa=1.0)):
        net = hd.Network({"s": hd.Neuron(N, hd.Tanh(8.0))}, [syn])
        ode = hd.simulate(net, {"s": start}, t1=200.0, dtype="float64")
        assert ode.descends and np.array_equal(np.sign(np.asarray(ode.final_state["s"])), X[2]), syn.kind
        rule = hd.simulate(net, {"s": start}, method="async", max_sweeps=10, dtype="float64")
        assert np.array_equal(np.sign(np.asarray(rule.final_state["s"])), X[2])
    directed = hd.Network({"s": hd.Neuron(N, hd.Tanh(8.0))}, [hd.DirectedPerceptron(("s", "s"), X)])
    assert not directed.is_gradient
    with pytest.raises(hd.SettingsError, match="directed"):
        hd.simulate(directed, {"s": start}, method="async")


def test_rules_from_yaml_and_their_arguments_checked(tmp_path, capsys):
    text = """\
name: rules
seed: 0
patterns:
  X: {random: {distribution: binary, shape: [8, 32]}}
neurons:
  s: {shape: [32], lagrangian: {type: tanh, beta: 8.0}}
synapses:
  - {type: perceptron, connects: [s], patterns: X, kappa: 0.5, epochs: 500}
initial:
  s: {pattern: X, index: 3, corrupt: {flip: 0.1}}
solver: {t1: 100.0}
outputs: {readout: {layer: s, patterns: X}}
"""
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "-q", "--no-plots"]) == 0
    path.write_text(text.replace("kappa: 0.5", "kappa: -1"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "synapses[0].kappa" in err[0], err
    with pytest.raises(hd.NetworkError, match="kappa"):
        hd.Perceptron(("s",), patterns(3, 8), kappa=-0.5)


def test_capacity_studies_of_the_rules_meet_the_published_claims():
    """hd.capacity with binary units (async), starts on the patterns: the
    fraction that stay fixed points.  Small N here; the shipped studies
    (N = 200) are read below."""
    s = hd.SolveSettings(method="async", max_sweeps=10, dtype="float64")

    def fixed(family, load, **kw):
        c = hd.capacity(family, 64, [load], flip=0.0, trials=24, settings=s, **kw)
        return c["exact"][0], c.get("theory")

    assert fixed("hebbian", 0.3)[0] < 0.5  # Hebb has lost its patterns well below 0.3
    assert fixed("storkey", 0.2)[0] == 1.0  # Storkey holds them beyond Hebb's 0.138
    pinv, theory = fixed("pseudo_inverse", 0.9)
    assert pinv == 1.0 and theory["critical_load"] == 1.0  # every pattern below alpha = 1
    perc, theory = fixed("perceptron", 1.0, kappa=0.0)
    assert perc == 1.0 and theory["critical_load"] == pytest.approx(2.0)  # far beyond Hebb, below Gardner's 2


def test_the_shipped_rule_studies_and_the_validation_page_agree():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cap = {
        n: json.loads((root / "plots" / f"capacity-rules-{n}" / "basins.json").read_text())["capacity"]
        for n in ("storkey", "pseudo-inverse", "perceptron")
    }
    assert all(e == 1.0 for e in cap["pseudo-inverse"]["exact"])  # up to load 0.95
    assert max(cap["pseudo-inverse"]["loads"]) == 0.95
    assert all(e == 1.0 for e in cap["perceptron"]["exact"]) and max(cap["perceptron"]["loads"]) == 1.2
    st = cap["storkey"]
    last_all = max(lo for lo, e in zip(st["loads"], st["exact"]) if e == 1.0)
    page = (root / "docs" / "validation.md").read_text()
    assert f"every pattern stays a fixed point up to load {last_all:g}" in page
    assert f"reaches 1% at load {st['critical_load']:.2f}" in page
    assert f"`N / sqrt(2 ln N) / N = {st['theory']['critical_load']:.2f}`" in page
    assert f"`N / (2 ln N) / N = {hd.theory.mceliece(200) / 200:.3f}`" in page
    h = -(0.6 * np.log(0.6) + 0.4 * np.log(0.4))  # item 16's straight boundary (tests/test_geometry.py)
    assert f"`S_bb = {h:.3f} < ln 2`" in page


# ------------------------------------------------------------------ the rules side by side
def test_the_radius_is_where_retrieval_falls_to_one_half():
    """Worked by hand: retrieved 8/8, 6/8, 2/8 at 10%, 20%, 30% flipped; the
    fraction falls through 1/2 between 20% and 30%, at 0.2 + 0.1 (0.75 - 0.5) / (0.75 - 0.25) = 0.25.
    The interval ends come from Wilson bounds written here from the formula."""
    from hopdyn.analysis.stats import radius_of

    levels = [0.1, 0.2, 0.3]
    groups = [np.ones(8, bool), np.arange(8) < 6, np.arange(8) < 2]
    radius, (low, high), censored = radius_of(levels, groups)
    assert radius == pytest.approx(0.25) and censored is False

    def wilson(k, n, z=1.959963984540054):
        p = k / n
        c, h = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (c - h) / (1 + z * z / n), (c + h) / (1 + z * z / n)

    lows = [wilson(k, 8)[0] for k in (8, 6, 2)]  # 0.676, 0.409, 0.071: below 1/2 from 20% on
    assert lows[0] > 0.5 > lows[1]
    assert low == pytest.approx(0.1 + 0.1 * (lows[0] - 0.5) / (lows[0] - lows[1]))
    highs = [wilson(k, 8)[1] for k in (8, 6, 2)]  # 1, 0.93, 0.59: never below 1/2 (censored upper end)
    assert high == pytest.approx(0.3) and min(highs) > 0.5
    assert radius_of(levels, [np.zeros(8, bool)] * 3)[0] is None  # no basin at the smallest level
    assert radius_of(levels, [np.ones(8, bool)] * 3)[::2] == (0.3, True)  # at least the largest


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"family": "bogus"}, "family"),
        ({"loads": [-0.1]}, "loads[0]"),
        ({"loads": []}, "loads"),
        ({"N": [64, 1]}, "N[1]"),
        ({"flips": [0.2, 0.1]}, "flips"),
        ({"flips": [0.1, 0.7]}, "flips[1]"),
        ({"trials": 0}, "trials"),
        ({"settings": "async"}, "settings"),
    ],
)
def test_capacity_checks_its_arguments_as_the_schema_does(kwargs, argument):
    args = {"family": "hebbian", "N": 64, "loads": [0.1], **kwargs}
    with pytest.raises(hd.AnalysisError) as e:
        hd.capacity(**args)
    assert str(e.value).startswith(argument + ":") and "\n" not in str(e.value)


def test_compare_rules_counts_the_fixed_points_a_numpy_check_finds():
    """Each rule's fixed-point fraction against a plain numpy test of
    ``sign(W xi) == xi`` on the same patterns, with the weights from the
    papers' formulas (above); the pseudo-inverse keeps every pattern at load
    0.5, Hebb none; retrieval cannot grow with corruption."""
    from hopdyn.core import patterns as P

    s = hd.SolveSettings(method="async", max_sweeps=10, dtype="float64")
    N, loads = 48, [0.1, 0.5]
    rep = hd.compare_rules(["hebbian", "pseudo_inverse"], N, loads, flips=[0.05, 0.2, 0.4], trials=12, settings=s)
    assert [r["label"] for r in rep["rules"]] == ["hebbian", "pseudo_inverse"]
    for r in rep["rules"]:
        for load, fixed in zip(loads, r["fixed"]):
            K = round(load * N)
            xi = P.random_patterns(P.rng(0, f"capacity:{r['family']}:{K}"), "binary", (K, N))
            if r["family"] == "hebbian":
                W = xi.T @ xi / N
                np.fill_diagonal(W, 0.0)
            else:
                W = pseudo_inverse_reference(xi, keep_diagonal=False)
            tested = xi[: min(12, K)]
            assert fixed == pytest.approx(np.mean(np.all(np.sign(tested @ W) == tested, axis=1)))
    hebb, pinv = rep["rules"]
    assert pinv["fixed"] == [1.0, 1.0] and hebb["fixed"][1] == 0.0
    assert pinv["theory"]["critical_load"] == 1.0 and hebb["theory"]["critical_load"] == pytest.approx(0.1379, abs=1e-4)
    assert pinv["radius"][0] is not None and pinv["radius"][0] > 0.05


def test_the_rules_section_from_yaml(tmp_path, capsys):
    """A ``rules:`` section runs under ``hopdyn basins`` (basins.json,
    rules.png); a bad one is one line naming the key, before any work."""
    import json

    text = """\
name: rules-small
patterns: {X: {random: {distribution: binary, shape: [4, 32]}}}
neurons: {s: {shape: [32], lagrangian: {type: tanh, beta: 10.0}}}
synapses: [{type: hebbian, connects: [s], patterns: X}]
solver: {method: async, max_sweeps: 10}
rules: {rules: [hebbian, perceptron], kappas: [0.0, 0.5], N: 32, loads: [0.1, 0.3], flips: [0.1, 0.3], trials: 6}
"""
    path = tmp_path / "r.yaml"
    path.write_text(text)
    out = tmp_path / "o"
    assert main(["basins", str(path), "--out", str(out), "-q"]) == 0
    rep = json.loads((out / "basins.json").read_text())["rules"]
    assert [r["label"] for r in rep["rules"]] == ["hebbian", "perceptron κ=0", "perceptron κ=0.5"]
    assert rep["rules"][2]["theory"]["critical_load"] == pytest.approx(hd.theory.gardner_capacity(0.5))
    assert (out / "rules.png").stat().st_size > 10_000
    for bad, key in (
        ("flips: [0.1, 0.3]", "flips: [0.3, 0.1]"),
        ("rules: [hebbian, perceptron]", "rules: [hebbian, hebbian]"),
        ("rules: [hebbian, perceptron]", "rules: [hebbian, polynomial]"),
    ):
        path.write_text(text.replace(*(bad, key)))
        assert main(["basins", str(path), "--out", str(tmp_path / "bad"), "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("rules.rules" in err[0] or "rules.flips" in err[0]), err
        assert not (tmp_path / "bad").exists()


def test_the_shipped_rule_comparison_and_the_validation_page_agree():
    """Items 13-15's sentences about ``rules-comparison`` read from its basins.json."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rep = json.loads((root / "plots" / "rules-comparison" / "basins.json").read_text())["rules"]
    rule = {r["label"]: r for r in rep["rules"]}
    page = " ".join((root / "docs" / "validation.md").read_text().split())

    def radius(label, load):
        return rule[label]["radius"][rule[label]["loads"].index(load)]

    pinv = rule["pseudo_inverse"]
    assert all(f == 1.0 for f in pinv["fixed"])  # every pattern a fixed point at every load
    assert (
        f"falls from {radius('pseudo_inverse', 0.05):.2f} at load 0.05 to {radius('pseudo_inverse', 0.3):.2f}" in page
    )
    assert f"and {radius('pseudo_inverse', 0.6):.2f} at 0.6" in page
    gone = [lo for lo, x in zip(pinv["loads"], pinv["radius"]) if x is None]
    assert gone == [0.8, 0.95] and rep["flips"][0] == 0.05  # "below ... (0.05) from 0.8 on"
    r0, r5 = radius("perceptron κ=0", 0.3), radius("perceptron κ=0.5", 0.3)
    assert r5 > r0 and f"radius at load 0.3 is {r0:.2f} with `kappa = 0` and {r5:.2f} with `kappa = 0.5`" in page
    k5 = rule["perceptron κ=0.5"]
    assert f"fixed point up to load {k5['fixed_up_to']:g} and {100 * k5['fixed'][-1]:.0f}% are at 0.95" in page
    assert f"`alpha_c(0.5) = {k5['theory']['critical_load']:.3f}`" in page
    st, hb = rule["storkey"], rule["hebbian"]
    assert f"up to load {st['fixed_up_to']:g} where Hebb's keeps them only up to {hb['fixed_up_to']:g}" in page
    assert f"(radius {radius('storkey', 0.2):.2f} against {radius('hebbian', 0.2):.2f} at load 0.2)" in page
    assert all(
        s is None or (h is not None and s > h) or h is None for s, h in zip(st["radius"], hb["radius"]) if s is not None
    )
