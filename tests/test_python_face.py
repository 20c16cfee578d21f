"""The Python face keeps the command line's promises (issue 28): ``simulate``
composes with ``jax.jit``, ``jax.vmap`` and ``jax.grad``; constructors check
their arguments against the schema's constraints; the Lyapunov verdict travels
in the ``Trajectory`` and a rising energy warns; one public API, one version.

Gradients are checked against float64 central differences of the plain call
(an independent estimate: no autodiff), jitted and vmapped results against
the plain, batched call."""

import importlib.metadata
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopdyn as hd

# ------------------------------------------------------------------ networks


def small_memory(beta=2.0, seed=0):
    """A tanh layer with Hebbian weights of 3 patterns and a softmax memory layer."""
    rng = np.random.default_rng(seed)
    X = np.sign(rng.normal(size=(3, 8)))
    return hd.Network(
        {"v": hd.Neuron(8, hd.Tanh(beta)), "m": hd.Neuron(3, hd.Softmax(2.0), tau=0.5)},
        [hd.Dense(("m", "v"), X)],
    ), X


def settings(method, steady):
    kw = dict(method=method, t1=3.0 if not steady else 500.0, rtol=1e-10, atol=1e-12, dtype="float64", save=2)
    return hd.SolveSettings(steady_state=hd.SteadyState(1e-11, 1e-13) if steady else False, **kw)


def x0(seed=1, batch=None):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.5, (8,) if batch is None else (batch, 8))


# ------------------------------------------------------------------ 1. transformations
@pytest.mark.parametrize("method", ["tsit5", "etd", "rkc"])
def test_jit_gives_the_plain_numbers(method):
    net, _ = small_memory()
    s = settings(method, steady=False)
    plain = hd.simulate(net, {"v": x0()}, s)
    jitted = jax.jit(lambda v: hd.simulate(net, {"v": v}, s))(jnp.asarray(x0()))
    np.testing.assert_allclose(np.asarray(jitted.final_state["v"]), np.asarray(plain.final_state["v"]), rtol=1e-10)
    np.testing.assert_allclose(float(jitted.final_energy), float(plain.final_energy), rtol=1e-10)
    assert int(jitted.status) == int(plain.status)


def test_a_jitted_horizon_is_an_array_and_gives_each_plain_call():
    """``t1`` may be traced (a new horizon never recompiles: the live page's
    model time per frame); the saved times follow it, and each value gives the
    plain call's end state."""
    net, _ = small_memory()
    s = settings("tsit5", steady=False)
    traces = []

    @jax.jit
    def solve(t1):
        traces.append(t1)
        traj = hd.simulate(net, {"v": jnp.asarray(x0())}, s, t1=t1, save=3, save_spacing="linear")
        return traj.final_state["v"], traj.ts

    for t1 in (0.5, 2.0):
        plain = hd.simulate(net, {"v": x0()}, s, t1=t1, save=3, save_spacing="linear")
        end, ts = solve(jnp.asarray(t1))
        np.testing.assert_allclose(np.asarray(end), np.asarray(plain.final_state["v"]), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(ts)[:3], [0.0, t1 / 2, t1], rtol=1e-12)
    assert len(traces) == 1  # one trace for both horizons
    with pytest.raises(hd.SettingsError, match="t1"):  # concrete values are still checked
        hd.SolveSettings(t1=-1.0)


def test_vmap_over_starts_is_the_batched_call():
    net, _ = small_memory()
    s = settings("tsit5", steady=True)
    starts = x0(batch=5)
    batched = hd.simulate(net, {"v": starts}, s)
    mapped = jax.vmap(lambda v: hd.simulate(net, {"v": v}, s))(jnp.asarray(starts))
    np.testing.assert_allclose(np.asarray(mapped.final_state["v"]), np.asarray(batched.final_state["v"]), rtol=1e-9)
    np.testing.assert_array_equal(np.asarray(mapped.status), np.asarray(batched.status))


