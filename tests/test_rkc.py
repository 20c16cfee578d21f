"""RKC2 (Runge–Kutta–Chebyshev) and the evaluation-free stop test, against
independent references: scipy's Radau on the same equations, the stability
interval of Sommeijer, Shampine & Verwer (1997), and the ODE's order."""

import diffrax as dfx
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import hopdyn as hd
from helpers import seed000, seed000_field
from hopdyn.solvers import rkc as _rkc
from hopdyn.solvers.rkc import RKC2, stability_interval, stages_for


def _stiff_linear(n=20, lam=(0.1, 1000.0), seed=0):
    """y' = -A y + sin(t) with A symmetric, eigenvalues log-spaced over ``lam``."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.logspace(np.log10(lam[0]), np.log10(lam[1]), n)) @ q.T
    y0 = rng.normal(size=n)
    term = dfx.ODETerm(lambda t, y, _: {"y": -jnp.asarray(a) @ y["y"] + jnp.sin(t)})
    ref = lambda ts: (
        solve_ivp(
            lambda t, y: -a @ y + np.sin(t), (0, ts[-1]), y0, method="Radau", rtol=1e-12, atol=1e-12, t_eval=ts
        ).y.T
    )
    return term, {"y": jnp.asarray(y0)}, ref, lam[1]


def test_stability_interval_is_the_papers_for_their_damping():
    # Sommeijer et al.: beta(s) ~ 0.653 s^2 for eps = 2/13 (their section 2.3)
    assert stability_interval(100, 2 / 13) / 100**2 == pytest.approx(0.653, abs=0.002)
    # an undamped Chebyshev polynomial reaches 2 s^2 (2/3 of it for the second-order family)
    assert stability_interval(100, 1e-9) / 100**2 == pytest.approx(2 / 3, abs=0.002)


@pytest.mark.parametrize("eps", [2 / 13, 2.0])
def test_one_step_is_stable_exactly_on_the_interval(eps):
    """|R(h lambda)| <= 1 on [-beta(s), 0] and > 1 beyond, for the step the solver
    takes on y' = lambda y (the stage count fixed through rho).  beta(s) is where
    the Chebyshev argument reaches -1: the exact edge at Sommeijer's damping,
    a conservative one for heavier damping."""
    s = 7
    beta = stability_interval(s, eps)
    lam = -1.0
    beyond = 1.03 if eps < 1 else 1.3
    for z, stable in ((0.98 * beta, True), (0.6 * beta, True), (beyond * beta, False)):
        # rho chosen so that the solver picks exactly s stages for a step of h = z
        rho = beta / (1.2 * z) * 0.999 if stable else 0.999 * stability_interval(s, eps) / (1.2 * z)
        solver = RKC2(rho=jnp.asarray(rho), damping=eps)
        term = dfx.ODETerm(lambda t, y, _: lam * y)
        state = solver.init(term, 0.0, z, jnp.asarray(1.0), None)
        y1 = solver.step(term, 0.0, z, jnp.asarray(1.0), None, state, False)[0]
        assert int(stages_for(jnp.asarray(z * 1.2 * rho), eps, 250)) == s
        assert (abs(float(y1)) <= 1.0) == stable


def test_stages_cover_the_step():
    table = [stability_interval(s) for s in range(2, 60)]
    for hr in (0.5, 3.0, 17.0, 250.0, 1500.0):
        s = int(stages_for(jnp.asarray(hr), _rkc.DAMPING, 250))
        assert table[s - 2] >= hr and (s == 2 or table[s - 3] < hr)


def test_second_order_with_constant_steps():
    term, y0, ref, rho = _stiff_linear()
    exact = ref(np.array([5.0]))[-1]
    errs = []
    for n in (100, 200, 400):
        sol = dfx.diffeqsolve(
            term,
            RKC2(rho=jnp.asarray(rho)),
            0.0,
            5.0,
            5.0 / n,
            y0,
            stepsize_controller=dfx.ConstantStepSize(),
            max_steps=10_000,
        )
        errs.append(np.abs(np.asarray(sol.ys["y"][-1]) - exact).max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((orders > 1.7) & (orders < 2.4)), orders


def test_adaptive_solve_of_a_stiff_system_against_radau():
    """hrho up to ~10^3: Tsit5 would need ~1800 steps; RKC2 is accurate in far fewer,
    with the error falling as the tolerance does (like tol^(2/3) for order 2)."""
    term, y0, ref, rho = _stiff_linear()
    ts = np.linspace(0.5, 5.0, 10)
    exact = ref(ts)
    errs, steps = [], []
    for tol in (1e-5, 1e-7):
        sol = dfx.diffeqsolve(
            term,
            RKC2(rho=jnp.asarray(rho)),
            0.0,
            5.0,
            None,
            y0,
            saveat=dfx.SaveAt(ts=ts),
            stepsize_controller=dfx.PIDController(rtol=tol, atol=tol),
            max_steps=10_000,
        )
        errs.append(np.abs(np.asarray(sol.ys["y"]) - exact).max())  # dense output included
        steps.append(int(sol.stats["num_steps"]))
    assert errs[0] < 1e-3 and errs[1] < errs[0] / 10, errs
    assert steps[0] < 400, steps


def test_tracks_a_spectral_radius_it_was_not_told():
    """Started with rho = 1 on a system with rho = 1000, the power iteration
    catches up: the answer is right and few steps are rejected."""
    term, y0, ref, _ = _stiff_linear()
    sol = dfx.diffeqsolve(
        term,
        RKC2(rho=jnp.asarray(1.0)),
        0.0,
        5.0,
        None,
        y0,
        saveat=dfx.SaveAt(t1=True, solver_state=True),
        stepsize_controller=dfx.PIDController(rtol=1e-5, atol=1e-5),
        max_steps=10_000,
    )
    assert np.abs(np.asarray(sol.ys["y"][-1]) - ref(np.array([5.0]))[-1]).max() < 1e-3
    assert int(sol.stats["num_rejected_steps"]) < 0.1 * int(sol.stats["num_steps"])
    assert float(sol.solver_state[2]) == pytest.approx(1000.0, rel=0.05)  # the tracked estimate


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_network_solve_matches_radau(dtype):
    """hopdyn's rkc method on the seed DAM, saved rows against Radau."""
    net, x0, xi = seed000("dam", K=10, D=6)
    ts = np.array([0.0, 0.5, 2.0, 8.0])
    tr = hd.simulate(net, x0, method="rkc", t1=8.0, rtol=1e-6, atol=1e-8, save=ts, steady_state=False, dtype=dtype)
    ref = solve_ivp(
        lambda t, y: np.concatenate(seed000_field("dam", xi, y[:6], y[6:])),
        (0, ts[-1]),
        np.concatenate([x0["v"], x0["m"]]),
        method="Radau",
        t_eval=ts,
        rtol=1e-11,
        atol=1e-13,
    ).y.T
    got = np.concatenate([np.asarray(tr.x["v"]), np.asarray(tr.x["m"])], axis=1)[: len(ts)]
    assert np.abs(got - ref).max() < (2e-4 if dtype == "float64" else 5e-4)
    assert tr.status_name == "horizon"


@pytest.mark.parametrize("method", ["tsit5", "dopri5", "rkc", "etd", "dopri8"])
def test_steady_state_stop_without_an_extra_evaluation(method):
    """The stop test reads the solver's own f(y1) (tsit5, dopri5, rkc) or an
    Event (dopri8): either way the end state meets the test, checked here on
    the network's field, and the step before it did not end the solve."""
    net, x0, _ = seed000("dam", K=10, D=6)
    tr = hd.simulate(net, x0, method=method, t1=1000.0, rtol=1e-6, atol=1e-8)
    assert tr.status_name == "steady_state" and float(tr.t_final) < 1000.0
    end = tr.final_state
    f = net.vector_field({a: jnp.asarray(v) for a, v in end.items()})
    g = np.concatenate([np.asarray(f[a]) * float(n.tau) for a, n in net.neurons.items()])
    y = np.concatenate([np.asarray(end[a]) for a in net.neurons])
    rms = lambda v: np.sqrt(np.mean(np.square(v)))
    assert rms(g) < 1e-8 + 1e-6 * rms(y)
