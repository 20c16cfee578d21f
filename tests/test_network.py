"""The network's energy and vector field against hand derivations; clamps; construction errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopdyn as hd
from helpers import lagrangian_cases, seed000, seed000_field, seed001, seed001_field, softmax


@pytest.mark.parametrize("kind", ["chn", "dam"])
def test_seed000_vector_field_matches_hand_derivation(kind):
    net, x0, Xi = seed000(kind, tau_v=2.0, tau_m=0.5)
    net = net.astype("float64")
    rng = np.random.default_rng(0)
    for _ in range(3):
        v, m = rng.normal(0, 5, 30), rng.normal(0, 1, 100)
        got = net.vector_field({"v": jnp.asarray(v), "m": jnp.asarray(m)})
        dv, dm = seed000_field(kind, Xi, v, m, tau_v=2.0, tau_m=0.5)
        np.testing.assert_allclose(np.asarray(got["v"]), dv, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(got["m"]), dm, rtol=1e-12, atol=1e-12)


def test_seed000_energy_matches_hand_formula():
    net, x0, Xi = seed000("dam")
    net = net.astype("float64")
    v, m = x0["v"], x0["m"]
    D = 30
    vhat, mhat = 1 / (1 + np.exp(-v / (2 * D))), softmax(m)
    Lv = 2 * D * np.sum(np.log1p(np.exp(v / (2 * D))))
    Lm = np.log(np.sum(np.exp(m)))
    E = (vhat @ v - Lv) + (mhat @ m - Lm) - mhat @ Xi @ vhat
    np.testing.assert_allclose(float(net.energy({"v": jnp.asarray(v), "m": jnp.asarray(m)})), E, rtol=1e-12)


def test_seed001_vector_field_matches_hand_derivation():
    net, x0, th_img, th_lab = seed001()
    net = net.astype("float64")
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y, z = rng.normal(0, 1, 20), rng.normal(0, 1, 3), rng.normal(0, 1, 6)
        got = net.vector_field({"x": jnp.asarray(x), "y": jnp.asarray(y), "z": jnp.asarray(z)})
        dx, dy, dz = seed001_field(th_img, th_lab, x, y, z)
        for k, want in zip("xyz", (dx, dy, dz)):
            np.testing.assert_allclose(np.asarray(got[k]), want, rtol=1e-11, atol=1e-11)


def test_energy_terms_sum_to_total_and_are_named():
    net, x0, _, _ = seed001()
    net = net.astype("float64")
    terms = net.energy_terms(net.init_state(x0))
    assert list(terms) == ["x", "y", "z", "synapse:0", "synapse:1"]
    np.testing.assert_allclose(sum(float(v) for v in terms.values()), float(net.energy(net.init_state(x0))), rtol=1e-12)


def test_hebbian_energy_equals_weight_matrix_form():
    rng = np.random.default_rng(2)
    xi = rng.choice([-1.0, 1.0], (5, 40))
    syn = hd.Hebbian(("s",), xi)
    W = xi.T @ xi / 40
    np.fill_diagonal(W, 0)
    np.testing.assert_allclose(np.asarray(syn.weights()), W, atol=1e-12)
    y = rng.uniform(-1, 1, 40)
    np.testing.assert_allclose(float(syn(jnp.asarray(y))), -0.5 * y @ W @ y, rtol=1e-10)


def test_similarity_energies_match_formulas():
    rng = np.random.default_rng(3)
    xi, y = rng.choice([-1.0, 1.0], (6, 10)), rng.uniform(-1, 1, 10)
    s = xi @ y
    np.testing.assert_allclose(float(hd.Polynomial(("a",), xi, n=3)(jnp.asarray(y))), -np.sum(s**3), rtol=1e-10)
    np.testing.assert_allclose(
        float(hd.Polynomial(("a",), xi, n=3, rectified=True)(jnp.asarray(y))),
        -np.sum(np.maximum(s, 0) ** 3),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        float(hd.Exponential(("a",), xi, beta=0.7)(jnp.asarray(y))), -np.sum(np.exp(0.7 * s)), rtol=1e-10
    )
    lse = np.log(np.sum(np.exp(0.7 * s))) / 0.7
    np.testing.assert_allclose(
        float(hd.Exponential(("a",), xi, beta=0.7, logsumexp=True)(jnp.asarray(y))), -lse, rtol=1e-10
    )


def test_vector_field_is_gradient_of_energy_with_respect_to_activations():
    """Independent of the code path: finite differences of the total energy
    written as a function of (xhat, x)."""
    net, x0, th_img, th_lab = seed001()
    net = net.astype("float64")
    x = net.init_state(x0)
    xhat = net.activations(x)
    f = net.vector_field(x)
    eps = 1e-6
    for name, tau in (("x", 1.0), ("y", 0.5), ("z", 0.1)):
        for i in range(3):
            up = dict(xhat)
            dn = dict(xhat)
            up[name] = xhat[name].at[i].add(eps)
            dn[name] = xhat[name].at[i].add(-eps)
            fd = (float(net._energy(up, x)) - float(net._energy(dn, x))) / (2 * eps)
            np.testing.assert_allclose(float(f[name][i]), -fd / tau, rtol=1e-6, atol=1e-6)


def test_clamped_layer_and_mask():
    net, x0, _, _ = seed001()
    x = net.init_state(x0)
    f = net.clamp("y").vector_field(x)
    assert np.all(np.asarray(f["y"]) == 0) and np.any(np.asarray(f["x"]) != 0)
    mask = np.zeros(20, bool)
    mask[:10] = True
    f = net.clamp(x=mask).vector_field(x)
    assert np.all(np.asarray(f["x"])[:10] == 0) and np.all(np.asarray(f["x"])[10:] != 0)
    # clamped parts still contribute energy
    assert float(net.clamp("y").energy(x)) == float(net.energy(x))


def test_batched_state_via_vmap():
    net, x0, _, _ = seed001()
    rng = np.random.default_rng(0)
    xb = net.init_state({"x": rng.normal(size=(4, 20))})
    assert net.batch_size(xb) == 4 and xb["y"].shape == (4, 3)
    Eb = jax.vmap(net.energy)(xb)
    for i in range(4):
        np.testing.assert_allclose(float(Eb[i]), float(net.energy(jax.tree.map(lambda a: a[i], xb))), rtol=1e-6)


# ------------------------------------------------------------ construction errors
def _two_layers(**kw):
    return dict(neurons={"v": hd.Neuron(3, hd.Sigmoid()), "m": hd.Neuron(2, hd.Softmax())}, **kw)


def test_unknown_neuron_in_synapse():
    with pytest.raises(hd.NetworkError, match=r"synapses\[0\]\.connects: dense: unknown neuron 'w'"):
        hd.Network(**_two_layers(synapses=[hd.Dense(("m", "w"), np.ones((2, 3)))]))


def test_weight_shape_mismatch():
    with pytest.raises(hd.NetworkError, match=r"synapses\[1\]\.weights: dense: shape \(3, 2\) does not match"):
        hd.Network(**_two_layers(synapses=[hd.Bias(("v",), 0.1), hd.Dense(("m", "v"), np.ones((3, 2)))]))
    with pytest.raises(hd.NetworkError, match=r"synapses\[0\]\.patterns: l2_memory: 4 memories"):
        hd.Network(**_two_layers(synapses=[hd.L2Memory(("v", "m"), np.ones((4, 3)))]))


@pytest.mark.parametrize("tau", [-1.0, float("nan"), float("inf")])
def test_bad_tau(tau):
    with pytest.raises(hd.NetworkError, match=r"Neuron\.tau: should be (>= 0|finite)"):
        hd.Neuron(3, hd.Identity(), tau)


def test_tau_zero_is_quasi_static_but_not_everywhere():
    assert hd.Neuron(3, hd.Identity(), 0.0).quasi_static
    with pytest.raises(hd.NetworkError, match="every layer has tau = 0"):
        hd.Network({"a": hd.Neuron(3, hd.Identity(), 0.0)})


def test_non_finite_weights():
    w = np.ones((2, 3))
    w[1, 2] = np.nan
    with pytest.raises(hd.NetworkError, match=r"Dense\.weights: should be finite"):
        hd.Network(**_two_layers(synapses=[hd.Dense(("m", "v"), w)]))


def test_wrong_arity_and_bad_clamp():
    with pytest.raises(hd.NetworkError, match=r"synapses\[0\]\.connects: dense: connects 1 layers, expected 2"):
        hd.Network(**_two_layers(synapses=[hd.Dense(("m",), np.ones((2, 3)))]))
    with pytest.raises(hd.NetworkError, match="clamps.q: unknown neuron 'q'"):
        hd.Network(**_two_layers(), clamps={"q": True})
    with pytest.raises(hd.NetworkError, match=r"clamps.v: mask has shape \(2,\), expected \(3,\)"):
        hd.Network(**_two_layers()).clamp(v=np.ones(2, bool))


def test_bad_initial_state():
    net = hd.Network(**_two_layers())
    with pytest.raises(hd.NetworkError, match="x0.q: unknown neuron 'q'"):
        net.init_state({"q": np.zeros(3)})
    with pytest.raises(hd.NetworkError, match=r"x0.v: has shape \(4,\)"):
        net.init_state({"v": np.zeros(4)})


def test_user_callable_synapse():
    net = hd.Network(
        {"a": hd.Neuron(2, hd.Identity())},
        synapses=[(lambda a: 0.5 * jnp.sum((a - 1.0) ** 2), ("a",))],
    )
    x = {"a": jnp.asarray([0.0, 3.0])}
    # dE/dxhat = x + (xhat - 1) with xhat = x  ->  dx/dt = -(2x - 1)
    np.testing.assert_allclose(np.asarray(net.vector_field(x)["a"]), [1.0, -5.0], rtol=1e-6)


class _SkewedTanh(hd.Tanh):
    """An activation that is *not* the Lagrangian's gradient (a user subclass
    gone wrong): the energy's rate must still be exact."""

    def activation(self, x):
        return jnp.tanh(1.1 * self.beta * x)