def test_the_field_is_traced_once_per_solve_not_once_per_stage():
    """Each Tsit5 step evaluates the field six times, and ``grad`` linearizes
    every evaluation: one trace of the field (and one linearization of it)
    serves them all (measured without it: 22 traces of the field, forward and
    under ``grad``; with it: 3)."""
    net, _ = small_memory()
    s = settings("tsit5", steady=False)

    def counted():  # a new network whose custom synapse counts the traces of its energy
        calls = []

        def coupling(v, m):
            calls.append(1)
            return 0.01 * jnp.sum(v[:3] * m)

        return hd.Network(net.neurons, [*net.synapses, (coupling, ("v", "m"))]), calls

    n, calls = counted()
    jax.make_jaxpr(lambda v: hd.simulate(n, {"v": v}, s).final_energy)(jnp.asarray(x0()))
    assert 1 <= len(calls) <= 3, len(calls)  # the step's field, the first step's, the end state's energy
    n, calls = counted()
    jax.make_jaxpr(jax.grad(lambda v: hd.simulate(n, {"v": v}, s).final_energy))(jnp.asarray(x0()))
    assert 1 <= len(calls) <= 3, len(calls)


def test_vmap_over_a_gain_and_a_tolerance_is_each_call_alone():
    net, _ = small_memory()
    s = settings("tsit5", steady=False)
    betas = jnp.asarray([0.5, 1.0, 3.0])

    def at(beta):
        n = hd.Network({"v": hd.Neuron(8, hd.Tanh(beta)), "m": net.neurons["m"]}, net.synapses)
        return hd.simulate(n, {"v": x0()}, s).final_energy

    mapped = jax.vmap(at)(betas)
    for b, e in zip(np.asarray(betas), np.asarray(mapped)):
        n = hd.Network({"v": hd.Neuron(8, hd.Tanh(float(b))), "m": net.neurons["m"]}, net.synapses)
        assert e == pytest.approx(float(hd.simulate(n, {"v": x0()}, s).final_energy), rel=1e-9)
    rtols = jnp.asarray([1e-4, 1e-8])
    tol = jax.vmap(lambda r: hd.simulate(net, {"v": x0()}, hd.SolveSettings(**{**_fields(s), "rtol": r})).n_steps)(
        rtols
    )
    assert int(tol[0]) < int(tol[1])  # a looser tolerance takes fewer steps


def _fields(s):
    import dataclasses

    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


