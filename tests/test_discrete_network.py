"""Discrete rules run on networks through ``simulate(method=...)``: replayed by
plain numpy code with the same update orders, the energy property, cycles,
verification, basins, and the shipped scenarios of VALIDATION items 2-8."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_basins import _check_contract
from test_discrete import _np_async, _np_dense_async, _sgn

import hopdyn as hd
from helpers import DTYPES
from hopdyn.cli import main
from hopdyn.core import patterns as P
from hopdyn.solvers import discrete as D


def _binary_net(xi, bias=0.0, dtype="float64"):
    n = xi.shape[1]
    return hd.Network({"s": hd.Neuron(n, hd.Tanh(10.0))}, [hd.Hebbian(("s",), xi), hd.Bias(("s",), bias)]).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_async_simulate_replays_numpy_for_every_batch_member(dtype):
    rng = np.random.default_rng(0)
    xi = rng.choice([-1.0, 1.0], (5, 40))
    starts = rng.choice([-1.0, 1.0], (3, 40))
    net = _binary_net(xi, 0.05, dtype)
    tr = hd.simulate(net, {"s": starts}, method="async", seed=9, max_sweeps=30)
    assert tr.x["s"].dtype == jnp.dtype(dtype)
    w, b = D.hebbian(xi), np.full(40, 0.05)
    for i, m in enumerate(tr.members()):
        ref_states, ref_E = _np_async(w, b, starts[i].copy(), D.sweep_orders(9, 30, 40, member=i))
        np.testing.assert_array_equal(np.asarray(m.x["s"]), ref_states)
        np.testing.assert_allclose(np.asarray(m.energy), ref_E, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-4)
        assert hd.STATUSES[int(tr.status[i])] == "steady_state"
        assert float(m.t_final) == len(ref_states) - 1
    # an unbatched run is member 0's
    one = hd.simulate(net, {"s": starts[0]}, method="async", seed=9, max_sweeps=30).truncated()
    np.testing.assert_array_equal(np.asarray(one.x["s"]), np.asarray(tr.members()[0].x["s"]))


@pytest.mark.parametrize("kind", ["polynomial", "exponential"])
def test_dense_async_simulate_replays_numpy(kind):
    rng = np.random.default_rng(1)
    xi = rng.choice([-1.0, 1.0], (30, 16))
    y0 = rng.choice([-1.0, 1.0], 16)
    syn = hd.Polynomial(("s",), xi, n=3) if kind == "polynomial" else hd.Exponential(("s",), xi, logsumexp=True)
    net = hd.Network({"s": hd.Neuron(16, hd.Tanh(10.0))}, [syn])
    tr = hd.simulate(net, {"s": y0}, method="dense_async", seed=4, max_sweeps=10).truncated()
    F = (lambda s: s**3) if kind == "polynomial" else np.exp
    ref = _np_dense_async(xi, y0.copy(), D.sweep_orders(4, 10, 16), F)
    np.testing.assert_array_equal(np.asarray(tr.x["s"]), ref)
    E = np.asarray(tr.energy)
    assert np.all(np.diff(E) <= 1e-9 * np.abs(E).max())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_async_on_random_symmetric_networks_descends_to_a_fixed_point(seed):
    """Any symmetric W (zero diagonal) and bias: energy never rises per sweep, the
    run ends in a fixed point of the sign rule."""
    n = 12
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    w = (a + a.T) / 2
    np.fill_diagonal(w, 0.0)
    b = rng.normal(size=n) * rng.integers(0, 2)
    net = hd.Network({"s": hd.Neuron(n, hd.Tanh(5.0))}, [hd.Dense(("s", "s"), w, 0.5), hd.Bias(("s",), b)])
    tr = hd.simulate(net, {"s": rng.choice([-1.0, 1.0], n)}, method="async", seed=seed, max_sweeps=100).truncated()
    E = np.asarray(tr.energy)
    assert np.all(np.diff(E) <= 1e-9 * (1 + np.abs(E).max()))
    assert hd.STATUSES[int(tr.status)] == "steady_state"
    y = np.asarray(tr.x["s"][-1])
    np.testing.assert_array_equal(_sgn(w @ y + b), y)
    assert D.flip_stability(net, {"s": y}, "s")["kind"] in ("stable", "degenerate")


def test_sync_reports_a_period_two_cycle_instead_of_hanging():
    net = hd.Network({"s": hd.Neuron(2, hd.Tanh(5.0))}, [hd.Dense(("s", "s"), [[0.0, 1.0], [1.0, 0.0]], 0.5)])
    tr = hd.simulate(net, {"s": [[1.0, -1.0], [1.0, 1.0]]}, method="sync", max_sweeps=1000)
    assert tr.status_name == ["cycle", "steady_state"]
    assert int(tr.n_steps[0]) == 2  # detected on the first return, not at max_sweeps
    report = hd.verify(net, tr)
    assert "lyapunov" not in report["checks"] and "synchronous" in report["note"]


def test_flip_stability_classifies_patterns_and_non_fixed_points():
    xi = np.random.default_rng(2).choice([-1.0, 1.0], (2, 50))
    net = _binary_net(xi)
    assert D.flip_stability(net, {"s": xi[0]}, "s")["kind"] == "stable"
    bad = xi[0].copy()
    bad[:10] *= -1
    fs = D.flip_stability(net, {"s": bad}, "s")
    assert fs["kind"] == "unstable" and fs["unstable_units"] >= 1
    # two units with zero field: flipping either leaves E unchanged
    flat = hd.Network({"s": hd.Neuron(2, hd.Tanh(5.0))}, [hd.Bias(("s",), 0.0)])
    assert D.flip_stability(flat, {"s": np.array([1.0, -1.0])}, "s")["kind"] == "degenerate"


def test_retrieval_is_ramsauers_update_and_shares_the_odes_fixed_point():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 20))
    x = 4 * x / np.linalg.norm(x, axis=1, keepdims=True)
    q = x[2] + 0.3 * rng.normal(size=20)
    net = hd.Network({"v": hd.Neuron(20, hd.Identity())}, [hd.Exponential(("v",), x, beta=2.0, logsumexp=True)])
    tr = hd.simulate(
        net, {"v": q}, method="retrieval", max_sweeps=50, steady_state={"rtol": 0, "atol": 1e-12}
    ).truncated()
    v, states = q.copy(), [q.copy()]
    for _ in range(int(tr.t_final)):
        s = 2.0 * x @ v
        p = np.exp(s - s.max())
        v = x.T @ (p / p.sum())
        states.append(v.copy())
    np.testing.assert_allclose(np.asarray(tr.x["v"]), np.array(states), rtol=1e-12, atol=1e-12)
    # its energy is Ramsauer's up to a constant, and never rises
    ram = [float(D.modern_energy(jnp.asarray(x), 2.0, jnp.asarray(s))) for s in states]
    np.testing.assert_allclose(np.asarray(tr.energy) - np.asarray(tr.energy)[0], np.array(ram) - ram[0], atol=1e-10)
    assert np.all(np.diff(ram) <= 1e-12)
    ode = hd.simulate(net, {"v": q}, t1=200.0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ode.final_state["v"]), states[-1], atol=1e-6)


def test_retrieval_on_a_two_layer_memory_updates_the_fast_layer_first():
    """The DAM of seed 000 with an identity visible layer: updating the memory
    layer (smaller tau) and then the visible layer is Ramsauer's step."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 10))
    net = hd.Network(
        {"v": hd.Neuron(10, hd.Identity()), "m": hd.Neuron(8, hd.Softmax(1.5), 0.1)}, [hd.Dense(("m", "v"), x)]
    )
    q = x[4] + 0.2 * rng.normal(size=10)
    tr = hd.simulate(net, {"v": q}, method="retrieval", max_sweeps=1)
    s = 1.5 * x @ q
    p = np.exp(s - s.max())
    np.testing.assert_allclose(np.asarray(tr.x["v"][1]), x.T @ (p / p.sum()), rtol=1e-10)


