"""Performance machinery: the automatic solver choice, sharding across devices
(run in a subprocess with 4 virtual CPU devices), and `hopdyn bench`."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hopdyn as hd
from hopdyn.cli import main
from hopdyn.solvers import stiffness as _stiffness


def _dense(K, D, tau_m, beta, seed=0):
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], (K, D)) / np.sqrt(D)
    net = hd.Network(
        {"v": hd.Neuron(D, hd.Tanh(1.0)), "m": hd.Neuron(K, hd.Softmax(beta), tau_m)}, [hd.Dense(("m", "v"), xi)]
    )
    return net, xi


def test_spectral_radius_matches_the_jacobians_eigenvalues():
    net, xi = _dense(30, 20, 0.05, 20.0)
    x = {"v": np.sign(xi[0]) * 0.5, "m": np.zeros(30)}
    import jax

    field = lambda y: jax.numpy.concatenate([v.ravel() for v in net.vector_field({"v": y[:20], "m": y[20:]}).values()])
    J = np.asarray(jax.jacfwd(field)(np.concatenate([x["v"], x["m"]])))
    rho = np.max(np.abs(np.linalg.eigvals(J)))
    est = _stiffness.spectral_radius(net, x, iters=200)
    assert abs(est - rho) / rho < 0.05, (est, rho)


def _self_coupled_fast_layer(tau_m):
    """A fast tanh layer with a Hebbian self-coupling: its input depends on itself,
    so its stiffness is not the leak's alone."""
    rng = np.random.default_rng(2)
    xi = rng.choice([-1.0, 1.0], (3, 30))
    w = rng.normal(size=(30, 20)) / 20
    net = hd.Network(
        {"v": hd.Neuron(20, hd.Tanh(1.0)), "m": hd.Neuron(30, hd.Tanh(4.0), tau_m)},
        [hd.Dense(("m", "v"), w), hd.Hebbian(("m",), xi, 2.0)],
    )
    return net, {"v": rng.normal(size=20), "m": rng.normal(size=30) * 0.1}


def test_auto_choice_by_stiffness():
    start = lambda xi: {"v": np.sign(xi[0]), "m": np.zeros(30)}
    # couplings slower than the leaks (a soft memory): the exponential integrator
    net, xi = _dense(30, 20, 1.0, 1.0)
    c = _stiffness.choose_solver(net, start(xi))
    assert (
        c.method == "etd" and c.report["coupling_spectral_radius"] * c.report["slowest_tau"] <= _stiffness.SLOW_COUPLING
    )
    # a classical Hopfield network: the coupling W tanh(x) moves as fast as the leak
    rng = np.random.default_rng(0)
    hop = hd.Network({"s": hd.Neuron(40, hd.Tanh(2.0))}, [hd.Hebbian(("s",), rng.choice([-1.0, 1.0], (4, 40)))])
    assert _stiffness.choose_solver(hop, {"s": 0.01 * rng.normal(size=40)}).method == "tsit5"
    # stiff through a fast layer's leak, its input independent of itself: ETDRK4 at any tolerance
    stiff, _ = _dense(30, 20, 1e-3, 1.0)
    for rtol in (None, 1e-4):
        c = _stiffness.choose_solver(stiff, start(xi), rtol)
        assert c.report["stiffness_ratio"] > 100 * _stiffness.STIFF_RATIO and c.method == "etd"
        assert c.dtmax == _stiffness.ETD_DTMAX * 1.0  # twice the slowest tau
    assert "quasi-static" in c.report["hint"]
    # stiff through a self-coupled fast layer: explicit, PI control, capped steps; RKC2 at loose tolerances
    net, x0 = _self_coupled_fast_layer(1e-3)
    c = _stiffness.choose_solver(net, x0)
    assert c.report["stiffness_ratio"] > 10 * _stiffness.STIFF_RATIO and "hint" not in c.report
    assert (c.method, c.pcoeff, c.icoeff) == ("tsit5", 0.3, 0.3) and c.dtmax * c.report["spectral_radius"] == 2.0
    c = _stiffness.choose_solver(net, x0, rtol=1e-4)
    assert c.method == "rkc" and c.dtmax is None


