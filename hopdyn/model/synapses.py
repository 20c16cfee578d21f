"""Synapses: scalar energies of the activations of the layers they connect.

A synapse names its layers in ``connects`` and maps their activations (in that
order) to a scalar energy.  It never computes forces: the dynamics come from
``jax.grad`` of the total energy.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Annotated, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array
from pydantic import Field

from ..core.errors import NetworkError
from .checks import checked_init
from .lagrangians import _param
from .params import Doc, Finite, Pattern, PatternOrNumber, Positive, register_synapse

Scale = Annotated[Finite, Doc("multiplies the energy term")]


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class AbstractSynapse(eqx.Module):
    """An energy term ``E_s(xhat_a, xhat_b, ...)`` of the layers in ``connects``.

    Subclasses implement ``__call__`` (the energy, a scalar); the network's
    field follows by autodiff.  Constructor arguments are checked against their
    annotations and documented from them; ``@hd.register_synapse`` makes a
    subclass usable in scenario files.

    **Arguments:** ``connects`` (the layers, in order), then those of the subclass.
    """

    connects: tuple[str, ...] = eqx.field(static=True)
    kind: ClassVar[str] = "synapse"  # the scenario format's `type`
    gradient: ClassVar[bool] = True  # False: a force with no energy (see Directed)
    arity: ClassVar[int | None] = None  # how many layers it connects (None: any number)
    connects_doc: ClassVar[str] = "the layers it connects, in order"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        checked_init(cls)  # every constructor held to its annotations (the schema's constraints)

    @abc.abstractmethod
    def __call__(self, *xhats: Array) -> Array:
        """The energy (a scalar) given the activations of ``connects``, in order."""

    def shape_problem(self, shapes: tuple[tuple[int, ...], ...]) -> tuple[str, str] | None:
        """``(parameter, sentence)`` saying why this synapse does not fit layers of
        ``shapes`` (one per entry of ``connects``), or ``None`` when it fits."""
        return None

    def affine_in(self, i: int) -> bool:
        """Whether the energy is affine in its ``i``-th activation, so that its
        gradient there does not depend on that activation (default: not known,
        so no)."""
        return False


def _patterns_problem(patterns: Array, shape: tuple[int, ...], layer: str) -> tuple[str, str] | None:
    if patterns.ndim < 2:
        return "patterns", f"expected a (K, {_size(shape)}) array of K patterns, got shape {patterns.shape}"
    if _size(patterns.shape[1:]) != _size(shape):
        return "patterns", (
            f"shape {tuple(patterns.shape)} does not match layer {layer!r} of shape {shape}: "
            f"expected (K, {_size(shape)})"
        )
    return None


class _AbstractWeightedPair(AbstractSynapse):
    """A coupling of two layers through a matrix ``W`` of shape ``(|a|, |b|)`` (or
    ``a.shape + b.shape``) and a scalar ``scale``; layers of any rank are flattened."""

    weights: Array
    scale: Array

    def affine_in(self, i):
        return True  # bilinear (a layer connected to itself is counted twice by the network)

    arity: ClassVar[int] = 2

    def __init__(self, connects, weights: Pattern, scale: Scale = 1.0):
        self.connects = tuple(connects)
        self.weights = _param(weights)
        self.scale = _param(scale)

    def shape_problem(self, shapes):
        (sa, sb) = shapes
        w = tuple(self.weights.shape)
        if w in ((_size(sa), _size(sb)), tuple(sa) + tuple(sb)):
            return None
        a, b = self.connects
        return "weights", (
            f"shape {w} does not match layers {a!r} {tuple(sa)} and {b!r} {tuple(sb)}: "
            f"expected ({_size(sa)}, {_size(sb)})"
        )

    def _matrix(self, xa, xb):
        return self.weights.reshape(xa.size, xb.size)


@register_synapse
class Dense(_AbstractWeightedPair):
    """``E = -scale * xhat_a^T W xhat_b`` with ``W`` of shape ``(|a|, |b|)``."""

    kind: ClassVar[str] = "dense"

    def __call__(self, xa, xb):
        # xb W^T rather than W xb: under vmap the product then comes out
        # [batch, |a|] with no transpose after it (~10% of a field evaluation
        # on the bench's dense memory)
        return -self.scale * jnp.dot(xa.ravel(), xb.ravel() @ self._matrix(xa, xb).T)


@register_synapse
class Bias(AbstractSynapse):
    """``E = -sum(b * xhat)`` on one layer; ``b`` is a scalar or the layer's shape."""

    kind: ClassVar[str] = "bias"

    bias: Array

    arity: ClassVar[int] = 1

    def __init__(self, connects, bias: PatternOrNumber):
        self.connects = tuple(connects)
        self.bias = _param(bias)

    def affine_in(self, i):
        return True

    def shape_problem(self, shapes):
        (s,) = shapes
        b = tuple(self.bias.shape)
        if b in ((), tuple(s), (_size(s),)):
            return None
        return "bias", f"shape {b} does not match layer {self.connects[0]!r} of shape {tuple(s)}"

    def __call__(self, x):
        return -jnp.sum(self.bias.reshape(x.shape if self.bias.ndim else ()) * x)


