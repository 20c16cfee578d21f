"""Intervals on every fraction: Wilson's score interval against scipy's, its
coverage, the bootstrap interval of a mean against the normal theory, and the
intervals in basins and capacity reports."""

import numpy as np
import pytest
from scipy.stats import binomtest

import hopdyn as hd
from hopdyn.analysis.stats import bootstrap_mean, wilson


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (3, 200), (150, 200), (1, 1)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(wilson(k, n), (ci.low, ci.high), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_wilson_covers_about_95_percent(p):
    gen = np.random.default_rng(7)
    n, draws = 60, 4000
    ks = gen.binomial(n, p, size=draws)
    covered = np.mean([lo <= p <= hi for lo, hi in (wilson(int(k), n) for k in ks)])
    assert 0.92 <= covered <= 0.98, covered


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 40)
    assert lo == 0.0 and 0 < hi < 0.1
    lo, hi = wilson(40, 40)
    assert hi == 1.0 and 0.9 < lo < 1


def test_bootstrap_interval_of_a_mean_matches_the_normal_theory():
    gen = np.random.default_rng(3)
    v = gen.normal(2.0, 1.0, size=400)
    lo, hi = bootstrap_mean(v, seed=1)
    half = 1.959964 * v.std(ddof=1) / np.sqrt(v.size)
    assert lo < v.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_mean(v, seed=1) == [lo, hi]  # seeded: reproducible
    assert bootstrap_mean([0.0, 0.0, 0.0]) == [0.0, 0.0]


def test_basins_and_retrieval_report_wilson_intervals():
    net = hd.Network({"s": hd.Neuron(2, hd.Tanh(2.0))}, [hd.Dense(("s", "s"), np.array([[0.0, 1.0], [1.0, 0.0]]))])
    starts = {"s": np.random.default_rng(2).normal(size=(64, 2))}
    b = hd.basins(net, starts, layer="s", settings=hd.SolveSettings(t1=50.0, dtype="float64"))
    r = b.report
    labels = b.labels
    for lab, frac in r["fractions"].items():
        lo, hi = r["fraction_intervals"][lab]
        assert lo <= frac <= hi
        k = int(np.sum(labels == int(lab)))
        assert (lo, hi) == wilson(k, len(labels))
    assert "Wilson" in r["interval_method"]


def test_capacity_reports_intervals_over_starts():
    settings = hd.SolveSettings(method="tsit5", t1=30.0, rtol=1e-5, atol=1e-7, dtype="float64")
    c = hd.capacity("hebbian", 60, [0.1, 0.3], trials=8, settings=settings, seed=2)
    for n, f, iv in zip(c["starts"], c["retrieved"], c["retrieved_interval"]):
        assert iv[0] <= f <= iv[1] and tuple(iv) == wilson(round(f * n), n)
    for e, iv in zip(c["bit_error"], c["bit_error_interval"]):
        assert iv[0] <= e + 1e-15 and e <= iv[1] + 1e-15
    assert c["starts"] == [8, 8] and c["realisations"] == [2, 1]  # K = 6: a second pattern set