@pytest.mark.parametrize("rtol", [1e-5, 1e-6])
def test_auto_solves_a_stiff_memory_to_the_reference_fixed_point(rtol):
    net, xi = _dense(120, 64, 0.02, 30.0)
    x0 = np.sign(xi[:4]).copy()
    x0[:, :6] *= -1
    tr = hd.simulate(net.astype("float32"), {"v": x0.astype("float32")}, t1=200.0, rtol=rtol, atol=rtol / 10, save=2)
    assert tr.solver_choice["stiffness_ratio"] > 10 and all(s == "steady_state" for s in tr.status_name)
    assert tr.method == "etd"
    reduced, _ = _dense(120, 64, 0.0, 30.0)  # the same fixed points, without the stiffness
    ref = hd.simulate(reduced, {"v": x0}, method="tsit5", t1=200.0, rtol=1e-10, atol=1e-12, save=2)
    np.testing.assert_allclose(np.asarray(tr.final_state["v"]), np.asarray(ref.final_state["v"]), atol=1e-4)


def test_sharded_and_unsharded_runs_agree(tmp_path):
    code = textwrap.dedent("""
        import json, jax
        jax.config.update("jax_enable_x64", True)
        import numpy as np, hopdyn as hd
        from hopdyn.solvers.sharding import shard_batch
        assert jax.device_count() == 4
        rng = np.random.default_rng(0)
        xi = rng.choice([-1.0, 1.0], (12, 40))
        net = hd.Network({"v": hd.Neuron(40, hd.Tanh(2.0)), "m": hd.Neuron(12, hd.Softmax(1.0), 0.5)}, [hd.Dense(("m", "v"), xi)])
        x0 = {"v": xi[np.arange(6) % 12] * 0.5 + 0.1 * rng.normal(size=(6, 40))}
        xs, n = shard_batch(net.init_state(x0))
        a = hd.simulate(net, x0, t1=50.0, shard=True)
        b = hd.simulate(net, x0, t1=50.0, shard=False)
        hop = hd.Network({"s": hd.Neuron(40, hd.Tanh(5.0))}, [hd.Hebbian(("s",), xi)])
        d1 = hd.simulate(hop, {"s": np.sign(x0["v"])}, method="async", seed=3, shard=True)
        d2 = hd.simulate(hop, {"s": np.sign(x0["v"])}, method="async", seed=3, shard=False)
        print(json.dumps({"devices": len(xs["v"].sharding.device_set), "padded": int(xs["v"].shape[0]), "batch": a.batch_size,
                          "diff": max(float(np.max(np.abs(np.asarray(a.final_state[k]) - np.asarray(b.final_state[k])))) for k in "vm"),
                          "same_status": a.status_name == b.status_name,
                          "discrete_equal": bool(np.array_equal(np.asarray(d1.x["s"]), np.asarray(d2.x["s"])))}))
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["devices"] == 4 and r["padded"] == 8 and r["batch"] == 6
    assert r["diff"] <= 1e-12 and r["same_status"] and r["discrete_equal"]


def test_bench_quick_writes_its_table_and_json(tmp_path, capsys):
    rc = main(["bench", "--quick", "--cases", "seed-dam", "--out", str(tmp_path)])
    assert rc == 0
    r = json.load(open(tmp_path / "bench.json"))
    assert r["matmul_peak_gflops"] > 0 and r["machine"]["cpu_count"] >= 1
    (case,) = r["cases"]
    h = case["hopdyn"]
    assert case["name"] == "seed-dam" and h["error"] < 1e-4 and h["same_fixed_point_as_reference"] == 1.0
    assert h["peak_product"] == [1, 30, 100]  # its bound measured on its own products: batch x D against K
    for k in ("diffrax", "euler_scan", "euler_scan_trajectory", "python_loop", "solve_ivp"):
        assert case["baselines"][k]["ratio"] > 0
    d = case["baselines"]["diffrax"]  # the hand-written Diffrax solve reaches the same end states
    assert d["same_end_states"] == 1.0 and d["steady"] == case["batch"] and d["steps_max"] > 0
    # Euler that only has to reach the end state needs far fewer, far longer steps
    # than Euler that follows the trajectory as closely as hopdyn does
    b = case["baselines"]
    assert b["euler_scan"]["dt"] >= 100 * b["euler_scan_trajectory"]["dt"]
    assert "| seed-dam |" in capsys.readouterr().out


def test_same_fixed_point_judges_distance_not_signs():
    from hopdyn.bench.harness import same_fixed_point

    ref = np.array([[1.0, -1.0, 1e-4], [0.5, 0.5, -0.5]])
    near = ref + np.array([[0.0, 0.0, -2e-4], [0.004, 0.0, 0.0]])  # a sign flip of a component near 0, a small shift
    other = ref * np.array([[1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])  # a different pattern in the first member
    assert same_fixed_point(near, ref) == 1.0
    assert same_fixed_point(other, ref) == 0.5


def test_bench_euler_tuning_rejects_a_diverged_run():
    """Euler at dt = 2 on a memory with tau_m = 0.05 overflows to NaN.  XLA's
    CPU max reduction, vectorised at D = 1024, skips NaN: the tuning once took
    the NaN state for an exact one (it tests every entry now)."""
    from hopdyn.bench import harness as _bench

    D, B = 1024, 4
    net, x0, xi = _bench.dense_memory(30, D, B, 0.05, 50.0, "float32")
    x0 = {k: np.asarray(v) for k, v in net.init_state(x0).items()}
    target = np.sign(xi[:B]) / np.sqrt(D)
    assert _bench.euler_steps_to(net, x0, 2.0, 8, {"v": target}, 1e-3) is None
    rows = np.broadcast_to(target, (_bench.TRAJ_ROWS + 1, B, D))
    fast, _, _ = _bench.dense_memory(30, D, B, 0.01, 50.0, "float32")
    assert not np.isfinite(_bench.euler_trajectory_error(fast, x0, 0.5, rows))  # dt / tau_m = 50: diverges
    assert np.isfinite(_bench.euler_trajectory_error(net, x0, 2**-7, rows))  # dt / tau_m = 0.16: stable


def test_bench_rejects_an_unknown_case(capsys):
    assert main(["bench", "--cases", "warp"]) == 2
    assert "--cases: unknown case 'warp'" in capsys.readouterr().err


def test_bench_measures_the_peak_beside_each_case_and_flags_a_fraction_above_it():
    """The matmul peak is sampled interleaved with the case's repeats (best of
    them); a GFLOP/s above it is a measurement fault, reported as such and not
    as a fraction of the peak (a busy machine once showed 178%)."""
    from hopdyn.bench import harness as _bench

    (net, x0), opts, fpe = (
        _bench.seed_dam("float32")[:2],
        dict(t1=100.0, rtol=1e-6, atol=1e-8, stiff=False),
        6 * 100 * 30,
    )
    calls = []

    def slow_peak():
        calls.append(1)
        return 1e-9  # a peak no solve can be below: every fraction would be above 1

    r = _bench.run_case(
        "seed-dam", net, x0, flops_per_eval=fpe, peak=slow_peak, baselines=(), log=lambda *a: None, **opts
    )
    h = r["hopdyn"]
    assert len(calls) >= 2 and h["matmul_peak_samples"] == len(calls)  # sampled beside the repeats
    assert h["fraction_of_matmul_peak"] is None and "above the matmul peak" in h["measurement_fault"]
    r = _bench.run_case(
        "seed-dam", net, x0, flops_per_eval=fpe, peak=lambda: 1e9, baselines=(), log=lambda *a: None, **opts
    )
    assert 0 < r["hopdyn"]["fraction_of_matmul_peak"] < 1 and "measurement_fault" not in r["hopdyn"]


@pytest.mark.parametrize("K,D,B", [(250, 256, 8), (100, 30, 1)])
def test_the_bench_counts_an_evaluation_as_its_products_and_little_else(K, D, B):
    """XLA's flops of one evaluation of the dense memory's field per member:
    its two products are 4 K D (closed form), the rest (tanh, softmax, leaks)
    a few flops per unit, so the count lies between 4 K D and 4 K D + 40 (K + D)."""
    from hopdyn.bench import harness as _bench

    net, x0, _ = _bench.dense_memory(K, D, B, 1.0, 10.0, "float32")
    f = _bench.field_flops(net, x0)
    assert 4 * K * D <= f <= 4 * K * D + 40 * (K + D)
