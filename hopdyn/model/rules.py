"""Learning rules beyond Hebb, as synapses on one layer: each computes its
weight matrix ``W`` from the ``(K, N)`` patterns once, when it is made (in
JAX, so it also works on traced patterns), and contributes
``E = -scale/2 xhat^T W xhat`` like ``Hebbian`` — so the continuous dynamics
and the discrete rules (which read ``W`` from the energy's Hessian) use it
unchanged.

- ``Storkey``: Storkey's incremental rule (1997), a local rule with a larger
  capacity than Hebb's;
- ``PseudoInverse``: the projection rule (Personnaz et al. 1985; Kanter &
  Sompolinsky 1987), every pattern a fixed point up to ``K = N``; with or
  without the diagonal;
- ``Perceptron``: perceptron learning with margin ``kappa`` (Gardner 1988),
  symmetric so the network keeps an energy;
- ``DirectedPerceptron``: the same learning per neuron, unconstrained — ``W``
  is not symmetric, so it is a **non-gradient** coupling (no energy, as
  ``Directed``), for the continuous dynamics only.

Conventions: patterns of +-1 (any real values are accepted); ``W``'s diagonal
is zero except in ``PseudoInverse(keep_diagonal=True)``; a neuron's stability
for pattern ``mu`` is ``gamma_i = xi_i sum_j W_ij xi_j / |W_i|`` (``|W_i|`` the
row's Euclidean norm), so ``kappa`` is Gardner's margin and her capacity
``alpha_c(kappa)`` (``hd.theory.gardner_capacity``) applies.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array
from pydantic import Field

from .lagrangians import _param
from .params import Doc, NonNegative, Pattern, Positive, register_synapse
from .synapses import AbstractSynapse, Scale, _patterns_problem

Epochs = Annotated[int, Field(ge=1, le=100_000), Doc("the most passes over the patterns")]
Kappa = Annotated[NonNegative, Doc("the margin every stability must exceed (Gardner's kappa)")]
Rate = Annotated[Positive, Doc("the learning rate (a step of rate/N per unstable neuron)")]


def _flat(patterns: Array) -> Array:
    return patterns.reshape(patterns.shape[0], -1)


def _off_diagonal(n: int, dtype) -> Array:
    return 1.0 - jnp.eye(n, dtype=dtype)


def storkey_weights(patterns: Array) -> Array:
    """Storkey (1997): ``W^nu = W^(nu-1) + (xi_i xi_j - xi_i h_ji - h_ij xi_j)/N``
    with the local field ``h_ij = sum_(k != i, j) W_ik xi_k``, patterns added one
    at a time; zero diagonal."""
    xi = _flat(patterns)
    n = xi.shape[1]
    off = _off_diagonal(n, xi.dtype)

    def add(w, p):
        field = w @ p  # W has a zero diagonal: h_ij = (W xi)_i - W_ij xi_j
        h = field[:, None] - w * p[None, :]
        dw = (jnp.outer(p, p) - p[:, None] * h.T - h * p[None, :]) / n
        return (w + dw) * off, None

    w, _ = jax.lax.scan(add, jnp.zeros((n, n), xi.dtype), xi)
    return w


def pseudo_inverse_weights(patterns: Array, keep_diagonal: bool = False) -> Array:
    """The projection onto the patterns' span, ``W = Xi^+ Xi`` (``= Xi^T (Xi Xi^T)^-1 Xi``
    for independent patterns); its diagonal set to zero unless ``keep_diagonal``."""
    xi = _flat(patterns)
    w = jnp.linalg.pinv(xi) @ xi
    w = 0.5 * (w + w.T)  # symmetric up to rounding
    return w if keep_diagonal else w * _off_diagonal(xi.shape[1], xi.dtype)


def _stabilities(w: Array, xi: Array) -> Array:
    """``gamma[mu, i] = xi_i sum_j W_ij xi_j / |W_i|`` (0 for a zero row)."""
    norms = jnp.sqrt(jnp.sum(w * w, axis=1))
    fields = xi @ w.T
    return jnp.where(norms > 0, xi * fields / jnp.where(norms > 0, norms, 1.0), 0.0)


def _unstable(w: Array, xi: Array, kappa) -> Array:
    """``gamma <= kappa`` for each ``[mu, i]``, decided on the unnormalised field
    with an allowance for its rounding (``16 eps`` times the magnitudes it is
    summed from): a field that is zero in exact arithmetic counts as zero in
    every pass, however the sum was ordered."""
    norms = jnp.sqrt(jnp.sum(w * w, axis=1))
    margin = xi * (xi @ w.T) - kappa * norms
    slack = 16 * jnp.finfo(w.dtype).eps * (jnp.abs(xi) @ jnp.abs(w).T + kappa * norms)
    stored = jnp.any(xi != 0, axis=1, keepdims=True)  # a zero row pads a batch of pattern sets: nothing to learn
    return (margin <= slack) & stored


def perceptron_weights(patterns: Array, kappa, rate, epochs: int, symmetric: bool = True) -> Array:
    """Perceptron learning with margin ``kappa``: patterns one at a time, in
    order; each neuron whose stability is at most ``kappa`` moves its row by
    ``rate/N xi_i xi`` (symmetric: ``W_ij`` and ``W_ji`` both move, by the sum of
    the two neurons' steps); passes repeat until every stability exceeds
    ``kappa`` or ``epochs`` passes are done.  Zero diagonal."""
    xi = _flat(patterns)
    n = xi.shape[1]
    off = _off_diagonal(n, xi.dtype)
    kappa = jnp.asarray(kappa, xi.dtype)
    step = jnp.asarray(rate, xi.dtype) / n

    def learn(w, p):
        e = _unstable(w, p[None, :], kappa)[0].astype(xi.dtype) * p  # the unstable neurons' xi_i
        dw = step * (e[:, None] * p[None, :] + (p[:, None] * e[None, :] if symmetric else 0.0))
        return (w + dw) * off, None

    def unfinished(c):
        w, k = c
        return (k < epochs) & jnp.any(_unstable(w, xi, kappa))

    def epoch(c):
        w, k = c
        w, _ = jax.lax.scan(learn, w, xi)
        return w, k + 1

    w, _ = jax.lax.while_loop(unfinished, epoch, (jnp.zeros((n, n), xi.dtype), jnp.asarray(0)))
    return w


class _Learned(AbstractSynapse):
    """A coupling on one layer whose weights a rule computes from patterns:
    ``E = -scale/2 xhat^T W xhat``."""

    patterns: Array
    weights: Array
    scale: Array

    arity: ClassVar[int] = 1

    def shape_problem(self, shapes):
        return _patterns_problem(self.patterns, shapes[0], self.connects[0])

    def stabilities(self) -> Array:
        """``gamma[mu, i]``: how far each pattern's neuron ``i`` is from flipping,
        in units of its row's norm (> 0: the pattern is a fixed point there)."""
        return _stabilities(self.weights, _flat(self.patterns))

    def __call__(self, x):
        v = x.ravel()
        return -0.5 * self.scale * jnp.dot(v, self.weights @ v)


@register_synapse
class Storkey(_Learned):
    """Storkey's incremental learning rule (1997) on one layer (see ``storkey_weights``)."""

    kind: ClassVar[str] = "storkey"

    def __init__(self, connects, patterns: Pattern, scale: Scale = 1.0):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)
        self.weights = storkey_weights(self.patterns)
        self.scale = _param(scale)


