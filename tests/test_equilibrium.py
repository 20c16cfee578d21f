"""hd.equilibrium: gradients through the steady state, against central finite
differences (float64), between the implicit and unrolled adjoints, with clamps,
quasi-static layers and batches; errors instead of silent gradients; singular
Jacobians against numpy's pseudo-inverse; memory independent of the steps."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopdyn as hd
from helpers import seed001

TIGHT = dict(method="tsit5", rtol=1e-10, atol=1e-10, steady_state={"rtol": 1e-8, "atol": 1e-8})


def bounded_net():
    """Every bounded Lagrangian, with dense, bias, directed and custom couplings."""
    rng = np.random.default_rng(1)
    w = lambda *s: rng.normal(size=s) * 0.4  # noqa: E731
    return hd.Network(
        {
            "a": hd.Neuron(4, hd.Tanh(1.3), 1.0),
            "b": hd.Neuron(3, hd.Sigmoid(0.8), 0.5),
            "c": hd.Neuron(3, hd.Softmax(1.5), 0.7),
            "d": hd.Neuron(4, hd.LayerNorm(1.2, 0.1, eps=0.05), 1.0),
            "e": hd.Neuron(3, hd.Spherical(eps=0.05), 2.0),
        },
        [
            hd.Dense(("a", "b"), w(4, 3)),
            hd.Dense(("b", "c"), w(3, 3), scale=1.2),
            hd.Dense(("c", "d"), w(3, 4)),
            hd.Dense(("d", "e"), w(4, 3)),
            hd.Bias(("a",), w(4)),
            hd.Bias(("d",), w(4)),
            hd.Directed(("e", "a"), w(3, 4) * 0.5),
            (lambda a, e: 0.1 * jnp.sum(a[:3] * e) ** 2, ("a", "e")),
        ],
    )


def unbounded_net():
    """Identity, relu, repu and exp layers, with Hebbian, polynomial and
    exponential memories (small couplings: one stable fixed point)."""
    rng = np.random.default_rng(2)
    w = lambda *s: rng.normal(size=s) * 0.3  # noqa: E731
    return hd.Network(
        {
            "p": hd.Neuron(4, hd.Identity(), 1.0),
            "q": hd.Neuron(3, hd.Relu(), 0.5),
            "r": hd.Neuron(3, hd.Repu(3.0), 1.0),
            "s": hd.Neuron(4, hd.Tanh(), 1.0),
            "u": hd.Neuron(3, hd.Exp(0.7), 1.0),
        },
        [
            hd.Hebbian(("p",), w(2, 4), scale=0.4),
            hd.Dense(("p", "q"), w(4, 3)),
            hd.Bias(("q",), 1.0 + np.abs(w(3))),  # q stays positive: relu away from its kink
            hd.Bias(("r",), 0.5 + np.abs(w(3))),
            hd.Dense(("r", "s"), w(3, 4) * 0.5),
            hd.Polynomial(("s",), w(2, 4), n=3, scale=0.3),
            hd.Exponential(("s",), w(2, 4), beta=0.8, scale=0.2),
            hd.Exponential(("u",), w(2, 3), beta=1.1, scale=0.2, logsumexp=True),
            hd.Dense(("s", "u"), w(4, 3) * 0.5),
        ],
    )


def memory_net():
    """Seed 001's image/label/memory network: image partly clamped, memory
    layer quasi-static (tau = 0)."""
    net, x0, _, _ = seed001(K=5, D=6, P=3, taus=(1.0, 0.5, 0.0))
    mask = np.array([True, True, True, False, True, False])
    return net.clamp(x=mask), x0


NETS = {
    "bounded": lambda: (bounded_net(), {"a": np.linspace(-0.5, 0.5, 4)}),
    "unbounded": lambda: (unbounded_net(), {"q": np.ones(3), "r": np.ones(3)}),
    "memory": memory_net,
}


@functools.cache
def _loss_fn(adjoint, polish):
    def loss(diff, static, x0, c):
        net, clamped = eqx.combine(diff, static)
        x = hd.equilibrium(net, {**x0, **clamped}, adjoint=adjoint, polish=polish, **TIGHT)
        return sum(jnp.sum(c[a] * x[a] + 0.5 * x[a] ** 2) for a in net.neurons)

    return eqx.filter_jit(loss), eqx.filter_jit(jax.grad(loss))


def _setup(name, batch):
    net, x0 = NETS[name]()
    net = net.astype("float64")
    x0 = {k: np.asarray(v, np.float64) for k, v in x0.items()}
    if batch:
        rng = np.random.default_rng(3)
        x0 = {k: np.stack([v, v + 0.1 * rng.normal(size=v.shape)]) for k, v in x0.items()}
    clamped = {k: x0.pop(k) for k in list(x0) if k in net.clamps}
    diff, static = eqx.partition((net, clamped), eqx.is_inexact_array)
    diff = jax.tree.map(lambda v: jnp.asarray(np.asarray(v)), diff)  # not weak-typed: shifted copies reuse one program
    c = {a: np.random.default_rng(4).normal(size=n.shape) for a, n in net.neurons.items()}
    return diff, static, x0, c


def _directional(adjoint, polish, diff, static, x0, c, h=1e-5):
    """Per array: the gradient along a random direction and the central finite
    difference of the loss along it."""
    loss, grad = _loss_fn(adjoint, polish)
    gl = jax.tree.leaves(grad(diff, static, x0, c))
    leaves, treedef = jax.tree.flatten(diff)
    rng = np.random.default_rng(5)
    out = []
    for i, leaf in enumerate(leaves):
        d = rng.normal(size=np.shape(leaf))
        shift = lambda s: jax.tree.unflatten(treedef, [v + s * d if j == i else v for j, v in enumerate(leaves)])  # noqa: E731,B023
        fd = (float(loss(shift(h), static, x0, c)) - float(loss(shift(-h), static, x0, c))) / (2 * h)
        out.append((float(np.sum(np.asarray(gl[i]) * d)), fd))
    return np.array(out), gl


def _check_fd(pairs):
    g, fd = pairs[:, 0], pairs[:, 1]
    scale = np.max(np.abs(fd))
    assert scale > 1e-3
    # every array (weights, patterns, gains, biases, taus, clamped inputs): relative
    # to its own derivative, or to the largest where its own is ~0 (taus: exactly 0)
    err = np.abs(g - fd) / np.maximum(np.abs(fd), 1e-3 * scale)
    assert np.all(err < 1e-5), (err, pairs)


@pytest.mark.parametrize("name", list(NETS))
def test_gradients_match_finite_differences_and_unrolled(name):
    """Every Lagrangian and synapse type; implicit against central differences,
    unrolled against implicit (the unrolled solve stops within the steady-state
    tolerance, 1e-8, of the fixed point).  The unrolled gradient is autodiff
    through the solve, so the Lagrangians' and synapses' own derivatives are
    already checked by the implicit one: it is compared on the network with
    clamps and a quasi-static layer only (its gradient program is the costliest
    to build, ~25 s)."""
    diff, static, x0, c = _setup(name, False)
    pairs, gi = _directional("implicit", 3, diff, static, x0, c)
    _check_fd(pairs)
    if name != "memory":
        return
    gu = jax.tree.leaves(_loss_fn("unrolled", 0)[1](diff, static, x0, c))
    a, b = (np.concatenate([np.ravel(v) for v in g]) for g in (gi, gu))
    assert np.max(np.abs(a - b)) < 1e-5 * np.max(np.abs(a)), np.max(np.abs(a - b))


def test_batched_gradient_with_clamps_and_quasi_static_layer():
    diff, static, x0, c = _setup("memory", True)
    pairs, _ = _directional("implicit", 3, diff, static, x0, c)
    _check_fd(pairs)


def test_float32_gradient_agrees_with_float64():
    diff, static, x0, c = _setup("memory", True)
    g64 = _loss_fn("implicit", 3)[1](diff, static, x0, c)
    to32 = lambda t: jax.tree.map(lambda v: jnp.asarray(v, jnp.float32) if eqx.is_inexact_array(v) else v, t)  # noqa: E731
    x032 = {k: np.asarray(v, np.float32) for k, v in x0.items()}
    c32 = {k: np.asarray(v, np.float32) for k, v in c.items()}

    def loss32(diff, static, x0, c):
        net, clamped = eqx.combine(diff, static)
        x = hd.equilibrium(net, {**x0, **clamped}, method="tsit5", steady_state={"rtol": 1e-4, "atol": 1e-5})
        return sum(jnp.sum(c[a] * x[a] + 0.5 * x[a] ** 2) for a in net.neurons)

    static32 = jax.tree.map(
        lambda v: np.asarray(v, np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float64 else v, static
    )
    g32 = eqx.filter_jit(jax.grad(loss32))(to32(diff), static32, x032, c32)
    for a, b in zip(jax.tree.leaves(g64), jax.tree.leaves(g32)):
        assert b.dtype == jnp.float32
        np.testing.assert_allclose(b, a, rtol=2e-3, atol=2e-3 * max(1.0, float(np.max(np.abs(a)))))


def test_not_a_steady_state_is_an_error():
    net, x0 = memory_net()
    with pytest.raises(Exception, match="without reaching a steady state"):
        jax.block_until_ready(hd.equilibrium(net, x0, method="tsit5", steady_state=True, max_steps=3))
    x, info = hd.equilibrium(net, x0, method="tsit5", steady_state=True, max_steps=3, throw=False, info=True)
    assert not bool(info["steady"]) and int(info["n_steps"]) == 3


def test_settings_errors():
    net, x0 = memory_net()
    with pytest.raises(hd.SettingsError, match="adjoint"):
        hd.equilibrium(net, x0, adjoint="backprop")
    with pytest.raises(hd.SettingsError, match="steady-state"):
        hd.equilibrium(net, x0, steady_state=None)
    with pytest.raises(hd.SettingsError, match="ODE method"):
        hd.equilibrium(net, x0, method="async")
    with pytest.raises(hd.SettingsError, match="name a method"):
        jax.jit(lambda x: hd.equilibrium(net, {"x": x}, method="auto")["y"])(np.asarray(x0["x"], np.float32))


def test_singular_jacobian_least_squares_matches_pseudo_inverse():
    """Two identity layers coupled by W with a singular value of exactly 1: a line
    of fixed points (dF/dx singular).  The default solve is least squares and the
    gradient is numpy's minimum-norm one; info reports the singular Jacobian."""
    rng = np.random.default_rng(7)
    U, _, Vt = np.linalg.svd(rng.normal(size=(4, 3)), full_matrices=False)
    W = U @ np.diag([1.0, 0.5, 0.3]) @ Vt
    b = rng.normal(size=4)
    b -= (b @ U[:, 0]) * U[:, 0]  # no drive along the flat direction: fixed points exist
    c = rng.normal(size=7)

    def loss(b):
        net = hd.Network(
            {"v": hd.Neuron(4, hd.Identity(), 1.0), "h": hd.Neuron(3, hd.Identity(), 1.0)},
            [hd.Dense(("v", "h"), W), hd.Bias(("v",), b)],
        )
        x = hd.equilibrium(net, {"v": np.full(4, 0.2)}, **TIGHT)
        return jnp.dot(c[:4], x["v"]) + jnp.dot(c[4:], x["h"])

    g = jax.grad(loss)(jnp.asarray(b))
    J = np.block([[np.eye(4), -W], [-W.T, np.eye(3)]])  # dF/d(v, h); dF/db = -[I; 0]
    expect = -(np.linalg.pinv(J) @ -np.vstack([np.eye(4), np.zeros((3, 4))])).T @ c
    np.testing.assert_allclose(g, expect, rtol=1e-6, atol=1e-8)
    net = hd.Network(
        {"v": hd.Neuron(4, hd.Identity(), 1.0), "h": hd.Neuron(3, hd.Identity(), 1.0)},
        [hd.Dense(("v", "h"), W), hd.Bias(("v",), b)],
    )
    _, info = hd.equilibrium(net, {"v": np.full(4, 0.2)}, info=True, **TIGHT)
    assert bool(info["singular"]) and float(info["sigma_min"]) < 1e-12
    _, info = hd.equilibrium(
        net.astype("float64"), {"v": np.full(4, 0.2)}, info=True, method="tsit5", steady_state=True
    )
    assert bool(info["steady"])