@register_synapse
class Hebbian(AbstractSynapse):
    """Classical Hopfield coupling on one layer: ``W = (scale/N) sum_mu xi_mu xi_mu^T``
    with zero diagonal, ``E = -1/2 xhat^T W xhat``.

    Computed from the ``(K, N)`` patterns in ``O(KN)`` without forming ``W``:
    ``E = -scale/(2N) (|Xi xhat|^2 - sum_i d_i xhat_i^2)``, ``d = diag(Xi^T Xi)``.
    """

    kind: ClassVar[str] = "hebbian"

    patterns: Array
    scale: Array

    arity: ClassVar[int] = 1

    def __init__(self, connects, patterns: Pattern, scale: Scale = 1.0):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)
        self.scale = _param(scale)

    def shape_problem(self, shapes):
        return _patterns_problem(self.patterns, shapes[0], self.connects[0])

    def weights(self) -> Array:
        """The ``(N, N)`` weight matrix (for analysis; the energy never forms it)."""
        xi = self.patterns.reshape(self.patterns.shape[0], -1)
        n = xi.shape[1]
        w = self.scale * (xi.T @ xi) / n
        return w * (1.0 - jnp.eye(n, dtype=w.dtype))

    def __call__(self, x):
        xi = self.patterns.reshape(self.patterns.shape[0], -1)
        v = x.ravel()
        n = v.size
        d = jnp.sum(xi * xi, axis=0)
        proj = xi @ v
        return -0.5 * self.scale * (jnp.dot(proj, proj) - jnp.dot(d, v * v)) / n


@register_synapse
class L2Memory(AbstractSynapse):
    """Seed 001's image-memory term, ``connects = (image, memory)``:
    ``E = 1/2 sum_mu zhat_mu |theta_mu - xhat|^2 - 1/2 |xhat|^2`` with ``theta`` of
    shape ``(K, |image|)`` and ``K = |memory|``."""

    kind: ClassVar[str] = "l2_memory"

    patterns: Array

    arity: ClassVar[int] = 2
    connects_doc: ClassVar[str] = "[image, memory]"

    def __init__(self, connects, patterns: Pattern):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)

    def affine_in(self, i):
        return i == 1  # quadratic in the image, linear in the memory

    def shape_problem(self, shapes):
        sx, sz = shapes
        p = _patterns_problem(self.patterns, sx, self.connects[0])
        if p is not None:
            return p
        if self.patterns.shape[0] != _size(sz):
            return "patterns", (
                f"{self.patterns.shape[0]} memories but layer {self.connects[1]!r} "
                f"has {_size(sz)} units: expected equal"
            )
        return None

    def __call__(self, x, z):
        theta = self.patterns.reshape(self.patterns.shape[0], -1)
        v = x.ravel()
        diff = theta - v[None, :]
        return 0.5 * jnp.dot(z.ravel(), jnp.sum(diff * diff, axis=1)) - 0.5 * jnp.dot(v, v)


