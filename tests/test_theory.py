"""``hd.theory`` against independent computations (issue 32): scipy's
quadrature and root finding on the papers' original equations, a Monte Carlo
replay in plain numpy, and the published values."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import hopdyn as hd

T = hd.theory


@pytest.mark.parametrize("kappa", [0.0, 0.3, 1.0, 2.5])
def test_gardner_capacity_is_the_integral(kappa):
    integral, _ = integrate.quad(lambda t: stats.norm.pdf(t) * (t + kappa) ** 2, -kappa, np.inf)
    assert T.gardner_capacity(kappa) == pytest.approx(1.0 / integral, rel=1e-9)
    published = {0.0: 2.0, 0.5: 0.961, 1.0: 0.520}  # VALIDATION.md item 13
    for k, v in published.items():
        assert T.gardner_capacity(k) == pytest.approx(v, abs=6e-4)


def _ags_original(alpha):
    """AGS (1987) at T = 0, the three equations as published, solved by scipy from m = 1."""

    def eqs(v):
        m, C, r = v
        return [
            m - math.erf(m / math.sqrt(2 * alpha * r)),
            C - math.sqrt(2 / (math.pi * alpha * r)) * math.exp(-(m**2) / (2 * alpha * r)),
            r - 1 / (1 - C) ** 2,
        ]

    m, C, r = optimize.fsolve(eqs, [1.0, 0.01, 1.02], xtol=1e-13)
    assert max(abs(e) for e in eqs([m, C, r])) < 1e-10
    return m


@pytest.mark.parametrize("alpha", [0.02, 0.08, 0.12, 0.135])
def test_ags_overlap_solves_the_published_equations(alpha):
    assert T.ags_overlap(alpha) == pytest.approx(_ags_original(alpha), abs=1e-8)


def test_ags_critical_load_and_overlap_are_the_published_ones():
    assert 0.1375 < T.AGS_CRITICAL_LOAD < 0.1385  # alpha_c = 0.138 (AGS 1987; 0.1379 in later work)
    assert T.ags_overlap(T.AGS_CRITICAL_LOAD - 1e-7) == pytest.approx(0.967, abs=0.003)  # m at alpha_c
    assert T.ags_overlap(T.AGS_CRITICAL_LOAD + 1e-4) == 0.0


def test_one_step_error_is_what_a_hebbian_network_does():
    """A Monte Carlo replay in numpy: one synchronous update from each stored
    pattern of N = 200 units and K = 40 patterns, 25 pattern sets."""
    N, K, sets = 200, 40, 25
    rng = np.random.default_rng(0)
    flips = 0
    for _ in range(sets):
        X = rng.choice([-1.0, 1.0], (K, N))
        W = X.T @ X / N
        np.fill_diagonal(W, 0.0)
        flips += int(np.sum(np.sign(X @ W) != X))
    n = N * K * sets
    p = T.one_step_error(N, K)
    assert abs(flips / n - p) < 4 * math.sqrt(p * (1 - p) / n), (flips / n, p)


def test_the_capacities_are_the_papers_formulas():
    N = 500
    assert T.mceliece(N) == pytest.approx(N / (2 * math.log(N)))
    assert T.mceliece(N, every_pattern=True) == pytest.approx(N / (4 * math.log(N)))
    assert T.polynomial_capacity(N, 2) == pytest.approx(T.mceliece(N))  # Krotov-Hopfield at n = 2 is McEliece
    assert T.polynomial_capacity(N, 3) == pytest.approx(N**2 / (2 * 3 * math.log(N)))  # (2n-3)!! = 3
    assert T.polynomial_capacity(N, 4) == pytest.approx(N**3 / (2 * 15 * math.log(N)))  # 5!! = 15
    assert T.exponential_capacity(40) == pytest.approx(2.0**20)
    x = 0.8  # rho = 0.1
    info = 0.5 * ((1 + x) * math.log(1 + x) + (1 - x) * math.log(1 - x))
    assert T.exponential_capacity(40, 0.1) == pytest.approx(math.exp(40 * info / 2))
    assert T.PSEUDO_INVERSE_CAPACITY == 1.0
    assert T.storkey_capacity(N) == pytest.approx(N / math.sqrt(2 * math.log(N)))
    assert T.storkey_capacity(N) > T.mceliece(N)


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda: T.gardner_capacity(-1), "kappa"),
        (lambda: T.ags_overlap(0), "alpha"),
        (lambda: T.one_step_error(1, 3), "N"),
        (lambda: T.exponential_capacity(10, 0.5), "rho"),
        (lambda: T.polynomial_capacity(100, "two"), "n"),
    ],
)
def test_bad_arguments_name_themselves(call, argument):
    with pytest.raises(hd.AnalysisError) as e:
        call()
    assert e.value.location == (argument,)


def test_every_capacity_study_reports_and_draws_its_bound():
    """``theory`` beside the measurement for each family, from the papers'
    formulas written here; the figure draws it (or says it is off the axis)."""
    import math

    from hopdyn.figures.capacity import capacity_figure

    s = hd.SolveSettings(method="async", max_sweeps=5)
    heb = hd.capacity("hebbian", 32, [0.1, 0.2], trials=3, settings=s)
    assert heb["theory"]["critical_load"] == pytest.approx(0.1379, abs=5e-5)
    labels = [t.get_text() for t in capacity_figure(heb, "t").axes[0].get_legend().get_texts()]
    assert any(lab.startswith("theory 0.138: Amit") for lab in labels), labels
    d = hd.SolveSettings(method="dense_async", max_sweeps=5)
    poly = hd.capacity("polynomial", [16, 24], [0.05], n=3, load_power=2, trials=2, flip=0.0, settings=d)
    for N, ser in zip([16, 24], poly["series"]):  # N^(n-1) / (2 (2n-3)!! ln N) / N^2 with 3!! = 3
        assert ser["theory"]["critical_load"] == pytest.approx(1 / (6 * math.log(N)), rel=1e-12)
    ex = hd.capacity("exponential", 16, [0.5], flip=0.1, trials=2, settings=d)
    info = 0.5 * (1.8 * math.log(1.8) + 0.2 * math.log(0.2))  # I(1 - 2 rho) at rho = 0.1
    assert ex["theory"]["critical_load"] == pytest.approx(math.exp(16 * info / 2) / 16, rel=1e-12)
    labels = [t.get_text() for t in capacity_figure(ex, "t").axes[0].get_legend().get_texts()]
    assert any("beyond the loads tested" in lab for lab in labels), labels
