"""Quasi-static layers (tau = 0): the reduced system against the full system
with a small tau, closed forms, and the Lyapunov property of the reduction."""

import numpy as np
import pytest

import hopdyn as hd
from hopdyn.solvers import discrete as D


def _dam(tau_m, beta=0.5, K=20, N=32, seed=0, self_coupling=None):
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], (K, N))
    syns = [hd.Dense(("m", "v"), xi)]
    if self_coupling is not None:
        syns.append(hd.Dense(("m", "m"), self_coupling, 0.5))
    net = hd.Network({"v": hd.Neuron(N, hd.Tanh(3.0)), "m": hd.Neuron(K, hd.Softmax(beta), tau_m)}, syns)
    x0 = xi[:2].copy()
    x0[:, : N // 4] *= -1
    return net, {"v": 0.3 * x0}, xi


def test_quasi_static_memory_gives_the_closed_form_field():
    net, x0, xi = _dam(0.0)
    assert net.quasi_static == ("m",) and net.closed_form_equilibrium
    v = x0["v"][0]
    f = net.vector_field({"v": v, "m": np.zeros(20)})
    s = 0.5 * xi @ np.tanh(3.0 * v)  # m = Xi vhat, mhat = softmax(beta m)
    p = np.exp(s - s.max())
    np.testing.assert_allclose(np.asarray(f["v"]), -v + xi.T @ (p / p.sum()), rtol=1e-10)
    assert np.all(np.asarray(f["m"]) == 0)


@pytest.mark.parametrize("self_coupling", [False, True])
def test_reduced_and_small_tau_systems_reach_the_same_fixed_points(self_coupling):
    A = None
    if self_coupling:  # the memory layer's input depends on itself: a fixed-point solve
        a = np.random.default_rng(1).normal(size=(20, 20))
        A = 0.2 * (a + a.T) / np.sqrt(20)
    fast, x0, _ = _dam(0.0, self_coupling=A)
    full, _, _ = _dam(1e-2, self_coupling=A)  # a fast (stiff) memory layer, integrated
    assert fast.closed_form_equilibrium is (not self_coupling)
    kw = dict(t1=300.0, rtol=1e-8, atol=1e-10)
    tr_fast = hd.simulate(fast, x0, **kw)
    tr_full = hd.simulate(full, x0, **kw)
    assert all(s == "steady_state" for s in tr_fast.status_name + tr_full.status_name)
    for layer in ("v", "m"):
        np.testing.assert_allclose(
            np.asarray(tr_fast.final_state[layer]), np.asarray(tr_full.final_state[layer]), atol=1e-5
        )
    # far fewer steps, and the reduced energy never rises
    assert int(np.max(tr_fast.n_steps)) < int(np.max(tr_full.n_steps))
    for m in tr_fast.members():
        assert np.all(np.asarray(m.dEdt) <= 1e-12)
        assert np.all(np.diff(np.asarray(m.energy)) <= 1e-10)
    if self_coupling:
        return
    report = hd.verify(fast, tr_fast)
    assert report["ok"] and all(c["fixed_point"]["kind"] == "stable" for c in report["certificates"])


def test_a_one_layer_self_coupling_is_solved_not_taken_in_closed_form():
    """A Hebbian synapse touches its layer once but its energy is quadratic in it:
    the quasi-static layer's input depends on itself, so its equilibrium needs
    the fixed-point solve (one evaluation of the input is not it)."""
    rng = np.random.default_rng(0)
    xi = rng.choice([-1.0, 1.0], (3, 20))
    net = hd.Network(
        {"s": hd.Neuron(20, hd.Tanh(1.0), 0.0), "v": hd.Neuron(5, hd.Tanh(1.0))},
        [hd.Hebbian(("s",), xi, 0.5), hd.Dense(("s", "v"), rng.normal(size=(20, 5)) * 0.1)],
    )
    assert not net.closed_form_equilibrium
    x = net.init_state({"s": rng.normal(size=20), "v": rng.normal(size=5)})
    eq = net.equilibrate(x)
    w = np.asarray(net.synapses[0].weights())
    m = np.asarray(net.synapses[1].weights)
    s = np.asarray(eq["s"])  # x_s = W tanh(x_s) + M tanh(x_v), by hand
    np.testing.assert_allclose(s, w @ np.tanh(s) + m @ np.tanh(np.asarray(eq["v"])), atol=1e-6)
    g = net.energy_gradient(eq)
    assert np.abs(np.asarray(g["s"])).max() < 1e-6  # dE/dxhat_s = 0: at its equilibrium


def test_reduced_softmax_memory_has_ramsauers_fixed_points():
    """An identity visible layer with a quasi-static softmax memory: tau dv/dt =
    -v + X^T softmax(beta X v), whose fixed points are those of Ramsauer's update."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 16))
    x = 4 * x / np.linalg.norm(x, axis=1, keepdims=True)
    net = hd.Network(
        {"v": hd.Neuron(16, hd.Identity()), "m": hd.Neuron(6, hd.Softmax(1.5), 0.0)}, [hd.Dense(("m", "v"), x)]
    )
    q = x[3] + 0.4 * rng.normal(size=16)
    ode = hd.simulate(net, {"v": q}, t1=200.0, rtol=1e-10, atol=1e-12)
    import jax.numpy as jnp

    run = D.modern_retrieval(jnp.asarray(x), jnp.asarray(q), 1.5, max_iter=500, tol=1e-13)
    np.testing.assert_allclose(np.asarray(ode.final_state["v"]), np.asarray(run.states[-1]), atol=1e-7)


def test_scenario_with_a_quasi_static_layer(tmp_path):
    import json

    from hopdyn.cli import main

    rc = main(["run", "dam-tutorial", "--out", str(tmp_path), "-q", "--no-plots", "--set", "neurons.m.tau=0"])
    r = json.load(open(tmp_path / "result.json"))
    assert rc == 0 and r["status"] == "steady_state" and r["lyapunov"]["ok"]


def test_retrieval_with_a_quasi_static_memory_is_ramsauers_update():
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 16))
    net = hd.Network(
        {"v": hd.Neuron(16, hd.Identity()), "m": hd.Neuron(6, hd.Softmax(0.7), 0.0)}, [hd.Dense(("m", "v"), x)]
    )
    q = x[1] + 0.5 * rng.normal(size=16)
    tr = hd.simulate(net, {"v": q}, method="retrieval", max_sweeps=6, steady_state=False).truncated()
    run = D.modern_retrieval(jnp.asarray(x), jnp.asarray(q), 0.7, max_iter=6, tol=0.0)
    np.testing.assert_allclose(np.asarray(tr.x["v"]), np.asarray(run.states), rtol=1e-12, atol=1e-12)