def _central(f, x, h=1e-6, only=None):
    """Central differences of ``f`` at ``x`` (every entry, or the indices ``only``)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in only or list(np.ndindex(x.shape)):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("method", ["tsit5", "etd", "rkc"])
@pytest.mark.parametrize("steady", [False, True], ids=["horizon", "steady"])
def test_gradients_through_simulate_agree_with_central_differences(method, steady):
    """At a horizon the end state depends on every start; at a steady state the
    attractor does not move with a free layer's start, so there the input layer
    is clamped (its start is the input the steady state depends on)."""
    net, X = small_memory()
    if steady:
        net = net.clamp("v")
    s = settings(method, steady)

    def loss(v, W):  # one loss of the start and the weights: one gradient program for both
        n = hd.Network(net.neurons, [hd.Dense(("m", "v"), W)], net.clamps)
        tr = hd.simulate(n, {"v": v}, s)
        return jnp.sum(tr.final_xhat["m"] * jnp.asarray([1.0, -2.0, 0.5])) + 0.1 * jnp.sum(
            tr.final_xhat["v"] * jnp.arange(1.0, 9.0)
        )

    g, gw = (np.asarray(a) for a in jax.grad(loss, argnums=(0, 1))(jnp.asarray(x0()), jnp.asarray(X)))
    ref = _central(lambda v: float(loss(jnp.asarray(v), jnp.asarray(X))), x0(), h=1e-5)
    assert np.max(np.abs(ref)) > 1e-3  # a gradient worth comparing
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6 * np.max(np.abs(ref)) + 1e-8)
    some = [(0, 0), (1, 3), (2, 7), (0, 5), (2, 2)]  # a few entries: each costs two solves
    refw = _central(lambda W: float(loss(jnp.asarray(x0()), jnp.asarray(W))), X, h=1e-5, only=some)
    rows, cols = zip(*some)
    assert np.max(np.abs(refw[rows, cols])) > 1e-4
    np.testing.assert_allclose(gw[rows, cols], refw[rows, cols], rtol=1e-4, atol=1e-6 * np.max(np.abs(refw)) + 1e-9)


def test_forward_mode_with_its_adjoint():
    import diffrax as dfx

    net, _ = small_memory()
    s = settings("tsit5", steady=False)
    f = lambda v: hd.simulate(net, {"v": v}, s, adjoint=dfx.ForwardMode()).final_xhat["v"]  # noqa: E731
    J = jax.jacfwd(f)(jnp.asarray(x0()))
    Jr = jax.jacrev(lambda v: hd.simulate(net, {"v": v}, s).final_xhat["v"])(jnp.asarray(x0()))
    np.testing.assert_allclose(np.asarray(J), np.asarray(Jr), rtol=1e-7, atol=1e-10)


def test_auto_under_a_transformation_asks_for_a_method():
    net, _ = small_memory()
    with pytest.raises(hd.SettingsError, match="method"):
        jax.jit(lambda v: hd.simulate(net, {"v": v}, hd.SolveSettings(method="auto")).final_energy)(jnp.asarray(x0()))


def test_a_discrete_rule_under_grad_is_a_clear_error():
    net = hd.Network({"s": hd.Neuron(8, hd.Tanh(10.0))}, [hd.Hebbian(("s",), np.sign(np.eye(2, 8) - 0.5))])
    s = hd.SolveSettings(method="async", max_sweeps=5)
    with pytest.raises(hd.SettingsError, match="discrete"):
        jax.grad(lambda v: hd.simulate(net, {"s": v}, s).final_energy)(jnp.ones(8))


# ------------------------------------------------------------------ 2. constructors
@pytest.mark.parametrize(
    "make, where",
    [
        (lambda: hd.Tanh(beta=-1.0), "Tanh.beta: should be > 0 (got -1.0)"),
        (lambda: hd.Tanh(beta="high"), "Tanh.beta: should be a number"),
        (lambda: hd.Softmax(beta=float("nan")), "Softmax.beta: should be finite"),
        (lambda: hd.Sigmoid(beta=0.0), "Sigmoid.beta: should be > 0"),
        (lambda: hd.Dense(("a", "b"), "weights"), "Dense.weights: should be an array of numbers"),
        (lambda: hd.Hebbian(("a",), np.array([[1.0, np.inf]])), "Hebbian.patterns: should be finite"),
        (lambda: hd.Dense(("a", "b"), np.ones((2, 2)), scale=float("inf")), "Dense.scale: should be finite"),
        (lambda: hd.Neuron(4, hd.Tanh(), tau=-1.0), "tau"),
    ],
)
def test_constructors_keep_the_schemas_promises(make, where):
    with pytest.raises(hd.HopdynError) as e:
        make()
    assert where in str(e.value)
    assert "Traceback" not in str(e.value) and "\n" not in str(e.value)


def test_checks_leave_transformations_over_parameters_alone():
    grad = jax.grad(lambda b: hd.Tanh(b)(jnp.ones(3)))(2.0)
    assert np.isfinite(float(grad))
    out = jax.vmap(lambda b: hd.Tanh(b).activation(jnp.ones(2)))(jnp.asarray([0.5, 1.0]))
    np.testing.assert_allclose(np.asarray(out), np.tanh(np.asarray([[0.5, 0.5], [1.0, 1.0]])), rtol=1e-6)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda n: hd.basins(n, "abc", layer="v"), "starts"),
        (lambda n: hd.basins(n, np.zeros((2, 8)), layer="v", keep_states="no"), "keep_states"),
        (lambda n: hd.basins(n, np.zeros((2, 8)), layer="v", classify=-1), "classify"),
        (lambda n: hd.basins(n, np.zeros((2, 8)), layer="v", classify=2.5), "classify"),
        (lambda n: hd.simulate(n, "abc"), "x0"),
        (lambda n: hd.equilibrium(n, "abc"), "x0"),
        (lambda n: hd.equilibrium(n, {"v": np.full(8, np.nan)}, method="tsit5"), "x0"),
        (
            lambda n: hd.continuation(
                n, lambda m: m.neurons["v"].lagrangian.beta, ["abc"], np.zeros((2, 8)), layer="v"
            ),
            "values",
        ),
    ],
)
def test_public_functions_name_the_bad_argument(call, argument):
    net, _ = small_memory()
    with pytest.raises(hd.HopdynError) as e:
        call(net)
    assert argument in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ 3. the Lyapunov promise
def concave_network():
    """A custom Lagrangian that is concave (-1/2 |x|^2): the energy rises."""
    return hd.Network(
        {"v": hd.Neuron(4, hd.CustomLagrangian(lambda x: -0.5 * jnp.sum(x * x)))},
        [hd.Bias(("v",), 1.0)],
    )


def test_a_rising_energy_warns_and_travels_in_the_trajectory():
    net = concave_network()
    s = hd.SolveSettings(method="tsit5", t1=1.0, dtype="float64", steady_state=False, save=20)
    with pytest.warns(hd.LyapunovWarning, match="rises"):
        tr = hd.simulate(net, {"v": np.full(4, 0.1)}, s)
    assert not bool(tr.descends)
    E = np.asarray(tr.energy)
    assert float(tr.max_rise) == pytest.approx(np.max(np.diff(E)), rel=1e-12)  # plain numpy on the saved energies
    jitted = jax.jit(lambda v: hd.simulate(net, {"v": v}, s))(jnp.full(4, 0.1))
    assert not bool(jitted.descends)  # under jit the verdict travels, no warning needed


def test_a_descending_energy_does_not_warn():
    net, _ = small_memory()
    with warnings.catch_warnings():
        warnings.simplefilter("error", hd.LyapunovWarning)
        tr = hd.simulate(net, {"v": x0(batch=3)}, settings("tsit5", steady=True))
    assert np.all(np.asarray(tr.descends))
    from hopdyn.analysis.verify import energy_descent

    assert energy_descent(tr.members())["ok"]


# ------------------------------------------------------------------ 4. one public API
def test_train_is_public_and_every_public_name_is_on_the_api_page():
    from pathlib import Path

    assert callable(hd.train)
    page = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    missing = [name for name in hd.__all__ if f"hopdyn.{name}" not in page]
    assert missing == []
    assert sorted(hd.__all__) == sorted(set(hd.__all__))


def test_the_version_is_one():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hopdyn.cli", "--version"], capture_output=True, text=True)
    assert hd.__version__ == importlib.metadata.version("hopdyn")
    assert hd.__version__ in out.stdout


def test_the_transforms_bench_compares_the_same_numbers():
    from hopdyn.bench.transforms import transforms_bench

    r = transforms_bench(quick=True, log=lambda *a: None)
    assert r["max_abs_difference"] <= 1e-5 and r["ratio"] > 0  # times are reported, never asserted


# ------------------------------------------------------------------ 5. docstrings
ENTRY_POINTS = (
    "simulate",
    "equilibrium",
    "basins",
    "continuation",
    "train",
    "capacity",
    "verify",
    "SolveSettings",
    "SteadyState",
)


def test_every_public_name_has_a_diffrax_style_docstring():
    """Every public function and class says its arguments (or, for results, its
    attributes); the entry points also what they return and raise."""
    import inspect

    missing = []
    for n in hd.__all__:
        o = getattr(hd, n)
        if not (inspect.isfunction(o) or inspect.isclass(o)) or (
            inspect.isclass(o) and issubclass(o, (Exception, Warning))
        ):
            continue
        doc = inspect.getdoc(o) or ""
        if "**Arguments:**" not in doc and "**Attributes:**" not in doc:
            missing.append(n)
    assert missing == []
    for n in ("simulate", "equilibrium", "basins", "continuation", "train", "capacity"):
        doc = inspect.getdoc(getattr(hd, n))
        assert "**Returns:**" in doc and "**Raises:**" in doc, n
    # generated from the annotations the schema reads: the constraint is in the text
    assert "(> 0, finite; default ``1.0``)" in inspect.getdoc(hd.Tanh)
    assert "(> 0, finite; default ``0.01``)" in inspect.getdoc(hd.TrainSettings)


def test_train_settings_are_checked_where_they_are_made():
    for kw, where in (
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(loss="x"), "loss"),
        (dict(epochs=0), "epochs"),
    ):
        with pytest.raises(hd.HopdynError, match=f"TrainSettings.{where}"):
            hd.TrainSettings(**kw)


def test_a_quasi_static_layer_under_jit_and_grad():
    """A memory layer with tau = 0 is equilibrated inside every field evaluation;
    the transformed solve gives the plain numbers and central-difference gradients."""
    rng = np.random.default_rng(0)
    X = np.sign(rng.normal(size=(3, 8)))
    net = hd.Network(
        {"v": hd.Neuron(8, hd.Tanh(2.0)), "m": hd.Neuron(3, hd.Softmax(2.0), tau=0.0)}, [hd.Dense(("m", "v"), X)]
    )
    assert net.neurons["m"].quasi_static
    s = settings("tsit5", steady=False)
    f = lambda v: hd.simulate(net, {"v": v}, s).final_energy  # noqa: E731
    assert float(jax.jit(f)(jnp.asarray(x0()))) == pytest.approx(float(f(jnp.asarray(x0()))), rel=1e-10)
    g = jax.grad(f)(jnp.asarray(x0()))
    ref = _central(lambda v: float(f(jnp.asarray(v))), x0(), h=1e-5)
    np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-4, atol=1e-6 * np.max(np.abs(ref)) + 1e-9)
