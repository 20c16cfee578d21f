"""Networks and hand-written references shared by the tests."""

import numpy as np

import hopdyn as hd

DTYPES = ["float32", "float64"]


def seed000(kind: str, K: int = 100, D: int = 30, tau_v: float = 1.0, tau_m: float = 1.0):
    """Seed 000's CHN (identity memory layer) or DAM (softmax memory layer): the
    bench's reference network (``hopdyn.bench.harness.seed000``), one definition."""
    from hopdyn.bench.harness import seed000 as reference

    return reference(kind, K, D, tau_v, tau_m)


def seed000_field(kind, Xi, v, m, tau_v=1.0, tau_m=1.0):
    """Hand derivation: tau_v dv/dt = Xi^T mhat - v, tau_m dm/dt = Xi vhat - m."""
    D = Xi.shape[1]
    vhat = 1 / (1 + np.exp(-v / (2 * D)))
    mhat = m if kind == "chn" else np.exp(m - m.max()) / np.exp(m - m.max()).sum()
    return (Xi.T @ mhat - v) / tau_v, (Xi @ vhat - m) / tau_m


def seed001(K=6, D=20, P=3, beta=4.0, lam=2.0, taus=(1.0, 0.5, 0.1), seed=0):
    """Seed 001's image (identity) / label (softmax) / memory (softmax beta) network."""
    rng = np.random.default_rng(seed)
    theta_img = rng.uniform(0, 1, (K, D))
    theta_lab = np.eye(P)[rng.integers(0, P, K)]
    net = hd.Network(
        neurons={
            "x": hd.Neuron(D, hd.Identity(), taus[0]),
            "y": hd.Neuron(P, hd.Softmax(1.0), taus[1]),
            "z": hd.Neuron(K, hd.Softmax(beta), taus[2]),
        },
        synapses=[hd.L2Memory(("x", "z"), theta_img), hd.Dense(("z", "y"), theta_lab, scale=lam)],
    )
    x0 = {"x": rng.uniform(0, 1, D), "y": rng.normal(size=P), "z": rng.normal(size=K)}
    return net, x0, theta_img, theta_lab


def softmax(a, beta=1.0):
    e = np.exp(beta * (a - a.max()))
    return e / e.sum()


def seed001_field(theta_img, theta_lab, x, y, z, beta=4.0, lam=2.0, taus=(1.0, 0.5, 0.1)):
    """Seed 001's equations with the layer leak -x_a of DESIGN.md (the seed's text
    writes -yhat where its own energy gives -y)."""
    xhat, yhat, zhat = x, softmax(y), softmax(z, beta)
    dx = zhat @ (theta_img - xhat[None, :]) + xhat - x
    dy = lam * theta_lab.T @ zhat - y
    dz = -0.5 * np.sum((theta_img - xhat[None, :]) ** 2, axis=1) + lam * theta_lab @ yhat - z
    return dx / taus[0], dy / taus[1], dz / taus[2]


def lagrangian_cases():
    """(id, Lagrangian) for every built-in Lagrangian."""
    return [
        ("identity", hd.Identity()),
        ("sigmoid", hd.Sigmoid(2.0)),
        ("tanh", hd.Tanh(1.5)),
        ("softmax", hd.Softmax(3.0)),
        ("relu", hd.Relu()),
        ("repu3", hd.Repu(3.0)),
        ("exp", hd.Exp(0.5)),
        ("layernorm", hd.LayerNorm(1.3, 0.2)),
        ("spherical", hd.Spherical()),
    ]


HEBBIAN_16 = """\
name: h
patterns:
  Xi: {random: {distribution: binary, shape: [3, 16]}}
neurons:
  s: {shape: [16], lagrangian: {type: tanh, beta: 2.0}}
synapses:
  - {type: hebbian, connects: [s], patterns: Xi}
initial:
  s: {pattern: Xi, index: 0, corrupt: {flip: 0.2}}
solver: {t1: 50, rtol: 1.0e-5, atol: 1.0e-6}
"""
"""A small Hebbian scenario the reliability tests attack (16 tanh units, 3 patterns)."""


def tiny_train(data: str = "data.npz", epochs: int = 3, extra: str = "  image_shape: [2, 3]\n") -> str:
    """A training scenario small enough for the suite: 6 inputs, 3 classes, 6 memories."""
    return f"""
name: tiny-train
seed: 0
patterns:
  Memories: {{random: {{shape: [6, 6], distribution: uniform, low: 0, high: 1}}}}
  LabelMemories: {{random: {{shape: [6, 3], distribution: normal, std: 0.1}}}}
neurons:
  x: {{shape: [6], lagrangian: {{type: identity}}, tau: 1.0}}
  y: {{shape: [3], lagrangian: {{type: softmax, beta: 1.0}}, tau: 1.0}}
  z: {{shape: [6], lagrangian: {{type: softmax, beta: 8.0}}, tau: 0.0}}
synapses:
  - {{type: l2_memory, connects: [x, z], patterns: Memories}}
  - {{type: dense, connects: [z, y], weights: LabelMemories, scale: 1.0}}
clamp: [x]
solver: {{method: tsit5, steady_state: {{rtol: 1.0e-4, atol: 1.0e-5}}}}
training:
  data: {{file: {data}}}
  inputs: x
  readout: y
  learn: [Memories, LabelMemories]
  learning_rate: 0.02
  epochs: {epochs}
  batch_size: 16
  test_fraction: 0.25
{extra}"""


def write_scenario(tmp_path, text: str, name: str = "s.yaml") -> str:
    """``text`` written to ``tmp_path/name``; its path."""
    p = tmp_path / name
    p.write_text(text)
    return str(p)
