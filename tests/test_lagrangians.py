"""Activations against closed forms, finiteness at |x| = 1e4, Legendre identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopdyn as hd
from helpers import DTYPES, lagrangian_cases


def _x(dtype, n=7, scale=3.0, seed=0):
    return np.random.default_rng(seed).normal(0, scale, n).astype(dtype)


def _sig(z):
    return 1 / (1 + np.exp(-z))


CLOSED_FORMS = {
    "identity": lambda x: x,
    "sigmoid": lambda x: _sig(2.0 * x),
    "tanh": lambda x: np.tanh(1.5 * x),
    "softmax": lambda x: np.exp(3 * x - (3 * x).max()) / np.exp(3 * x - (3 * x).max()).sum(),
    "relu": lambda x: np.maximum(x, 0),
    "repu3": lambda x: np.maximum(x, 0) ** 2,
    "exp": lambda x: np.exp(0.5 * x),
    "layernorm": lambda x: 1.3 * (x - x.mean()) / np.sqrt(x.var() + 1e-5) + 0.2,
    "spherical": lambda x: x / np.sqrt(np.sum(x * x) + 1e-8),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,lag", lagrangian_cases())
def test_activation_closed_form(name, lag, dtype):
    x = _x(dtype)
    lag = hd.Network({"a": hd.Neuron(7, lag)}).astype(dtype).neurons["a"].lagrangian
    got = np.asarray(lag.activation(jnp.asarray(x)))
    assert got.dtype == np.dtype(dtype)
    want = CLOSED_FORMS[name](x.astype(np.float64))
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,lag", lagrangian_cases())
def test_finite_at_large_inputs(name, lag, dtype):
    lag = hd.Network({"a": hd.Neuron(4, lag)}).astype(dtype).neurons["a"].lagrangian
    x = jnp.asarray([1e4, -1e4, 1e4, 0.5], dtype=dtype)
    assert np.all(np.isfinite(np.asarray(lag.activation(x))))
    assert np.isfinite(float(lag(x)))
    assert np.isfinite(float(lag.energy(x)))
    # and the Hessian (used by the Lyapunov argument) is finite too
    assert np.all(np.isfinite(np.asarray(jax.hessian(lag)(x))))


def test_exp_is_exact_below_cap_and_linear_above():
    lag = hd.Exp(1.0, cap=5.0)
    x = jnp.asarray([4.0, 5.0, 7.0])
    got = np.asarray(lag.activation(x))
    np.testing.assert_allclose(got[:2], np.exp([4.0, 5.0]), rtol=1e-6)
    np.testing.assert_allclose(got[2], np.exp(5.0) * (1 + 2.0), rtol=1e-6)


# Convex conjugates written independently of the code: E(x) = L*(xhat(x)), and dL*/ds = x.
def _xlogx(s):
    return np.where(s > 0, s * np.log(np.where(s > 0, s, 1.0)), 0.0)


CONJUGATES = {
    "identity": lambda s: 0.5 * np.sum(s**2),
    "sigmoid": lambda s: np.sum(_xlogx(s) + _xlogx(1 - s)) / 2.0,
    "tanh": lambda s: np.sum(_xlogx((1 + s) / 2) + _xlogx((1 - s) / 2) + np.log(2)) / 1.5,
    "softmax": lambda s: np.sum(_xlogx(s)) / 3.0,
    "relu": lambda s: 0.5 * np.sum(s**2),
    "repu3": lambda s: (1 - 1 / 3) * np.sum(s**1.5),
    "exp": lambda s: np.sum(_xlogx(s) - s) / 0.5,
}


@pytest.mark.parametrize("name,lag", [c for c in lagrangian_cases() if c[0] in CONJUGATES])
def test_layer_energy_is_the_convex_conjugate(name, lag):
    x = _x("float64", scale=1.0)
    lag = hd.Network({"a": hd.Neuron(7, lag)}).astype("float64").neurons["a"].lagrangian
    s = np.asarray(lag.activation(jnp.asarray(x)))
    np.testing.assert_allclose(float(lag.energy(jnp.asarray(x))), CONJUGATES[name](s), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name,lag", [c for c in lagrangian_cases() if c[0] in ("layernorm", "spherical")])
def test_normalising_lagrangians_have_zero_layer_energy(name, lag):
    # Their conjugates are indicator functions: E_a = <xhat, x> - L(x) = 0 (up to eps).
    x = _x("float64")
    lag = lag if name == "spherical" else hd.LayerNorm(1.3, 0.2, eps=1e-12)
    assert abs(float(lag.energy(jnp.asarray(x)))) < 1e-5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,lag", lagrangian_cases())
def test_legendre_identity(name, lag, dtype):
    """dE_a/dxhat_a = x_a: both the partial derivative the dynamics use and, for
    invertible activations, the total derivative through the inverse map
    (dE/dx = H x, so H^{-1} dE/dx = x)."""
    net = hd.Network({"a": hd.Neuron(7, lag)}).astype(dtype)
    x = jnp.asarray(_x(dtype, scale=1.0))
    g = net.energy_gradient({"a": x})["a"]
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(np.asarray(g), np.asarray(x), rtol=tol, atol=tol)
    if name in ("softmax", "layernorm", "spherical", "relu", "repu3"):
        return  # singular Hessian (zero modes or dead units): no inverse map
    lag64 = net.astype("float64").neurons["a"].lagrangian
    x64 = x.astype(jnp.float64)
    dEdx = jax.grad(lag64.energy)(x64)
    H = jax.hessian(lag64)(x64)
    np.testing.assert_allclose(np.linalg.solve(np.asarray(H), np.asarray(dEdx)), np.asarray(x64), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name,lag", lagrangian_cases())
def test_convex_along_random_directions(name, lag):
    """The built-ins are convex: Hessian quadratic forms are >= 0 at random states."""
    lag = hd.Network({"a": hd.Neuron(7, lag)}).astype("float64").neurons["a"].lagrangian
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = jnp.asarray(rng.normal(0, 2, 7))
        H = np.asarray(jax.hessian(lag)(x))
        assert np.linalg.eigvalsh((H + H.T) / 2).min() > -1e-9


def test_custom_lagrangian_callable():
    net = hd.Network({"a": hd.Neuron(3, lambda x: jnp.sum(jnp.cosh(x)))})
    x = jnp.asarray([0.1, -0.5, 2.0])
    np.testing.assert_allclose(np.asarray(net.activations({"a": x})["a"]), np.sinh(np.asarray(x)), rtol=1e-6)


def test_parameter_checks():
    with pytest.raises(hd.NetworkError, match=r"Repu\.n: should be >= 1"):
        hd.Repu(0.5)
    with pytest.raises(hd.NetworkError, match=r"LayerNorm\.gamma: should be > 0"):
        hd.LayerNorm(gamma=-1.0)
