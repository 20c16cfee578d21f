"""Verification: each check must be able to fail, the shipped scenarios pass,
and stability verdicts agree with eigenvalues of independent finite-difference
Jacobians of hand-written vector fields."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import hopdyn as hd
from hopdyn.analysis import verify as _verify
from hopdyn.cli import main, shipped_dir

SHIPPED = sorted(p.stem for p in shipped_dir().glob("*.yaml"))
BROKEN = {"broken-asymmetric"}  # shipped to show a failing report


def _fd_jacobian(f, x, h=1e-6):
    n = len(x)
    J = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        J[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return J


def _n_unstable(J):
    return int(np.sum(np.linalg.eigvals(J).real > 1e-6))


# ------------------------------------------------------------------ checks that must fail
def test_non_convex_lagrangian_is_caught():
    # L'' = 1 - 3.6 x^2 + 3 x^4 < 0 for 0.66 < |x| < 0.87; a bias drives x from 0 to 1.5 through it.
    lag = lambda x: jnp.sum(0.5 * x**2 - 0.3 * x**4 + 0.1 * x**6)
    net = hd.Network({"a": hd.Neuron(1, lag)}, synapses=[hd.Bias(("a",), 1.5)])
    with pytest.warns(hd.LyapunovWarning):  # the plain call says so too (issue 28)
        tr = hd.simulate(net, {"a": [0.0]}, t1=30.0, dtype="float64")
    assert not bool(tr.descends)
    r = hd.verify(net, tr)
    assert not r["checks"]["convexity"] and not r["checks"]["lyapunov"]
    assert -0.08 - 1e-9 <= r["premises"]["convex"]["min_curvature"] < -0.03  # min of L'' is -0.08 at x^2 = 0.6
    assert "layer 'a' is not convex" in r["diagnosis"]
    assert r["checks"]["gradient"] and r["checks"]["bounded_below"]


def test_asymmetric_coupling_is_caught():
    W = np.array([[1.5, -4.0], [4.0, 1.5]])
    net = hd.Network({"s": hd.Neuron(2, hd.Tanh())}, synapses=[hd.Directed(("s", "s"), W)])
    with pytest.warns(hd.LyapunovWarning):
        tr = hd.simulate(net, {"s": [0.1, 0.0]}, t1=40.0, dtype="float64")
    r = hd.verify(net, tr, converged=True)
    assert not r["checks"]["gradient"] and not r["checks"]["lyapunov"] and not r["checks"]["converged"]
    assert "non-gradient" in r["diagnosis"] and "rose" in r["note"]
    # the only fixed point, the origin, is an unstable spiral: -I + W^T has eigenvalues 0.5 +- 4i
    fp = r["certificates"][0]["fixed_point"]
    assert fp["kind"] == "unstable" and fp["unstable_directions"] == 2


def test_weakly_asymmetric_coupling_still_flagged_though_energy_falls():
    W = np.array([[0.0, 0.3], [-0.3, 0.0]])
    net = hd.Network({"s": hd.Neuron(2, hd.Tanh())}, synapses=[hd.Directed(("s", "s"), W)])
    tr = hd.simulate(net, {"s": [1.0, -0.5]}, t1=40.0, dtype="float64")
    r = hd.verify(net, tr)
    assert not r["checks"]["gradient"]
    assert r["checks"]["lyapunov"] and "still fell" in r["note"]


def test_too_large_euler_step_on_a_stiff_network_is_caught():
    # A slow and a fast (tau = 0.01) identity layer; Euler with dt = 0.025 > 2 tau is unstable.
    net = hd.Network(
        {"a": hd.Neuron(3, hd.Identity(), 1.0), "b": hd.Neuron(3, hd.Identity(), 0.01)},
        synapses=[hd.Dense(("a", "b"), 0.5 * np.eye(3))],
    )
    x0 = {"a": [1.0, -1.0, 0.5], "b": [0.2, 0.0, -0.3]}
    with pytest.warns(hd.LyapunovWarning):
        tr = hd.simulate(
            net,
            x0,
            method="euler",
            dt=0.025,
            t1=1.0,
            steady_state=False,
            save=41,
            save_spacing="linear",
            dtype="float64",
        )
    r = hd.verify(net, tr)
    assert not r["checks"]["lyapunov"] and not bool(tr.descends)
    assert r["checks"]["convexity"] and r["checks"]["gradient"] and r["checks"]["bounded_below"]
    assert "numerical integration" in r["diagnosis"]
    # the same network with the default adaptive solver passes
    assert hd.verify(net, hd.simulate(net, x0, dtype="float64"))["checks"]["lyapunov"]


def test_solver_stopped_before_convergence_is_caught():
    net = hd.Network(
        {"v": hd.Neuron(4, hd.Sigmoid(0.5)), "m": hd.Neuron(3, hd.Softmax(1.0))},
        synapses=[hd.Dense(("m", "v"), np.arange(12.0).reshape(3, 4) / 12)],
    )
    r = hd.verify(net, hd.simulate(net, {"v": np.ones(4)}, t1=0.5, dtype="float64"), converged=True)
    assert r["certificates"][0]["status"] == "horizon" and not r["checks"]["converged"]
    assert not r["ok"]


# ------------------------------------------------------------------ shipped scenarios
# Capacity studies: their single run is one start; the sweep is what they are for.
STUDIES = {
    "one-step-error",
    "mceliece-capacity",
    "dense-capacity-scaling",
    "exponential-repair",
    "capacity-classical-async",
    "capacity-classical",
    "capacity-dense",
}


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in STUDIES])
def test_shipped_scenarios_verify(name, tmp_path):
    rc = main(["verify", name, "--out", str(tmp_path), "-q"])
    assert rc == (1 if name in BROKEN else 0)
    assert (tmp_path / "verify.json").is_file()


# ------------------------------------------------------------------ stability vs finite differences
def test_two_neuron_phase_points_agree_with_fd_eigenvalues():
    W = np.array([[0.0, 1.0], [1.0, 0.0]])
    net = hd.Network({"s": hd.Neuron(2, hd.Tanh(2.0))}, synapses=[hd.Dense(("s", "s"), W, scale=0.5)])
    a = brentq(lambda a: a - np.tanh(2 * a), 0.5, 2.0)
    field = lambda x: -x + W @ np.tanh(2 * x)  # hand-written
    # refined from rough guesses, they land on the closed-form points
    for guess, point, kind in (
        ([0.9, 1.1], [a, a], "stable"),
        ([-1.1, -0.8], [-a, -a], "stable"),
        ([0.05, -0.03], [0.0, 0.0], "saddle"),
    ):
        fp = _verify.fixed_point(net, {"s": np.array(guess)})
        assert fp["residual"] < 1e-12 and fp["kind"] == kind
        np.testing.assert_allclose(np.asarray(fp["state"]["s"]), point, atol=1e-10)
    for point, kind in (([a, a], "stable"), ([-a, -a], "stable"), ([0.0, 0.0], "saddle")):
        J = _fd_jacobian(field, np.array(point))
        fp = _verify.fixed_point(net, {"s": np.array(point)})
        assert fp["unstable_directions"] == _n_unstable(J)
        assert fp["kind"] == kind
        assert fp["max_real_eigenvalue"] == pytest.approx(np.linalg.eigvals(J).real.max(), abs=1e-6)


@pytest.mark.parametrize("which", ["pattern", "negation", "mixture"])
def test_classical_network_states_agree_with_fd_eigenvalues(which):
    # N = 200: at smaller N the crosstalk (pattern overlaps ~ 1/sqrt(N)) can remove
    # the symmetric mixture for a given sample; this one keeps it, as theory says
    # for 3-mixtures at low temperature (beta = 4) and load K/N = 0.015.
    N, K, beta = 200, 3, 4.0
    xi = np.random.default_rng(11).choice([-1.0, 1.0], (K, N))
    net = hd.Network({"s": hd.Neuron(N, hd.Tanh(beta))}, synapses=[hd.Hebbian(("s",), xi)])
    W = xi.T @ xi / N
    np.fill_diagonal(W, 0.0)
    field = lambda x: -x + W @ np.tanh(beta * x)  # hand-written
    # Newton from the mean-field local field of each state: h = xi for a pattern,
    # h = (xi1 + xi2 + xi3) / 2 for the symmetric 3-mixture (overlaps 1/2 each).
    guess = {"pattern": xi[0], "negation": -xi[0], "mixture": 0.5 * xi.sum(0)}[which]
    start = np.sign(guess)
    fp = _verify.fixed_point(net, {"s": guess.copy()})
    state = np.asarray(fp["state"]["s"])
    assert np.array_equal(np.sign(state), start)  # the fixed point keeps the start's signs
    J = _fd_jacobian(field, state)
    assert fp["unstable_directions"] == _n_unstable(J)
    assert fp["max_real_eigenvalue"] == pytest.approx(np.linalg.eigvals(J).real.max(), abs=1e-5)
    if which in ("pattern", "negation"):
        assert fp["kind"] == "stable"  # stored patterns and their mirror images are attractors
    else:
        assert fp["kind"] == "stable"  # a spurious attractor (seed 002, Amit et al.)


def test_degenerate_line_attractor_reports_its_dimension():
    # E = 1/2|x|^2 - x1 x2: every point on x1 = x2 is a fixed point (a line).
    net = hd.Network(
        {"s": hd.Neuron(2, hd.Identity())}, synapses=[hd.Dense(("s", "s"), [[0.0, 1.0], [1.0, 0.0]], scale=0.5)]
    )
    fp = _verify.fixed_point(net, {"s": np.array([0.7, 0.7])})
    assert fp["kind"] == "degenerate" and fp["manifold_dimension"] == 1


def test_softmax_shift_is_a_flat_direction_not_instability():
    net = hd.Network(
        {"v": hd.Neuron(5, hd.Sigmoid(0.5)), "m": hd.Neuron(4, hd.Softmax(2.0))},
        synapses=[hd.Dense(("m", "v"), np.random.default_rng(0).uniform(0, 1, (4, 5)))],
    )
    tr = hd.simulate(net, {"v": np.ones(5)}, dtype="float64")
    fp = _verify.fixed_point(net, {k: np.asarray(v) for k, v in tr.final_state.items()})
    assert fp["kind"] == "stable"
    assert fp["flat_directions"] >= 1


def test_nearest_pattern_names_the_retrieved_glyph(tmp_path):
    import json

    main(["verify", "pattern-completion", "--out", str(tmp_path), "-q"])
    r = json.loads((tmp_path / "verify.json").read_text())
    for cert, k in zip(r["certificates"], [0, 3, 6, 9]):
        assert cert["nearest"]["pattern"] == k and cert["nearest"]["overlap"] > 0.99
        assert cert["fixed_point"]["kind"] == "stable"


def _member(E, terms, dtype="float32"):
    """A stand-in for a member trajectory: saved energies, their terms, dE/dt < 0."""
    from types import SimpleNamespace

    n = len(E)
    return SimpleNamespace(
        ts=np.arange(n, dtype=dtype),
        energy=np.asarray(E, dtype),
        energy_terms={k: np.asarray(v, dtype) for k, v in terms.items()},
        dEdt=-np.ones(n, dtype),
        dEdt_scale=np.ones(n, dtype),
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_rise_allowance_follows_the_terms_summed_not_the_total(dtype):
    eps = float(np.finfo(dtype).eps)
    big = {"s": [1e4, 1e4], "synapse:0": [-1e4 + 212, -1e4 + 212]}  # a total of 212 made of terms of 10^4
    # a rise of 1.02 x 16 eps |E| (what another CPU's rounding produced) must pass ...
    rise = 1.02 * 16 * eps * 212
    ok = _verify.energy_descent([_member([212.0, 212.0 + rise], big, dtype)], tolerance=0.0)
    assert ok["ok"] and ok["rise_tolerance"] >= 16 * eps * 3.9e4  # both rows: 1e4 + 9788 each
    # ... and a rise beyond the rounding of the terms must not
    bad = _verify.energy_descent([_member([212.0, 212.0 + 40 * 16 * eps * 2e4], big, dtype)], tolerance=0.0)
    assert not bad["ok"] and bad["rise_excess"] > 0
    # with terms no larger than the total, the allowance is what it was
    small = {"s": [212.0, 212.0]}
    assert not _verify.energy_descent([_member([212.0, 212.0 + rise * 3], small, dtype)], tolerance=0.0)["ok"]


def test_a_float32_verification_in_a_session_without_x64_passes_a_correct_network(tmp_path):
    """verify's float64 refinements ran in float32 when JAX's x64 was off (the
    default in Python), so Newton residuals and curvatures were judged by
    float64 tolerances: 4 of these 16 members got 'no fixed point'.  Run in a
    fresh interpreter, where x64 is off."""
    import subprocess
    import sys

    script = tmp_path / "f32.py"
    script.write_text(
        "import json, warnings\n"
        "import jax, jax.numpy as jnp, numpy as np\n"
        "import hopdyn as hd\n"
        "assert not jax.config.jax_enable_x64\n"
        "xi = np.random.default_rng(0).choice([-1.0, 1.0], (3, 40))\n"
        "net = hd.Network({'s': hd.Neuron(40, lambda x: jnp.sum(jnp.log(jnp.cosh(3 * x))) / 3)}, [hd.Hebbian(('s',), xi)])\n"
        "traj = hd.simulate(net, {'s': hd.corrupted_starts(xi, [0.1], 16)[0]}, rtol=1e-6, atol=1e-8)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    rep = hd.verify(net, traj, stable=True, fixed_point_residual=1e-6)\n"
        "print(json.dumps({'ok': rep['ok'], 'kinds': rep['fixed_points'], 'warnings': len(w),\n"
        "                  'dtype': str(traj.energy.dtype)}))\n"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r == {"ok": True, "kinds": {"stable": 16}, "warnings": 0, "dtype": "float32"}, out.stderr[-2000:]