def test_capacity_draws_fresh_pattern_sets_beyond_K():
    """trials > K: every start counted, from ceil(trials / K) independent pattern
    sets (the first being the one set a smaller study draws); checked against a
    plain-numpy replay of one synchronous update from each set's patterns
    (N even and K odd: no local field is ever 0, so no tie to break)."""
    from math import erfc, sqrt

    from hopdyn.core import patterns as P

    N, Ks, trials, seed = 100, [3, 7, 11], 30, 4
    settings = hd.SolveSettings(method="sync", max_sweeps=1, dtype="float64")
    c = hd.capacity(
        "hebbian", N, [K / N for K in Ks], trials=trials, flip=0.0, overlap=0.99, settings=settings, seed=seed
    )
    assert c["starts"] == [trials] * 3 and c["realisations"] == [10, 5, 3]
    for i, K in enumerate(Ks):
        errors, per_set = [], []
        for r in range(c["realisations"][i]):
            tag = "" if r == 0 else f":set{r}"
            xi = P.random_patterns(P.rng(seed, f"capacity:hebbian:{K}{tag}"), "binary", (K, N))
            W = xi.T @ xi / N
            np.fill_diagonal(W, 0.0)
            tested = xi[: min(K, trials - len(errors))]
            e = np.mean(np.sign(tested @ W) != tested, axis=1)
            errors += e.tolist()
            per_set.append(e.mean())
        assert c["bit_error"][i] == pytest.approx(np.mean(errors), abs=1e-12)
        assert c["bit_error_sets_sd"][i] == pytest.approx(np.std(per_set, ddof=1), abs=1e-12)
        assert c["one_step_theory"][i] == pytest.approx(0.5 * erfc(sqrt(N / K) / sqrt(2)))
    # the first set of a larger study is the one set of a smaller one
    one = hd.capacity("hebbian", N, [Ks[1] / N], trials=Ks[1], flip=0.0, overlap=0.99, settings=settings, seed=seed)
    assert one["realisations"] == [1] and one["bit_error_sets_sd"] == [None]
    xi = P.random_patterns(P.rng(seed, f"capacity:hebbian:{Ks[1]}"), "binary", (Ks[1], N))
    W = xi.T @ xi / N
    np.fill_diagonal(W, 0.0)
    assert one["bit_error"][0] == pytest.approx(np.mean(np.sign(xi @ W) != xi), abs=1e-12)


def test_basin_radius_is_where_retrieval_falls_below_one_half():
    from hopdyn.analysis.basins import basin_radius

    levels = [0.0, 0.1, 0.2, 0.3]
    wins = {0: [4, 3, 1, 0], 1: [4, 4, 4, 4], 2: [1, 0, 0, 0]}  # successes of 4 starts per level
    ok, source, level = [], [], []
    for pat, ks in wins.items():
        for lv, k in zip(levels, ks):
            ok += [True] * k + [False] * (4 - k)
            source += [pat] * 4
            level += [lv] * 4
    r = basin_radius(np.array(ok), np.array(source), np.array(level))
    assert r["patterns"] == [0, 1, 2]
    assert r["radius"][0] == pytest.approx(0.1 + (0.75 - 0.5) * 0.1 / (0.75 - 0.25))  # 0.15
    assert r["radius"][1] == 0.3 and r["censored"][1] is True  # never fell below 1/2: a lower bound
    assert r["radius"][2] is None  # below 1/2 from the smallest level on
    lo, hi = r["interval"][0]
    assert (lo is None or lo <= 0.15) and 0.15 <= hi


def test_finite_size_crossing_of_known_curves():
    """Retrieval curves p_N(a) = 1 / (1 + exp((a - a_c) sqrt(N) / w)) cross
    exactly at a_c for every N; with counts drawn from them the estimate lands
    near a_c and its bootstrap interval covers it."""
    from hopdyn.analysis.capacity import finite_size

    a_c, w, loads, Ns, n = 0.138, 0.5, np.linspace(0.10, 0.18, 9), [250, 500, 1000, 2000], 4000
    rng = np.random.default_rng(1)

    def curve(N):
        return 1 / (1 + np.exp((loads - a_c) * np.sqrt(N) / w))

    exact = [{"loads": loads.tolist(), "retrieved": curve(N).tolist(), "starts": [n] * 9} for N in Ns]
    fs = finite_size(exact, Ns)
    # linear interpolation between loads 0.01 apart: within a fraction of the spacing
    assert fs["estimate"] == pytest.approx(a_c, abs=0.002)
    assert all(c["load"] == pytest.approx(a_c, abs=0.002) for c in fs["crossings"])
    noisy = [{**s, "retrieved": (rng.binomial(n, curve(N)) / n).tolist()} for s, N in zip(exact, Ns)]
    fs = finite_size(noisy, Ns)
    lo, hi = fs["interval"]
    assert lo < a_c < hi and hi - lo < 0.02 and fs["estimate"] == pytest.approx(a_c, abs=0.005)
    # curves that do not cross: no estimate, not a made-up one
    flat = [{**s, "retrieved": [1.0] * 9} for s in exact]
    assert finite_size(flat, Ns)["estimate"] is None
