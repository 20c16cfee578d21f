"""Neuron layers: a shape, a convex Lagrangian and a time constant."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ..core.errors import NetworkError
from .lagrangians import AbstractLagrangian, CustomLagrangian, _param


class Neuron(eqx.Module):
    """A layer of neurons of any ``shape`` with Lagrangian ``lagrangian`` and time
    constant ``tau >= 0``.  Its name is its key in ``Network.neurons``.

    **Arguments:**

    - ``shape``: an int or a tuple of positive ints.
    - ``lagrangian``: an ``AbstractLagrangian`` (or a callable ``L(x) -> scalar``).
    - ``tau``: the time constant (finite, ``>= 0``; default ``1.0``).

    ``tau = 0`` makes the layer **quasi-static**: it is always at its equilibrium
    given the other layers (``Network.equilibrate``), and is not integrated.

    A plain Python callable is accepted as the Lagrangian and wrapped in
    ``CustomLagrangian``.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    lagrangian: AbstractLagrangian
    tau: Array
    quasi_static: bool = eqx.field(static=True)

    def __init__(self, shape, lagrangian, tau: ArrayLike = 1.0):
        from .checks import check_argument
        from .params import NonNegative

        check_argument("Neuron", "tau", NonNegative, tau)
        if isinstance(shape, int):
            shape = (shape,)
        self.shape = tuple(int(s) for s in shape)
        if not isinstance(lagrangian, AbstractLagrangian):
            if not callable(lagrangian):
                raise NetworkError(
                    f"expected a Lagrangian or a callable, got {type(lagrangian).__name__}", ("lagrangian",)
                )
            lagrangian = CustomLagrangian(lagrangian)
        self.lagrangian = lagrangian
        self.tau = _param(tau)
        self.quasi_static = not isinstance(self.tau, jax.core.Tracer) and float(self.tau) == 0.0

    def __check_init__(self):
        if any(s <= 0 for s in self.shape):
            raise NetworkError(f"expected positive sizes, got {self.shape}", ("shape",))
        if jnp.ndim(self.tau) != 0:
            raise NetworkError(f"expected a scalar, got shape {jnp.shape(self.tau)}", ("tau",))
        if not isinstance(self.tau, jax.core.Tracer):
            tau = float(self.tau)
            if not (tau >= 0 and tau < float("inf")):
                raise NetworkError(f"expected a finite number >= 0 (0: quasi-static), got {tau}", ("tau",))

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def activation(self, x: Array) -> Array:
        return self.lagrangian.activation(x)

    def energy(self, x: Array, xhat: Array | None = None) -> Array:
        return self.lagrangian.energy(x, xhat)