@register_synapse
class PseudoInverse(_Learned):
    """The pseudo-inverse (projection) rule on one layer: every pattern is a
    fixed point while they are independent (K <= N); removing the diagonal
    (the default) widens the basins (Kanter & Sompolinsky 1987)."""

    kind: ClassVar[str] = "pseudo_inverse"
    keep_diagonal: bool = eqx.field(static=True)

    def __init__(
        self,
        connects,
        patterns: Pattern,
        keep_diagonal: Annotated[bool, Doc("keep W's diagonal (the exact projection)")] = False,
        scale: Scale = 1.0,
    ):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)
        self.keep_diagonal = bool(keep_diagonal)
        self.weights = pseudo_inverse_weights(self.patterns, self.keep_diagonal)
        self.scale = _param(scale)


@register_synapse
class Perceptron(_Learned):
    """Symmetric perceptron learning with margin ``kappa`` on one layer (see
    ``perceptron_weights``): the network keeps an energy."""

    kind: ClassVar[str] = "perceptron"
    symmetric: ClassVar[bool] = True
    epochs: int = eqx.field(static=True)
    kappa: Array
    rate: Array

    def __init__(
        self,
        connects,
        patterns: Pattern,
        kappa: Kappa = 0.0,
        rate: Rate = 1.0,
        epochs: Epochs = 1000,
        scale: Scale = 1.0,
    ):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)
        self.kappa, self.rate, self.epochs = _param(kappa), _param(rate), int(epochs)
        self.weights = perceptron_weights(self.patterns, self.kappa, self.rate, self.epochs, self.symmetric)
        self.scale = _param(scale)


@register_synapse
class DirectedPerceptron(Perceptron):
    """Perceptron learning with margin ``kappa`` for each neuron alone
    (Gardner's setting): ``W`` is not symmetric, so this is a **non-gradient**
    coupling — neuron ``i`` is driven by ``scale * sum_j W_ij xhat_j`` and the
    term has no energy (as ``Directed``); energy descent is not guaranteed.
    ``connects`` names the layer twice (``[s, s]``)."""

    kind: ClassVar[str] = "perceptron_directed"
    symmetric: ClassVar[bool] = False
    gradient: ClassVar[bool] = False
    arity: ClassVar[int] = 2
    connects_doc: ClassVar[str] = "[layer, layer]: the layer it couples to itself"

    def shape_problem(self, shapes):
        if len(set(self.connects)) != 1:
            return "connects", f"expected the same layer twice (a recurrent coupling), got {list(self.connects)}"
        return _patterns_problem(self.patterns, shapes[0], self.connects[0])

    def __call__(self, xs, xt):
        return jnp.zeros((), xs.dtype)

    def force(self, xs: Array, xt: Array) -> Array:
        """The drive on the layer, ``scale * W xhat``."""
        return (self.scale * (self.weights @ xs.ravel())).reshape(xt.shape)
