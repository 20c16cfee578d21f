"""Convex Lagrangians of neuron layers.

A Lagrangian ``L(x)`` is a convex scalar function of a layer's internal state.
Its gradient is the layer's activation ``xhat = grad L(x)`` (always computed by
autodiff, never hand-written) and its Legendre transform
``E = <xhat, x> - L(x)`` is the layer's energy.

Every parameter is stored as an array so a new ``beta`` does not recompile a
jitted solve.  All forms are written to stay finite for large ``|x|``
(``|x| = 1e4`` is tested): softplus / logaddexp / logsumexp instead of raw
exponentials, and a quadratic continuation of ``exp`` above a cap.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Annotated, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float
from pydantic import Field

from ..core.errors import NetworkError
from .checks import checked_init
from .params import Doc, Finite, Positive, register_lagrangian

_LOG2 = 0.6931471805599453


def _param(value: ArrayLike) -> Array:
    """A parameter as an inexact array (dtype is fixed later by ``Network.astype``)."""
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        arr = arr.astype(jnp.result_type(float))
    return arr


class AbstractLagrangian(eqx.Module):
    """A convex scalar function of a layer's internal state.

    Subclasses implement ``__call__``; activation and energy follow from it.
    ``kind`` is the scenario format's ``type``.  A subclass's constructor
    arguments are checked against their annotations (``Positive``,
    ``Finite``...) and its docstring's **Arguments:** section is written from
    them; ``@hd.register_lagrangian`` makes it usable in scenario files.

    **Arguments:** those of the subclass.
    """

    kind: ClassVar[str] = "lagrangian"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        checked_init(cls)  # every constructor held to its annotations (the schema's constraints)

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "..."]) -> Float[Array, ""]:
        """The Lagrangian ``L(x)`` (a scalar)."""

    def activation(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """``xhat = grad L(x)``."""
        return jax.grad(self)(x)

    def energy(self, x: Float[Array, "..."], xhat: Float[Array, "..."] | None = None) -> Float[Array, ""]:
        """The Legendre transform ``<xhat, x> - L(x)``."""
        if xhat is None:
            xhat = self.activation(x)
        return jnp.vdot(xhat, x) - self(x)

    @property
    def name(self) -> str:
        return self.kind


@register_lagrangian
class Identity(AbstractLagrangian):
    """``L = 1/2 |x|^2``; activation ``x``."""

    kind: ClassVar[str] = "identity"

    def __call__(self, x):
        return 0.5 * jnp.sum(x * x)


class _WithGain(AbstractLagrangian):
    """A Lagrangian with one gain (inverse temperature) ``beta``."""

    beta: Array

    def __init__(self, beta: Annotated[Positive, Doc("gain (inverse temperature) of the activation")] = 1.0):
        self.beta = _param(beta)


@register_lagrangian
class Sigmoid(_WithGain):
    """``L = (1/beta) sum softplus(beta x)``; activation ``sigmoid(beta x)``."""

    kind: ClassVar[str] = "sigmoid"

    def __call__(self, x):
        return jnp.sum(jax.nn.softplus(self.beta * x)) / self.beta


@register_lagrangian
class Tanh(_WithGain):
    """``L = (1/beta) sum log cosh(beta x)``; activation ``tanh(beta x)``."""

    kind: ClassVar[str] = "tanh"

    def __call__(self, x):
        z = self.beta * x
        # log cosh z = logaddexp(z, -z) - log 2: stable for any |z| and smooth at 0.
        return jnp.sum(jnp.logaddexp(z, -z) - _LOG2) / self.beta


@register_lagrangian
class Softmax(AbstractLagrangian):
    """``L = (1/beta) logsumexp(beta x)`` over ``axis`` (summed over the others);
    activation ``softmax(beta x)``."""

    kind: ClassVar[str] = "softmax"

    beta: Array
    axis: int = eqx.field(static=True, default=-1)
    scenario_exclude: ClassVar[tuple[str, ...]] = ("axis",)

    def __init__(self, beta: Annotated[Positive, Doc("inverse temperature of the softmax")] = 1.0, axis: int = -1):
        self.beta = _param(beta)
        self.axis = axis

    def __call__(self, x):
        return jnp.sum(jax.nn.logsumexp(self.beta * x, axis=self.axis)) / self.beta


@register_lagrangian
class Relu(AbstractLagrangian):
    """``L = 1/2 sum relu(x)^2``; activation ``relu(x)``."""

    kind: ClassVar[str] = "relu"

    def __call__(self, x):
        r = jnp.maximum(x, 0.0)
        return 0.5 * jnp.sum(r * r)


@register_lagrangian
class Repu(AbstractLagrangian):
    """Rectified polynomial: ``L = (1/n) sum relu(x)^n``; activation ``relu(x)^(n-1)``.

    ``n >= 1`` (``n = 2`` is ``Relu``).  Stays finite at ``|x| = 1e4`` in float32
    for ``n <= 9``.
    """

    kind: ClassVar[str] = "repu"

    n: Array

    def __init__(
        self, n: Annotated[float, Field(ge=1, le=64, allow_inf_nan=False), Doc("the power (n = 2 is relu)")] = 2.0
    ):
        self.n = _param(n)

    def __check_init__(self):
        _require(self.n, lambda v: v >= 1, "n", "repu: expected n >= 1")

    def __call__(self, x):
        r = jnp.where(x > 0, x, 0.0)
        return jnp.sum(r**self.n) / self.n


_ExpGain = Annotated[Positive, Doc("gain of the exponential")]
_ExpCap = Annotated[Positive, Doc("beta x above which the exponential continues quadratically")]


@register_lagrangian
class Exp(AbstractLagrangian):
    """``L = (1/beta) sum g(beta x)`` with ``g = exp`` below ``cap`` and its
    second-order Taylor continuation above, so the activation ``exp(beta x)``
    is exact for ``beta x <= cap`` and grows linearly (finite, still convex)
    beyond it."""

    kind: ClassVar[str] = "exp"

    beta: Array
    cap: Array

    def __init__(self, beta: _ExpGain = 1.0, cap: _ExpCap = 50.0):
        self.beta = _param(beta)
        self.cap = _param(cap)

    def __call__(self, x):
        z = self.beta * x
        c = self.cap
        # `where`, not minimum/maximum: their gradient splits 50/50 at the tie z == c.
        below = jnp.exp(jnp.where(z <= c, z, c))
        d = jnp.where(z > c, z - c, 0.0)
        above = jnp.exp(c) * (1.0 + d + 0.5 * d * d)
        return jnp.sum(jnp.where(z <= c, below, above)) / self.beta


_NormScale = Annotated[Positive, Doc("scale of the normalised activation")]
_NormOffset = Annotated[Finite, Doc("offset of the activation")]
_NormEps = Annotated[Positive, Doc("added to the variance")]


@register_lagrangian
class LayerNorm(AbstractLagrangian):
    """``L = D gamma sqrt(var(x) + eps) + sum delta x`` over the last axis (``D`` its
    length); activation ``gamma (x - mean) / sqrt(var + eps) + delta``.

    Convex, not strictly: shifting ``x`` by a constant does not change the
    activation (one zero mode per normalised row)."""

    kind: ClassVar[str] = "layernorm"

    gamma: Array
    delta: Array
    eps: Array

    def __init__(self, gamma: _NormScale = 1.0, delta: _NormOffset = 0.0, eps: _NormEps = 1e-5):
        self.gamma = _param(gamma)
        self.delta = _param(delta)
        self.eps = _param(eps)

    def __check_init__(self):
        _require(self.gamma, lambda v: v > 0, "gamma", "layernorm: expected gamma > 0")

    def __call__(self, x):
        d = x.shape[-1]
        xm = x - jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(xm * xm, axis=-1)
        return jnp.sum(d * self.gamma * jnp.sqrt(var + self.eps)) + jnp.sum(self.delta * x)


@register_lagrangian
class Spherical(AbstractLagrangian):
    """``L = sqrt(|x|^2 + eps)`` over the last axis; activation ``x / sqrt(|x|^2 + eps)``
    (unit-norm rows). Convex; the radial direction is a zero mode."""

    kind: ClassVar[str] = "spherical"

    eps: Array

    def __init__(self, eps: Annotated[Positive, Doc("added to |x|^2 (smooths the origin)")] = 1e-8):
        self.eps = _param(eps)

    def __call__(self, x):
        return jnp.sum(jnp.sqrt(jnp.sum(x * x, axis=-1) + self.eps))


class CustomLagrangian(AbstractLagrangian):
    """A user-supplied Lagrangian ``fn(x) -> scalar``.  hopdyn does not assume it
    is convex: the verification checks it."""

    fn: Callable[[Array], Array] = eqx.field(static=True)
    kind: ClassVar[str] = "custom"

    def __call__(self, x):
        out = jnp.asarray(self.fn(x))
        if out.size != 1:
            raise NetworkError(
                f"a custom Lagrangian must return a scalar, got shape {out.shape} from {self.name}", ("lagrangian",)
            )
        return out.reshape(())

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", "custom")


def _require(value: Array, ok: Callable[[Array], Array], field: str, message: str) -> None:
    """Raise ``NetworkError(message)`` at ``field`` if a concrete parameter violates ``ok``."""
    if isinstance(value, jax.core.Tracer):
        return
    if not bool(jnp.all(ok(value))):
        raise NetworkError(message, (field,))