@register_synapse
class Polynomial(AbstractSynapse):
    """Dense associative memory on one layer (Krotov & Hopfield 2016):
    ``E = -scale * sum_mu F(xi_mu . xhat)`` with ``F(s) = s^n``, or
    ``F(s) = max(s, 0)^n`` when ``rectified``."""

    kind: ClassVar[str] = "polynomial"

    patterns: Array
    scale: Array
    n: int = eqx.field(static=True)
    rectified: bool = eqx.field(static=True)

    arity: ClassVar[int] = 1

    def __init__(
        self,
        connects,
        patterns: Pattern,
        n: Annotated[int, Field(ge=1, le=32), Doc("degree of F(s) = s^n")] = 2,
        scale: Scale = 1.0,
        rectified: Annotated[bool, Doc("F(s) = max(s, 0)^n")] = False,
    ):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)
        self.scale = _param(scale)
        if int(n) != n or n < 1:
            raise NetworkError(f"polynomial: expected an integer >= 1, got {n}", ("n",))
        self.n = int(n)
        self.rectified = bool(rectified)

    def shape_problem(self, shapes):
        return _patterns_problem(self.patterns, shapes[0], self.connects[0])

    def __call__(self, x):
        s = self.patterns.reshape(self.patterns.shape[0], -1) @ x.ravel()
        if self.rectified:
            s = jnp.maximum(s, 0.0)
        return -self.scale * jnp.sum(jax.lax.integer_pow(s, self.n))


@register_synapse
class Exponential(AbstractSynapse):
    """Exponential dense memory on one layer (Demircigil et al. 2017):
    ``E = -scale * sum_mu exp(beta xi_mu . xhat)``, evaluated as
    ``-scale * exp(logsumexp(...))``.  With ``logsumexp=True`` the energy is the
    log-domain form of Ramsauer et al., ``-(scale/beta) logsumexp(beta Xi xhat)``,
    which stays finite for any overlap."""

    kind: ClassVar[str] = "exponential"

    patterns: Array
    beta: Array
    scale: Array
    logsumexp: bool = eqx.field(static=True)

    arity: ClassVar[int] = 1

    def __init__(
        self,
        connects,
        patterns: Pattern,
        beta: Annotated[Positive, Doc("inverse temperature of the overlaps")] = 1.0,
        scale: Scale = 1.0,
        logsumexp: Annotated[bool, Doc("the log-domain energy -(scale/beta) lse(beta Xi xhat)")] = False,
    ):
        self.connects = tuple(connects)
        self.patterns = _param(patterns)
        self.beta = _param(beta)
        self.scale = _param(scale)
        self.logsumexp = bool(logsumexp)

    def shape_problem(self, shapes):
        return _patterns_problem(self.patterns, shapes[0], self.connects[0])

    def __call__(self, x):
        s = self.beta * (self.patterns.reshape(self.patterns.shape[0], -1) @ x.ravel())
        lse = jax.nn.logsumexp(s)
        if self.logsumexp:
            return -self.scale * lse / self.beta
        return -self.scale * jnp.exp(lse)


class CustomSynapse(AbstractSynapse):
    """A user-supplied energy ``fn(*xhats) -> scalar`` of the layers in ``connects``."""

    kind: ClassVar[str] = "custom"

    fn: Callable[..., Array] = eqx.field(static=True)

    def __init__(self, connects, fn: Callable[..., Array]):
        self.connects = tuple(connects)
        self.fn = fn

    def __call__(self, *xhats):
        name = getattr(self.fn, "__name__", "custom")
        try:
            out = jnp.asarray(self.fn(*xhats))
        except TypeError as e:
            raise NetworkError(
                f"custom synapse {name}: calling it with the activations of {len(xhats)} layers "
                f"{self.connects} failed: {e}"
            ) from None
        if out.size != 1:
            raise NetworkError(f"custom synapse {name} must return a scalar energy, got shape {out.shape}")
        return out.reshape(())


@register_synapse
class Directed(_AbstractWeightedPair):
    """A **non-gradient** coupling, ``connects = (source, target)``: the target is
    driven by ``scale * W^T xhat_source`` with ``W`` of shape ``(|source|, |target|)``
    and the source feels nothing back (HAMUX's ``no_feedback``).  With
    ``source == target`` it is a recurrent coupling whose ``W`` need not be
    symmetric.  It has no energy (its term is 0), so a network holding one is
    not a gradient system and energy descent is no longer guaranteed."""

    kind: ClassVar[str] = "directed"
    gradient: ClassVar[bool] = False
    connects_doc: ClassVar[str] = "[source, target]; the same name twice for a recurrent coupling"

    def __call__(self, xs, xt):
        return jnp.zeros((), xs.dtype)

    def force(self, xs: Array, xt: Array) -> Array:
        """The drive on the target layer (added to ``-dE/dxhat_target``)."""
        return (self.scale * (xs.ravel() @ self._matrix(xs, xt))).reshape(xt.shape)
