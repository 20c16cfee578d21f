"""hopdyn's Tsit5 (stages written out) against Diffrax's Tsit5, a peer
implementation of the same tableau, and against scipy: one step, its error
estimate and dense output, whole adaptive solves (steps, saved states), and
derivatives through the solve."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import hopdyn as hd
from helpers import seed000
from hopdyn.solvers.tsit5 import Tsit5, dense_weights


def _problem():
    """y' = tanh(W y) - y + 0.1 sin(t) on a pytree of two leaves (t-dependent, so
    the stage times matter)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(7, 7))
    y0 = rng.normal(size=7)

    def f(t, y):
        return np.tanh(w @ y) - y + 0.1 * np.sin(t)

    def vf(t, y, _):
        z = jnp.concatenate([y["a"], y["b"]])
        d = jnp.tanh(jnp.asarray(w) @ z) - z + 0.1 * jnp.sin(t)
        return {"a": d[:3], "b": d[3:]}

    return dfx.ODETerm(vf), {"a": jnp.asarray(y0[:3]), "b": jnp.asarray(y0[3:])}, f, y0


def _flat(y):
    return np.concatenate([np.asarray(y["a"]), np.asarray(y["b"])])


def test_one_step_its_error_and_dense_output_equal_diffrax_tsit5():
    term, y0, _, _ = _problem()
    t0, t1 = 0.2, 0.7
    out = {}
    for name, solver in (("diffrax", dfx.Tsit5()), ("hopdyn", Tsit5())):
        state = solver.init(term, t0, t1, y0, None)
        y1, err, dense, state1, res = solver.step(term, t0, t1, y0, None, state, False)
        interp = solver.interpolation_cls(t0=t0, t1=t1, **dense)
        f1 = state1[1] if name == "diffrax" else state1  # Diffrax keeps (first_step, f1)
        out[name] = [_flat(y1), _flat(err), _flat(f1), *(_flat(interp.evaluate(t)) for t in (0.2, 0.31, 0.55, 0.7))]
        if name == "hopdyn":  # an increment over part of the step (Diffrax's own fails on dict states)
            np.testing.assert_allclose(
                _flat(interp.evaluate(0.3, 0.6)),
                _flat(interp.evaluate(0.6)) - _flat(interp.evaluate(0.3)),
                rtol=1e-14,
                atol=1e-15,
            )
        assert res == dfx.RESULTS.successful
    for a, b in zip(out["diffrax"], out["hopdyn"]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert np.abs(out["hopdyn"][1]).max() > 1e-9  # a real error estimate, not zeros


def test_dense_weights_sum_to_the_step_weights():
    """At theta = 1 the interpolation weights are the solution's weights b_sol
    (the dense output ends at y1); at theta = 0 they vanish."""
    np.testing.assert_allclose(dense_weights(1.0), np.asarray(dfx.Tsit5.tableau.b_sol), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dense_weights(0.0), 0.0, atol=0)


def test_adaptive_solve_takes_diffrax_steps_and_matches_scipy():
    term, y0, f, y0_np = _problem()
    ts = jnp.linspace(0.0, 6.0, 9)
    sols = {
        name: dfx.diffeqsolve(
            term,
            solver,
            0.0,
            6.0,
            None,
            y0,
            saveat=dfx.SaveAt(ts=ts),
            stepsize_controller=dfx.PIDController(rtol=1e-9, atol=1e-11),
        )  # fmt: skip
        for name, solver in (("diffrax", dfx.Tsit5()), ("hopdyn", Tsit5()))
    }
    assert int(sols["hopdyn"].stats["num_steps"]) == int(sols["diffrax"].stats["num_steps"])
    ours = np.concatenate([np.asarray(sols["hopdyn"].ys["a"]), np.asarray(sols["hopdyn"].ys["b"])], axis=1)
    peer = np.concatenate([np.asarray(sols["diffrax"].ys["a"]), np.asarray(sols["diffrax"].ys["b"])], axis=1)
    np.testing.assert_allclose(ours, peer, rtol=1e-12, atol=1e-13)
    ref = solve_ivp(f, (0, 6), y0_np, method="DOP853", rtol=1e-13, atol=1e-13, t_eval=np.asarray(ts)).y.T
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7)


def test_fifth_order_on_fixed_steps():
    """Halving a fixed step divides the global error by about 2^5 (measured
    order within half an order of 5)."""
    term, y0, f, y0_np = _problem()
    ref = solve_ivp(f, (0, 2), y0_np, method="DOP853", rtol=100 * np.finfo(float).eps, atol=1e-14).y[:, -1]
    errs = []
    for dt in (0.05, 0.025):
        sol = dfx.diffeqsolve(term, Tsit5(), 0.0, 2.0, dt, y0, stepsize_controller=dfx.ConstantStepSize())
        errs.append(np.abs(_flat(jax.tree.map(lambda a: a[-1], sol.ys)) - ref).max())
    assert 2**4.5 < errs[0] / errs[1] < 2**5.5


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-9), ("float32", 1e-4)])
def test_simulate_batched_end_states_equal_diffrax_tsit5(dtype, tol):
    """A batch of the seed network solved to the horizon by ``simulate``
    (hopdyn's Tsit5) ends where Diffrax's Tsit5 under ``jit(vmap(diffeqsolve))``
    ends, in both precisions (to the rounding of the dtype)."""
    net = seed000("dam", K=12, D=8)[0].astype(dtype)
    rng = np.random.default_rng(3)
    x0 = {"v": jnp.asarray(rng.normal(size=(5, 8)), dtype), "m": jnp.asarray(rng.normal(size=(5, 12)), dtype)}
    tr = hd.simulate(
        net,
        x0,
        hd.SolveSettings(method="tsit5", t1=50.0, rtol=1e-8, atol=1e-10, save=2, dtype=dtype, steady_state=False),
    )
    term = dfx.ODETerm(lambda t, y, _: net.vector_field(y))
    one = lambda y: dfx.diffeqsolve(  # noqa: E731
        term, dfx.Tsit5(), 0.0, 50.0, None, y, saveat=dfx.SaveAt(t1=True),
        stepsize_controller=dfx.PIDController(rtol=1e-8, atol=1e-10),
    ).ys  # fmt: skip
    peer = jax.jit(jax.vmap(one))(x0)
    for a in ("v", "m"):
        np.testing.assert_allclose(np.asarray(tr.final_state[a]), np.asarray(peer[a][:, 0]), rtol=tol, atol=tol)


def test_gradient_through_the_solve_equals_diffrax_tsit5():
    term, y0, _, _ = _problem()

    def loss(solver, w):
        y = jax.tree.map(lambda a: a * w, y0)
        sol = dfx.diffeqsolve(
            term, solver, 0.0, 3.0, None, y, stepsize_controller=dfx.PIDController(rtol=1e-9, atol=1e-11),
            saveat=dfx.SaveAt(t1=True),
        )  # fmt: skip
        return jnp.sum(sol.ys["a"] ** 2) + jnp.sum(sol.ys["b"])

    g_peer = jax.grad(lambda w: loss(dfx.Tsit5(), w))(1.3)
    g_ours = jax.grad(lambda w: loss(Tsit5(), w))(1.3)
    np.testing.assert_allclose(float(g_ours), float(g_peer), rtol=1e-10)
    h = 1e-5  # and both against central differences
    fd = (loss(Tsit5(), 1.3 + h) - loss(Tsit5(), 1.3 - h)) / (2 * h)
    np.testing.assert_allclose(float(g_ours), float(fd), rtol=1e-6)