def test_a_layer_clamped_by_clamp_outside_jit_differentiates_like_finite_differences():
    """Regression: outside ``jit`` lineax evaluates ``F``'s shape with abstract
    masks; the layers clamped whole are fixed once, on the concrete network."""
    rng = np.random.default_rng(0)
    net = (
        hd.Network(
            {
                "x": hd.Neuron(3, hd.Identity(), 1.0),
                "y": hd.Neuron(2, hd.Softmax(1.0), 1.0),
                "z": hd.Neuron(4, hd.Softmax(3.0), 0.0),
            },
            [hd.L2Memory(("x", "z"), rng.uniform(0, 1, (4, 3))), hd.Dense(("z", "y"), rng.normal(0, 1, (4, 2)))],
        )
        .astype("float64")
        .clamp("x")
    )
    x0 = {"x": rng.uniform(0, 1, (2, 3))}

    def loss(W):
        n = eqx.tree_at(lambda n: n.synapses[1].weights, net, W)
        x = hd.equilibrium(n, x0, polish=3, **TIGHT)
        return jnp.sum(n.activations(x)["y"][:, 0])

    with jax.enable_x64(True):
        W = net.synapses[1].weights
        g = np.asarray(jax.grad(loss)(W))  # not under jit: the case that failed
        h = 1e-5
        E = np.eye(g.size).reshape(g.size, *g.shape) * h
        batched = jax.jit(jax.vmap(loss))  # the references: one compiled program
        fd = ((np.asarray(batched(W + E)) - np.asarray(batched(W - E))) / (2 * h)).reshape(g.shape)
    assert np.max(np.abs(g - fd)) < 1e-5 * max(1.0, np.max(np.abs(fd)))


def test_a_second_gradient_reuses_the_compiled_solve(monkeypatch):
    """``jax.grad`` of a loss through ``hd.equilibrium``, called again without
    ``jit`` (a training loop as docs/learning.md writes it), reuses the compiled
    solve and adjoint instead of tracing them again (measured before: 64 s for
    the second gradient of learning.md's example, as long as the first)."""
    from hopdyn.solvers import equilibrium as EQ

    traced = []
    one = EQ._one
    monkeypatch.setattr(EQ, "_one", lambda *a: (traced.append(1), one(*a))[1])
    net, x0 = memory_net()
    W = net.synapses[1].weights

    def loss(w):
        n = eqx.tree_at(lambda n: n.synapses[1].weights, net, w)
        x = hd.equilibrium(n, x0, method="tsit5", steady_state={"rtol": 1e-6, "atol": 1e-8}, adjoint="implicit")
        return jnp.sum(x["y"] ** 2)

    g1 = jax.grad(loss)(W)
    first = len(traced)
    g2 = jax.grad(loss)(W * 1.0)  # other values, the same structure
    assert first >= 1 and len(traced) == first
    np.testing.assert_array_equal(np.asarray(g1), np.asarray(g2))