def _run_json(tmp_path, *argv):
    rc = main([argv[0], argv[1], "--out", str(tmp_path), "-q", *argv[2:]])
    with open(tmp_path / ("basins.json" if argv[0] == "basins" else "result.json")) as f:
        return rc, json.load(f)


def test_ghost_completion_scenario_ends_in_the_negated_w(tmp_path):
    """(The generic shipped-scenario test leaves this one to here.)"""
    from test_scenarios import check_run_contract

    rc, r = _run_json(tmp_path, "run", "ghost-completion")
    check_run_contract("ghost-completion", rc, r, tmp_path)
    assert rc == 0 and r["status"] == "steady_state"
    z = np.load(tmp_path / "trajectory.npz")
    w = P.render_glyphs(["W"], 16, "binary")[0]
    np.testing.assert_array_equal(z["x/s"][-1], -w)  # exactly W's ghost
    assert r["compare"]["same_end_pattern"] == [True]
    assert (tmp_path / "compare.png").is_file()


@pytest.mark.parametrize("beta,regime", [(10.0, "pattern"), (0.3, "cluster"), (1e-4, "global")])
def test_modern_retrieval_regimes_with_beta(tmp_path, beta, regime):
    """VALIDATION item 8 on the shipped scenario: pattern, cluster average
    (metastable), global average as beta falls."""
    rc, r = _run_json(tmp_path, "run", "modern-retrieval", "--no-plots", f"--set=synapses[0].beta={beta}")
    assert rc == 0 and r["status"] == "steady_state"
    from hopdyn.scenario import build as _scenario

    X = _scenario.load_and_build(str(_scenario_path("modern-retrieval"))).patterns["X"]
    z = np.load(tmp_path / "trajectory.npz")
    for i, k in enumerate([1, 5, 9]):
        end = z["x/v"][i][z["valid"][i]][-1]
        c = k // 4
        targets = {"pattern": X[k], "cluster": X[4 * c : 4 * c + 4].mean(0), "global": X.mean(0)}
        cos = {name: float(t @ end / np.linalg.norm(t) / np.linalg.norm(end)) for name, t in targets.items()}
        assert max(cos, key=cos.get) == regime and cos[regime] > 0.9999, cos


