"""simulate(): agreement with scipy's Radau, energy descent, clamps, batches,
statuses, step statistics, reproducibility, no recompiles for new numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import hopdyn as hd
import hopdyn.solvers.compile as compile_mod
import hopdyn.solvers.simulate as solve_mod
from helpers import DTYPES, lagrangian_cases, seed000, seed000_field, seed001, seed001_field

ADAPTIVE = ["tsit5", "dopri5", "dopri8", "kvaerno5"]


def _radau(rhs, y0, ts):
    sol = solve_ivp(lambda t, y: rhs(y), (ts[0], ts[-1]), y0, method="Radau", t_eval=ts, rtol=1e-11, atol=1e-13)
    assert sol.success
    return sol.y.T


def _assert_rel_close(got, want, rel=1e-5):
    err = np.linalg.norm(got - want, axis=-1) / np.maximum(np.linalg.norm(want, axis=-1), 1e-300)
    assert err.max() < rel, f"max relative error {err.max():.3g}"


@pytest.mark.parametrize("method", ADAPTIVE)
@pytest.mark.parametrize("kind", ["chn", "dam"])
def test_seed000_agrees_with_scipy_radau(kind, method):
    net, x0, Xi = seed000(kind)
    ts = np.linspace(0.0, 20.0, 11)
    tr = hd.simulate(
        net, x0, method=method, t1=20.0, save=ts, steady_state=False, rtol=1e-10, atol=1e-12, dtype="float64"
    )
    assert tr.status_name == "horizon"
    tr = tr.truncated()

    def rhs(y):
        dv, dm = seed000_field(kind, Xi, y[:30], y[30:])
        return np.concatenate([dv, dm])

    ref = _radau(rhs, np.concatenate([x0["v"], x0["m"]]), ts)
    got = np.concatenate([np.asarray(tr.x["v"]), np.asarray(tr.x["m"])], axis=1)
    np.testing.assert_allclose(np.asarray(tr.ts), ts)
    _assert_rel_close(got[1:], ref[1:])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["tsit5", "kvaerno5"])
def test_seed001_agrees_with_scipy_radau(method):
    net, x0, th_img, th_lab = seed001()
    ts = np.linspace(0.0, 5.0, 11)
    tr = hd.simulate(
        net, x0, method=method, t1=5.0, save=ts, steady_state=False, rtol=1e-10, atol=1e-12, dtype="float64"
    )
    tr = tr.truncated()

    def rhs(y):
        return np.concatenate(seed001_field(th_img, th_lab, y[:20], y[20:23], y[23:]))

    ref = _radau(rhs, np.concatenate([x0["x"], x0["y"], x0["z"]]), ts)
    got = np.concatenate([np.asarray(tr.x[k]) for k in "xyz"], axis=1)
    _assert_rel_close(got[1:], ref[1:])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


def _random_network(lag, seed=0):
    rng = np.random.default_rng(seed)
    return hd.Network(
        neurons={"a": hd.Neuron(6, lag, 1.0), "b": hd.Neuron(4, hd.Softmax(2.0), 0.3)},
        synapses=[
            hd.Dense(("a", "b"), rng.normal(0, 0.3, (6, 4))),
            hd.Bias(("a",), rng.normal(0, 0.5, 6)),
            hd.Hebbian(("a",), rng.choice([-1.0, 1.0], (2, 6)), scale=0.3),
        ],
    ), {"a": rng.normal(0, 2, 6), "b": rng.normal(0, 1, 4)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,lag", lagrangian_cases())
def test_energy_non_increasing_for_every_lagrangian(name, lag, dtype):
    net, x0 = _random_network(lag)
    rtol = 1e-6 if dtype == "float32" else 1e-9
    tr = hd.simulate(net, x0, t1=50.0, rtol=rtol, atol=rtol * 1e-2, dtype=dtype).truncated()
    assert tr.status_name in ("steady_state", "horizon"), tr.status_name
    E, dEdt = np.asarray(tr.energy, np.float64), np.asarray(tr.dEdt, np.float64)
    assert E.dtype == np.float64 and tr.energy.dtype == jnp.dtype(dtype)
    eps = 3e-6 if dtype == "float32" else 1e-10
    scale = 1.0 + np.abs(E).max()
    assert np.all(np.diff(E) <= eps * scale), f"energy rose by {np.diff(E).max():.3g}"
    assert np.all(dEdt <= eps * scale), f"dE/dt reached {dEdt.max():.3g}"
    assert E[-1] < E[0]


def test_clamped_layer_stays_put_and_masked_part_too():
    net, x0, _, _ = seed001()
    tr = hd.simulate(net.clamp("y"), x0, t1=20.0, dtype="float64").truncated()
    np.testing.assert_array_equal(np.asarray(tr.x["y"]), np.broadcast_to(x0["y"], tr.x["y"].shape))
    assert np.abs(np.asarray(tr.x["x"])[-1] - x0["x"]).max() > 1e-2

    mask = np.zeros(20, bool)
    mask[::2] = True
    tr = hd.simulate(net.clamp(x=mask), x0, t1=20.0, dtype="float64").truncated()
    xs = np.asarray(tr.x["x"])
    np.testing.assert_array_equal(xs[:, mask], np.broadcast_to(x0["x"][mask], xs[:, mask].shape))
    assert np.abs(xs[-1, ~mask] - x0["x"][~mask]).min() > 1e-4


def test_batch_of_64_equals_64_single_solves():
    net, _, _ = seed000("dam", K=20, D=12)
    rng = np.random.default_rng(7)
    xb = {"v": rng.uniform(0, 1, (64, 12)), "m": rng.normal(0, 1, (64, 20))}
    tb = hd.simulate(net, xb, rtol=1e-8, atol=1e-10, save=20, dtype="float64")
    assert tb.batch_size == 64
    # Batched and single matmuls round differently (~1e-16), which can move a
    # step; results must agree to well within the solver tolerance.
    for i in range(64):
        ti = hd.simulate(net, {"v": xb["v"][i], "m": xb["m"][i]}, rtol=1e-8, atol=1e-10, save=20, dtype="float64")
        assert int(tb.status[i]) == int(ti.status) == hd.STATUSES.index("steady_state")
        assert abs(int(tb.n_steps[i]) - int(ti.n_steps)) <= 1
        np.testing.assert_allclose(float(tb.t_final[i]), float(ti.t_final), rtol=1e-5)
        for k in ("v", "m"):
            np.testing.assert_allclose(
                np.asarray(tb.final_state[k][i]), np.asarray(ti.final_state[k]), rtol=1e-7, atol=1e-9
            )
        np.testing.assert_allclose(np.asarray(tb[i].energy), np.asarray(ti.energy), rtol=1e-7)


# ------------------------------------------------------------------ statuses
def _runaway():
    # E = 1/2 x^2 - 2 x^2: dE/dxhat = -3x, so dx/dt = 3x and |x| = x0 exp(3t).
    return hd.Network({"a": hd.Neuron(1, hd.Identity())}, synapses=[hd.Dense(("a", "a"), [[1.0]], scale=2.0)])


def test_divergence_is_failed_at_the_right_time():
    tr = hd.simulate(_runaway(), {"a": [1.0]}, t1=100.0, divergence=1e6, dtype="float64")
    assert tr.status_name == "failed"
    t_star = np.log(1e6) / 3
    assert t_star <= float(tr.t_final) < t_star * 1.2
    assert np.all(np.isfinite(np.asarray(tr.truncated().x["a"])))


@pytest.mark.parametrize("method", ["tsit5", "euler"])
def test_nan_is_failed_never_garbage(method):
    # A Lagrangian whose activation turns NaN once x > 2, driven upwards by a bias.
    lag = lambda x: jnp.sum(jnp.where(x < 2.0, 0.5 * x**2, jnp.sqrt(2.0 - x)))
    # The self-coupling makes the field depend on xhat: dE/dxhat = x - 5 - 0.2 xhat.
    net = hd.Network({"a": hd.Neuron(2, lag)}, synapses=[hd.Bias(("a",), 5.0), hd.Dense(("a", "a"), 0.1 * np.eye(2))])
    tr = hd.simulate(net, {"a": [0.0, 0.0]}, t1=50.0, method=method, dt=0.01, max_steps=5000, dtype="float64")
    assert tr.status_name == "failed"
    # While x < 2: dx/dt = 5 - 0.8 x, x(t) = 6.25 (1 - exp(-0.8 t)) reaches 2 at t = -ln(0.68) / 0.8.
    assert float(tr.t_final) == pytest.approx(-np.log(0.68) / 0.8, abs=0.02)
    t = tr.truncated()
    assert np.all(np.isfinite(np.asarray(t.x["a"]))) and np.all(np.isfinite(np.asarray(t.energy)))


def test_non_finite_energy_is_failed():
    # Finite dynamics (the NaN branch has zero gradient) but a NaN energy.
    lag = lambda x: jnp.sum(jnp.where(x < 2.0, 0.5 * x**2, jnp.nan))
    net = hd.Network({"a": hd.Neuron(2, lag)}, synapses=[hd.Bias(("a",), 5.0)])
    assert hd.simulate(net, {"a": [0.0, 0.1]}, t1=50.0, dtype="float64").status_name == "failed"


def test_horizon_and_max_steps():
    net, x0, _ = seed000("dam")
    assert hd.simulate(net, x0, t1=2.0).status_name == "horizon"
    tr = hd.simulate(net, x0, t1=1000.0, max_steps=5)
    assert tr.status_name == "max_steps" and int(tr.n_steps) == 5


@pytest.mark.parametrize("method", ["tsit5", "dopri5", "dopri8", "euler", "rkc", "etd"])
def test_vector_field_evaluation_count_is_exact(method, monkeypatch):
    calls = []
    real = solve_mod._field

    def counting(t, y, net):
        jax.debug.callback(lambda: calls.append(1))
        return real(t, y, net)

    monkeypatch.setattr(solve_mod, "_field", counting)
    compile_mod._COMPILED.clear()
    try:
        net, x0, _ = seed000("dam", K=10, D=6)
        tr = hd.simulate(net, x0, method=method, dt=0.05, t1=40.0, save=5)
        jax.effects_barrier()
    finally:
        compile_mod._COMPILED.clear()
    if method == "rkc" and int(tr.n_rejected):  # rejected RKC steps are counted at the mean
        assert abs(int(tr.vf_evals) - len(calls)) <= 0.1 * len(calls)
    else:
        assert int(tr.vf_evals) == len(calls)
    assert int(tr.n_accepted) + int(tr.n_rejected) == int(tr.n_steps)


def test_euler_converges_with_order_one():
    net, x0, Xi = seed000("dam", K=10, D=6)
    ref = _radau(
        lambda y: np.concatenate(seed000_field("dam", Xi, y[:6], y[6:])),
        np.concatenate([x0["v"], x0["m"]]),
        np.array([0.0, 1.0]),
    )[-1]
    errs = []
    for dt in (0.02, 0.01, 0.005):
        tr = hd.simulate(
            net, x0, method="euler", dt=dt, t1=1.0, save=np.array([0.0, 1.0]), steady_state=False, dtype="float64"
        )
        got = np.concatenate([np.asarray(tr.final_state["v"]), np.asarray(tr.final_state["m"])])
        errs.append(np.linalg.norm(got - ref))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    np.testing.assert_allclose(orders, 1.0, atol=0.1)


# ------------------------------------------------------------ reproducibility, compile, dtype
def test_same_inputs_same_numbers():
    net, x0, _ = seed000("dam")
    a, b = hd.simulate(net, x0), hd.simulate(net, x0)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_new_parameter_values_do_not_recompile():
    def build(beta):
        return hd.Network(
            {"v": hd.Neuron(5, hd.Sigmoid(0.3)), "m": hd.Neuron(4, hd.Softmax(beta))},
            synapses=[hd.Dense(("m", "v"), np.ones((4, 5)))],
        )

    hd.simulate(build(1.0), {"v": np.ones(5)}, rtol=1e-5)
    tr = hd.simulate(build(7.0), {"v": np.zeros(5)}, rtol=1e-7, t1=50.0)
    assert tr.compile_seconds == 0.0


def test_float32_stays_float32_under_x64():
    net, x0, _ = seed000("dam")
    tr = hd.simulate(net, x0, dtype="float32")
    for leaf in jax.tree.leaves(tr):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32


def test_seed000_dam_reaches_the_tutorial_fixed_point():
    """The contract's example: the tutorial DAM reaches a steady state near t = 14
    with final energy -1260.27."""
    net, x0, _ = seed000("dam")
    tr = hd.simulate(net, x0)
    assert tr.status_name == "steady_state"
    assert float(tr.final_energy) == pytest.approx(-1260.27, abs=0.01)
    assert 10 < float(tr.t_final) < 20


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="rk4"), "unknown method 'rk4'"),
        (dict(t1=-1.0), "^t1: "),
        (dict(method="euler"), "^dt: "),
        (dict(rtol=-1.0), "^rtol: "),
        (dict(max_steps=0), "^max_steps: "),
        (dict(save=np.array([2.0, 1.0])), "^save: expected increasing times"),
        (dict(save=1), "^save: expected at least 2"),
    ],
)
def test_bad_solver_settings(kwargs, match):
    net, x0, _ = seed000("dam", K=4, D=3)
    with pytest.raises(hd.SolverError, match=match):
        hd.simulate(net, x0, **kwargs)