def _rate_network(lag, directed: bool, seed=0):
    rng = np.random.default_rng(seed)
    syn = [
        hd.Dense(("a", "b"), rng.normal(0, 0.4, (6, 4))),
        hd.Bias(("a",), rng.normal(0, 0.5, 6)),
        hd.Hebbian(("a",), rng.choice([-1.0, 1.0], (2, 6)), scale=0.3),
    ]
    if directed:
        syn.append(hd.Directed(("b", "a"), rng.normal(0, 0.5, (4, 6))))
    net = hd.Network({"a": hd.Neuron(6, lag, 0.7), "b": hd.Neuron(4, hd.Softmax(2.0), 0.3)}, syn).astype("float64")
    return net, {"a": jnp.asarray(rng.normal(0, 1.5, 6)), "b": jnp.asarray(rng.normal(0, 1, 4))}


@pytest.mark.parametrize("directed", [False, True], ids=["gradient", "directed"])
@pytest.mark.parametrize("name,lag", lagrangian_cases() + [("skewed-tanh", _SkewedTanh(1.5))])
def test_dEdt_is_the_energy_rate_along_the_flow(name, lag, directed):
    """``dEdt`` against a central difference of ``E`` along ``dx/dt`` (float64),
    and for gradient networks with consistent activations against DESIGN's
    ``-sum_a tau_a xdot_a^T H_a xdot_a`` (Hessians by ``jax.hessian`` of ``L``)."""
    net, x = _rate_network(lag, directed)
    xdot = net.vector_field(x)
    h = 1e-5
    shift = lambda s: {k: x[k] + s * h * xdot[k] for k in x}
    fd = (float(net.energy(shift(1))) - float(net.energy(shift(-1)))) / (2 * h)
    got = float(net.dEdt(x))
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-9)
    if not directed and name != "skewed-tanh":
        closed = -sum(n.tau * xdot[k] @ jax.hessian(n.lagrangian)(x[k]) @ xdot[k] for k, n in net.neurons.items())
        np.testing.assert_allclose(got, float(closed), rtol=1e-10, atol=1e-12)
        assert got <= 0


def test_custom_functions_are_checked_when_the_network_is_built():
    with pytest.raises(
        hd.NetworkError, match=r"^neurons\.v\.lagrangian: .* must return a scalar energy, got shape \(3,\)"
    ):
        hd.Network({"v": hd.Neuron(3, lambda x: x**2)})
    two = {"v": hd.Neuron(3, hd.Tanh()), "w": hd.Neuron(2, hd.Tanh())}
    with pytest.raises(hd.NetworkError, match=r"^synapses\[0\]: calling .* with arrays of shape \(3,\), \(2,\) failed"):
        hd.Network(two, [(lambda a: jnp.sum(a), ("v", "w"))])
    with pytest.raises(hd.SettingsError, match="expected one of auto, tsit5"):
        hd.simulate(hd.Network(two), method="rk4")