def _scenario_path(name):
    from hopdyn.cli import shipped_dir

    return shipped_dir() / f"{name}.yaml"


def test_basins_of_the_classical_network_and_what_unlearning_removes(tmp_path):
    """VALIDATION item 5 through `hopdyn basins`: patterns, ghosts and 3-mixtures
    (above the patterns in energy) are all found and labelled; unlearning leaves
    only patterns and ghosts."""
    rc, r = _run_json(tmp_path / "a", "basins", "basins-classical", "--samples", "200")
    assert rc == 0
    _check_contract(r)
    kinds = {}
    for a in r["attractors"]:
        kinds.setdefault(a["kind"], []).append(a)
    assert len(kinds["pattern"]) == 3 and len(kinds["negated"]) == 3
    assert len(kinds.get("mixture", [])) >= 4
    assert min(a["energy"] for a in kinds["mixture"]) > max(a["energy"] for a in kinds["pattern"])
    for p in kinds["pattern"]:  # a ghost has its pattern's energy
        ghost = next(a for a in kinds["negated"] if a["pattern"] == p["pattern"])
        assert ghost["energy"] == pytest.approx(p["energy"], rel=1e-5)
    assert all(a["stability"] == "stable" for a in r["attractors"])
    mixtures_before = sum(r["fractions"][str(a["label"])] for a in kinds["mixture"])
    rc, u = _run_json(tmp_path / "b", "basins", "basins-unlearning", "--samples", "200")
    assert rc == 0
    _check_contract(u)
    assert {a["kind"] for a in u["attractors"]} == {"pattern", "negated"} and mixtures_before > 0.05
    assert u["retrieval"]["accuracy"][2] >= 0.9  # 20% flips still repaired


def test_one_step_error_scenario_tracks_signal_to_noise(tmp_path):
    """VALIDATION item 2 through the capacity sweep (smaller than the shipped run)."""
    rc, r = _run_json(
        tmp_path,
        "basins",
        "one-step-error",
        "--set",
        "capacity.N=600",
        "--set",
        "capacity.loads=[0.185, 0.37]",
        "--set",
        "capacity.trials=150",
    )
    c = r["capacity"]
    assert c["method"] == "sync"
    for got, theory in zip(c["bit_error"], c["one_step_theory"]):
        assert abs(got - theory) / theory < 0.2, (got, theory)


def test_exponential_repair_scenario_against_the_nearest_neighbour_decoder(tmp_path):
    """VALIDATION item 7 on the shipped scenario, against the success rate of the
    nearest-neighbour decoder on the same starts (ties broken at random).
    Measured: one sweep repairs 0.98 / 0.94 / 0.83 at K = 256 / 1024 / 4096
    (decoder 0.99 / 0.99 / 0.98); the continuous counterpart 0.99 / 0.99 / 0.97.
    The ">= 99%" of VALIDATION.md is above the decoder at K = 4096."""
    rc, r = _run_json(
        tmp_path, "basins", "exponential-repair", "--set", "capacity.loads=[10.666666666666666, 170.66666666666666]"
    )
    c = r["capacity"]
    assert c["K"] == [256, 4096] and c["compare"]["method"] == "tsit5"
    assert c["exact"][0] >= 0.97 and c["exact"][1] >= 0.8
    for one_sweep, ode, ceiling in zip(c["exact"], c["compare"]["exact"], c["nearest_ceiling"]):
        assert one_sweep <= ceiling + 0.02 and ode <= ceiling + 0.02
        assert ode >= ceiling - 0.02  # the ODE decodes (almost) as well as the nearest neighbour


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dense-capacity-scaling", "mceliece-capacity", "capacity-classical-async"])
def test_shipped_capacity_studies(tmp_path, name):
    rc, r = _run_json(tmp_path, "basins", name)
    c = r["capacity"]
    if name == "dense-capacity-scaling":
        assert abs(c["scaling_exponent"] - 2) <= 0.2  # item 6, n = 3
    elif name == "mceliece-capacity":
        loads = np.array(c["loads"])
        exact = np.array(c["exact"])
        assert np.all(exact[loads <= 400 / (4 * np.log(400)) / 400 + 1e-9] == 1.0)  # item 4
        assert np.all(exact[loads <= 1 / (2 * np.log(400)) + 1e-9] >= 0.5)
    else:  # item 3: collapse between 0.13 and 0.16, discrete and continuous alike
        for run in (c, c["compare"]):
            ret = dict(zip(np.round(run["loads"], 3), run["retrieved"]))
            assert ret[0.1] >= 0.9 and ret[0.2] <= 0.2
