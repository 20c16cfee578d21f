"""ETDRK4 (exponential time differencing) against independent references: the
integral definition of the phi functions (scipy quad), closed-form solutions of
the linear leak, scipy's Radau on the same equations, and the method's order."""

import math

import diffrax as dfx
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

import hopdyn as hd
from helpers import seed000, seed000_field
from hopdyn.solvers.etd import ETDRK4, phi


def _phi_ref(k, z):
    """phi_k(z) = 1/(k-1)! int_0^1 e^{(1-s) z} s^{k-1} ds."""
    return quad(lambda s: math.exp((1 - s) * z) * s ** (k - 1), 0, 1, epsabs=0, epsrel=1e-13)[0] / math.factorial(k - 1)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-6)])
def test_phi_functions_match_their_integral_definition(dtype, tol):
    zs = np.array([-2000.0, -40.0, -3.0, -1.0001, -0.9999, -0.3, -1e-4, 0.0, 1e-7, 0.5])
    got = phi(jnp.asarray(zs, dtype))
    for k in (1, 2, 3):
        ref = np.array([_phi_ref(k, z) for z in zs])
        np.testing.assert_allclose(np.asarray(got[k - 1], np.float64), ref, rtol=tol, atol=0)


def _term(rate, c):
    """dy/dt = -rate y + c: the leak and a constant input."""
    return dfx.ODETerm(lambda t, y, _: -rate * y + c)


def test_a_leak_with_constant_input_is_integrated_exactly_in_one_step():
    rate = jnp.asarray([0.0, 1e-3, 1.0, 20.0, 1e4])
    c, y0 = jnp.asarray([0.5, -1.0, 2.0, 3.0, -4.0]), jnp.asarray([1.0, 2.0, -1.0, 0.5, 7.0])
    h = 3.0
    solver = ETDRK4(rate=rate)
    state = solver.init(_term(rate, c), 0.0, h, y0, None)
    y1, err = solver.step(_term(rate, c), 0.0, h, y0, None, state, False)[:2]
    r, cc, y = np.asarray(rate), np.asarray(c), np.asarray(y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.where(r > 0, cc / r + (y - cc / r) * np.exp(-r * h), y + cc * h)
    np.testing.assert_allclose(np.asarray(y1), exact, rtol=1e-13, atol=1e-13)
    assert np.abs(np.asarray(err)).max() < 1e-12  # and it knows it


def _semilinear():
    """y' = -r y + tanh(W y) + sin(t): a smooth nonlinearity beside a leak."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 6)) * 0.8
    r = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    y0 = rng.normal(size=6)
    f = lambda t, y: -r * y + np.tanh(w @ y) + np.sin(t)
    term = dfx.ODETerm(lambda t, y, _: -jnp.asarray(r) * y + jnp.tanh(jnp.asarray(w) @ y) + jnp.sin(t))
    ref = lambda ts: solve_ivp(f, (0, ts[-1]), y0, method="Radau", rtol=1e-13, atol=1e-13, t_eval=ts).y.T
    return term, jnp.asarray(y0), jnp.asarray(r), ref


def test_fourth_order_with_constant_steps():
    term, y0, r, ref = _semilinear()
    exact = ref(np.array([2.0]))[-1]
    errs = []
    for n in (20, 40, 80, 160):
        sol = dfx.diffeqsolve(term, ETDRK4(rate=r), 0.0, 2.0, 2.0 / n, y0, stepsize_controller=dfx.ConstantStepSize())
        errs.append(np.abs(np.asarray(sol.ys[-1]) - exact).max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((orders > 3.6) & (orders < 4.4)), (errs, orders)


def test_adaptive_error_falls_with_the_tolerance():
    term, y0, r, ref = _semilinear()
    ts = np.linspace(0.2, 4.0, 12)
    exact = ref(ts)
    errs = []
    for tol in (1e-5, 1e-8):
        sol = dfx.diffeqsolve(
            term,
            ETDRK4(rate=r),
            0.0,
            4.0,
            None,
            y0,
            saveat=dfx.SaveAt(ts=ts),
            stepsize_controller=dfx.PIDController(rtol=tol, atol=tol),
            max_steps=10_000,
        )
        errs.append(np.abs(np.asarray(sol.ys) - exact).max())  # dense output included
    assert errs[0] < 1e-3 and errs[1] < errs[0] / 30, errs


def test_a_fixed_point_stays_fixed_under_a_huge_step():
    """Unlike integrating-factor methods, the step keeps x = -L^-1 N(x)."""
    net, x0, _ = seed000("dam", K=10, D=6)
    end = hd.simulate(net, x0, method="tsit5", t1=400.0, rtol=1e-12, atol=1e-12, save=2).final_state
    y = {a: jnp.asarray(v) for a, v in end.items()}
    term = dfx.ODETerm(lambda t, x, _: net.vector_field(x))
    solver = ETDRK4(rate=net.leak_rates())
    y1 = solver.step(term, 0.0, 1e4, y, None, solver.init(term, 0.0, 1e4, y, None), False)[0]
    for a in y:
        np.testing.assert_allclose(np.asarray(y1[a]), np.asarray(y[a]), atol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tau_m", [1.0, 1e-3])
def test_network_solve_matches_radau(dtype, tau_m):
    """hopdyn's etd method on the seed DAM, saved rows against Radau; with a
    memory layer 1000x faster than the visible one the step is not held to
    the fast time scale (an explicit method needs thousands of steps here)."""
    net, x0, xi = seed000("dam", K=10, D=6, tau_m=tau_m)
    ts = np.array([0.0, 0.5, 2.0, 8.0])
    tr = hd.simulate(net, x0, method="etd", t1=8.0, rtol=1e-7, atol=1e-9, save=ts, steady_state=False, dtype=dtype)
    ref = solve_ivp(
        lambda t, y: np.concatenate(seed000_field("dam", xi, y[:6], y[6:], tau_m=tau_m)),
        (0, ts[-1]),
        np.concatenate([x0["v"], x0["m"]]),
        method="Radau",
        t_eval=ts,
        rtol=1e-11,
        atol=1e-13,
    ).y.T
    got = np.concatenate([np.asarray(tr.x["v"]), np.asarray(tr.x["m"])], axis=1)[: len(ts)]
    # saved rows between steps come from the dense output (third order for a stiff layer)
    assert np.abs(got - ref).max() < (5e-5 if dtype == "float64" else 5e-4)
    assert tr.status_name == "horizon"
    assert int(tr.n_steps) < 100, int(tr.n_steps)
