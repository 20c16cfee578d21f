"""The network: named neuron layers plus synapses, and everything derived from
their one energy function.

States are pytrees: ``dict[str, Array]`` from neuron name to that layer's
internal state (unbatched; batches go through ``jax.vmap``).  The total energy

    E(x) = sum_a [<xhat_a, x_a> - L_a(x_a)] + sum_s E_s(xhat)

is the single source of truth.  The dynamics ``tau_a dx_a/dt = -dE/dxhat_a``
are its gradient with respect to the activations with ``x`` held fixed,
obtained by ``jax.grad``; clamped elements have ``dx/dt = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ..core.errors import NetworkError
from .lagrangians import AbstractLagrangian, CustomLagrangian
from .neurons import Neuron
from .synapses import AbstractSynapse, CustomSynapse

State = dict[str, Array]


def norm(tree) -> Array:
    """Euclidean norm over every element of a state (any pytree of arrays)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(v)) for v in jax.tree.leaves(tree)))


def rms(tree) -> Array:
    """Root mean square over every element of a state (any pytree of arrays)."""
    leaves = jax.tree.leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(v)) for v in leaves) / sum(v.size for v in leaves))


def all_finite(tree) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(tree)]))


def max_abs(tree) -> Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(v)) for v in jax.tree.leaves(tree)]))


def _is_concrete(x) -> bool:
    return eqx.is_array(x) and not isinstance(x, jax.core.Tracer)


def cast(x, dtype) -> Array:
    """``x`` as a ``dtype`` array; concrete values are cast on the host (numpy),
    which compiles no program (an eager ``astype`` compiles one per shape)."""
    if isinstance(x, jax.core.Tracer) or (isinstance(x, jax.Array) and len(x.sharding.device_set) > 1):
        return jnp.asarray(x, dtype=dtype)  # traced, or spread over devices: cast where it is
    if getattr(x, "dtype", None) == dtype and isinstance(x, jax.Array):
        return x
    return jax.device_put(np.asarray(x, dtype=dtype))  # (jnp.asarray would compile a staging program)


class Network(eqx.Module):
    """An energy-based network: layers of neurons and the energy terms that couple
    them.  Its vector field ``tau dx/dt = -dE/dxhat`` is derived from the energy
    by autodiff (``vector_field``); ``simulate`` integrates it.

    **Arguments:**

    - ``neurons``: ``{name: Neuron}``.
    - ``synapses``: a sequence of synapses; a plain callable ``fn(*xhats)``
      paired with its layer names, ``(fn, ("a", "b"))``, is accepted too.
    - ``clamps``: ``{name: mask}`` where ``mask`` is ``True`` (the whole layer)
      or a boolean array of the layer's shape; masked elements do not move.

    **Raises:**

    ``NetworkError`` naming the argument: an unknown layer in a synapse or a
    clamp, a synapse that does not fit the shapes of its layers, non-finite
    weights, a custom energy that does not return a scalar.
    """

    neurons: dict[str, Neuron]
    synapses: tuple[AbstractSynapse, ...]
    clamps: dict[str, Array]

    def __init__(self, neurons: Mapping[str, Neuron], synapses=(), clamps: Mapping | None = None):
        self.neurons = dict(neurons)
        syns = []
        for s in synapses:
            if isinstance(s, tuple) and len(s) == 2 and callable(s[0]):
                s = CustomSynapse(s[1], s[0])
            syns.append(s)
        self.synapses = tuple(syns)
        self.clamps = {k: self._clamp_mask(k, v) for k, v in (clamps or {}).items()}

    def _clamp_mask(self, name, spec) -> Array:
        if name not in self.neurons:
            raise NetworkError(f"unknown neuron {name!r} (neurons: {', '.join(self.neurons)})", ("clamps", name))
        shape = self.neurons[name].shape
        if spec is True:
            return jnp.ones(shape, dtype=bool)
        mask = jnp.asarray(spec)
        if mask.shape != shape:
            raise NetworkError(f"mask has shape {mask.shape}, expected {shape} (neuron {name!r})", ("clamps", name))
        return mask.astype(bool)

    def __check_init__(self):
        if not self.neurons:
            raise NetworkError("a network needs at least one neuron", ("neurons",))
        for name, neuron in self.neurons.items():
            if not isinstance(name, str) or not name:
                raise NetworkError(f"neuron names must be non-empty strings, got {name!r}", ("neurons",))
            if not isinstance(neuron, Neuron):
                raise NetworkError(f"expected a hopdyn.Neuron, got {type(neuron).__name__}", ("neurons", name))
            _check_finite(neuron, ("neurons", name))
            if isinstance(neuron.lagrangian, CustomLagrangian):
                _check_callable(neuron.lagrangian, (neuron.shape,), ("neurons", name, "lagrangian"))
        if all(n.quasi_static for n in self.neurons.values()):
            raise NetworkError("every layer has tau = 0: at least one layer must have tau > 0 to evolve", ("neurons",))
        for i, syn in enumerate(self.synapses):
            where = ("synapses", i)
            if not isinstance(syn, AbstractSynapse):
                raise NetworkError(f"expected a hopdyn synapse or (fn, connects), got {type(syn).__name__}", where)
            unknown = [c for c in syn.connects if c not in self.neurons]
            if unknown:
                raise NetworkError(
                    f"{syn.kind}: unknown neuron {unknown[0]!r} (neurons: {', '.join(self.neurons)})",
                    (*where, "connects"),
                )
            if syn.arity is not None and len(syn.connects) != syn.arity:
                raise NetworkError(
                    f"{syn.kind}: connects {len(syn.connects)} layers, expected {syn.arity}", (*where, "connects")
                )
            problem = syn.shape_problem(tuple(self.neurons[c].shape for c in syn.connects))
            if problem:
                raise NetworkError(f"{syn.kind}: {problem[1]}", (*where, problem[0]))
            _check_finite(syn, where)
            if isinstance(syn, CustomSynapse):
                _check_callable(syn, tuple(self.neurons[c].shape for c in syn.connects), where)

    # ----------------------------------------------------------------- states
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.neurons)

    @property
    def dtype(self):
        """The floating dtype of the parameters."""
        leaves = [x for x in jax.tree.leaves(self) if eqx.is_inexact_array(x)]
        return jnp.result_type(*leaves) if leaves else jnp.result_type(float)

    def astype(self, dtype) -> Network:
        """A copy with every floating parameter cast to ``dtype``."""
        dtype = jnp.dtype(dtype)
        return jax.tree.map(lambda x: cast(x, dtype) if eqx.is_inexact_array(x) else x, self)

    def init_state(self, x: Mapping[str, ArrayLike] | None = None, dtype=None) -> State:
        """A full state: the given layers (a leading batch axis is kept), zeros for
        the others."""
        dtype = jnp.dtype(dtype or self.dtype)
        x = dict(x or {})
        unknown = [k for k in x if k not in self.neurons]
        if unknown:
            raise NetworkError(
                f"unknown neuron {unknown[0]!r} (neurons: {', '.join(self.neurons)})", ("x0", unknown[0])
            )
        batch = None
        out = {}
        for name, neuron in self.neurons.items():
            if name in x:
                v = cast(x[name], dtype)
                if v.shape[v.ndim - len(neuron.shape) :] != neuron.shape or v.ndim - len(neuron.shape) > 1:
                    raise NetworkError(
                        f"has shape {v.shape}, expected {neuron.shape} or (batch, {', '.join(map(str, neuron.shape))})",
                        ("x0", name),
                    )
                b = v.shape[0] if v.ndim > len(neuron.shape) else None
                if batch is not None and b is not None and b != batch:
                    raise NetworkError(f"batch size {b}, but another layer has {batch}", ("x0", name))
                batch = batch if b is None else b
                out[name] = v
        for name, neuron in self.neurons.items():
            if name not in out:
                out[name] = jnp.zeros(neuron.shape, dtype)
        if batch is not None:
            for name, neuron in self.neurons.items():
                if out[name].ndim == len(neuron.shape):
                    out[name] = jnp.broadcast_to(out[name], (batch,) + neuron.shape)
        return out

    def flatten(self, x: State) -> Array:
        """One unbatched state as a flat vector (layers in declaration order)."""
        return jnp.concatenate([jnp.ravel(x[a]) for a in self.neurons])

    def unflatten(self, v: Array) -> State:
        """The inverse of ``flatten``."""
        out, k = {}, 0
        for a, n in self.neurons.items():
            out[a] = v[k : k + n.size].reshape(n.shape)
            k += n.size
        return out

    def batch_size(self, x: State) -> int | None:
        """The leading batch size of a full state, ``None`` if unbatched."""
        name, neuron = next(iter(self.neurons.items()))
        v = x[name]
        return v.shape[0] if v.ndim > len(neuron.shape) else None

    # ----------------------------------------------------------------- energy
    def activations(self, x: State) -> State:
        """``xhat_a = grad L_a(x_a)`` for every layer."""
        return {a: n.activation(x[a]) for a, n in self.neurons.items()}

    def _energy_terms(self, xhat: State, x: State) -> dict[str, Array]:
        terms = {}
        for a, n in self.neurons.items():
            terms[a] = jnp.vdot(xhat[a], x[a]) - n.lagrangian(x[a])
        for i, s in enumerate(self.synapses):
            terms[f"synapse:{i}"] = s(*(xhat[c] for c in s.connects))
        return terms

    def _energy(self, xhat: State, x: State) -> Array:
        return sum(self._energy_terms(xhat, x).values())

    def energy_terms(self, x: State) -> dict[str, Array]:
        """Energy of each layer (keyed by its name) and each synapse (``synapse:<i>``)."""
        return self._energy_terms(self.activations(x), x)

    def energy(self, x: State) -> Array:
        """Total energy ``E(x)``."""
        return self._energy(self.activations(x), x)

    def energy_gradient(self, x: State) -> State:
        """``dE/dxhat_a`` at fixed ``x`` (the layer term contributes ``x_a``)."""
        return jax.grad(self._energy)(self.activations(x), x)

    @property
    def is_gradient(self) -> bool:
        """Whether every coupling derives from the energy (no ``Directed`` synapse)."""
        return all(s.gradient for s in self.synapses)

    def _forces(self, x: State) -> tuple[State, dict, State, State]:
        """The activations, the energy terms, the energy gradient ``dE/dxhat`` and
        the force it and any non-gradient coupling exert on each layer (``tau
        dx/dt = -force``).  The gradient is the terms' VJP, so products a term
        and its gradient share (``W xhat_b`` in a dense synapse) are formed once."""
        xhat = self.activations(x)
        terms, pull = jax.vjp(lambda xh: self._energy_terms(xh, x), xhat)
        (g,) = pull(jax.tree.map(jnp.ones_like, terms))
        force = dict(g)
        if not self.is_gradient:
            for s in self.synapses:
                if not s.gradient:
                    src, tgt = s.connects
                    force[tgt] = force[tgt] - s.force(xhat[src], xhat[tgt])
        return xhat, terms, g, force

    # ------------------------------------------------------------ quasi-static
    @property
    def quasi_static(self) -> tuple[str, ...]:
        """Layers with ``tau = 0``: always at their equilibrium given the others."""
        return tuple(a for a, n in self.neurons.items() if n.quasi_static)

    @property
    def closed_form_equilibrium(self) -> bool:
        """Whether the quasi-static layers' equilibrium has a closed form (see
        ``inputs_independent``)."""
        return self.inputs_independent(self.quasi_static)

    def inputs_independent(self, layers) -> bool:
        """Whether the inputs of ``layers`` do not depend on those layers: no
        synapse touches two of them (or one twice), and every synapse touching
        one is affine in it (``AbstractSynapse.affine_in``; a Hebbian or
        polynomial self-coupling is not).  Their joint equilibrium is then one
        evaluation of their inputs, ``x_a = -dE_syn/dxhat_a``."""
        layers = set(layers)
        for s in self.synapses:
            hits = [i for i, c in enumerate(s.connects) if c in layers]
            if len(hits) > 1 or not all(s.affine_in(i) for i in hits):
                return False
        return True

    def equilibrate(self, x: State) -> State:
        """``x`` with every quasi-static layer at its equilibrium given the other
        layers (``dE/dxhat_a = 0``, i.e. ``x_a`` equal to its input): in closed
        form when ``closed_form_equilibrium``, by fixed-point iteration
        (optimistix, implicit adjoint) otherwise.  Clamped elements keep their
        values."""
        fast = self.quasi_static
        if not fast:
            return x

        def update(x):
            force = self._forces(x)[3]
            new = {}
            for a in fast:
                eq = x[a] - force[a]  # the layer term contributes exactly x_a to dE/dxhat_a
                new[a] = jnp.where(self.clamps[a], x[a], eq) if a in self.clamps else eq
            return new

        if self.closed_form_equilibrium:
            return {**x, **update(x)}
        import optimistix as optx

        sol = optx.fixed_point(
            lambda y, _: update({**x, **y}),
            optx.FixedPointIteration(rtol=1e-7, atol=1e-9),
            {a: x[a] for a in fast},
            max_steps=1000,
            throw=False,
        )
        return {**x, **sol.value}

    def _flow(self, x: State) -> tuple[State, State]:
        """The energy gradient ``dE/dxhat`` and the rate ``dx/dt`` it drives, at
        ``x`` with its quasi-static layers equilibrated (they do not move)."""
        return self._flow_equilibrated(self.equilibrate(x))

    def _flow_equilibrated(self, x: State) -> tuple[State, State]:
        """``_flow`` at a state whose quasi-static layers are at equilibrium."""
        return self._flow_parts(x)[2:]

    def _flow_parts(self, x: State) -> tuple[State, dict, State, State]:
        """``xhat``, the energy terms, ``dE/dxhat`` and ``dx/dt`` at a state whose
        quasi-static layers are at equilibrium."""
        xhat, terms, g, force = self._forces(x)
        dx = {a: (jnp.zeros_like(x[a]) if n.quasi_static else -force[a] / n.tau) for a, n in self.neurons.items()}
        for a, mask in self.clamps.items():
            dx[a] = jnp.where(mask, jnp.zeros((), dx[a].dtype), dx[a])
        return xhat, terms, g, dx

    def leak_rates(self) -> State:
        """The linear part of the field: every layer's energy term contributes
        exactly ``x_a`` to ``dE/dxhat_a``, so ``dx_a/dt = -x_a / tau_a + N_a(x)``.
        Returns ``1 / tau_a`` per layer (a scalar, 0 on quasi-static layers), or
        per element (one member, no batch axis) where a layer has clamped
        elements (0 there: they do not move).  Scalars broadcast against the
        state, and keep a solver's per-rate work (``e^{-h/tau}``, ``phi_k``) per
        layer rather than per element."""
        out = {}
        for a, n in self.neurons.items():
            r = jnp.asarray(0.0 if n.quasi_static else 1.0 / n.tau, self.dtype)
            out[a] = jnp.where(self.clamps[a], 0.0, r).astype(self.dtype) if a in self.clamps else r
        return out

    def vector_field(self, x: State) -> State:
        """``dx_a/dt = -(1/tau_a) dE/dxhat_a`` (plus the drive of non-gradient
        couplings), zero on clamped elements and quasi-static layers (evaluated
        with those at their equilibrium)."""
        return self._flow(x)[1]

    def dEdt(self, x: State) -> Array:
        """The exact rate ``dE/dt`` along the flow, by the chain rule (see
        ``observables``; at the equilibrium of quasi-static layers, where
        ``dE/dxhat_a = 0``, so the reduced energy's rate needs no derivative of
        the equilibrium)."""
        return self.dEdt_and_scale(x)[0]

    def dEdt_and_scale(self, x: State) -> tuple[Array, Array]:
        """``dEdt(x)`` and the sum of the magnitudes of the terms the energy's
        rate adds up: ``|xhat . xdot|`` twice per layer (from ``<xhat, x>`` and
        from ``L``; they cancel analytically) and ``|H xdot| (|x| + |dE_syn/dxhat|)``.  Rounding
        makes ``dEdt`` uncertain by a few ``eps`` times this scale; the Lyapunov
        check allows for it.  One evaluation of the flow serves both."""
        obs = self.observables(x)
        return obs["dEdt"], obs["dEdt_scale"]

    def observables(self, x: State) -> dict:
        """What a saved state reports, from one evaluation of the flow:
        ``x`` (quasi-static layers equilibrated), ``xhat``, ``energy_terms``,
        ``dEdt`` and ``dEdt_scale`` (as ``dEdt_and_scale``) and ``xdot``.

        ``dE/dt`` by the chain rule through ``E(xhat(x), x)``:

            dE/dt = sum_a <dE/dxhat_a, H_a xdot_a> + <xhat_a - grad L_a(x_a), xdot_a>,

        ``H_a xdot_a`` a JVP of the activations (elementwise work) and
        ``dE/dxhat`` the gradient the flow already has; the second term
        vanishes where a Lagrangian's activation is its gradient (every shipped
        one) and is kept for subclasses that write their own.  Exact, like a JVP
        of ``E``, at a third of its cost (no product with the synapses' weights
        beyond the flow's)."""
        x = self.equilibrate(x)
        xhat, terms, g, xdot = self._flow_parts(x)
        hxdot = jax.jvp(self.activations, (x,), (xdot,))[1]
        dEdt = sum(jnp.vdot(g[a], hxdot[a]) for a in self.neurons)
        for a, n in self.neurons.items():
            if type(n.lagrangian).activation is not AbstractLagrangian.activation:
                dEdt = dEdt + jnp.vdot(xhat[a] - jax.grad(n.lagrangian)(x[a]), xdot[a])
        syn = {a: g[a] - x[a] for a in self.neurons}  # the layer term contributes exactly x
        scale = sum(
            2 * jnp.sum(jnp.abs(xhat[a] * xdot[a])) + jnp.sum(jnp.abs(hxdot[a]) * (jnp.abs(x[a]) + jnp.abs(syn[a])))
            for a in self.neurons
        )
        return dict(x=x, xhat=xhat, energy_terms=terms, dEdt=dEdt, dEdt_scale=scale, xdot=xdot)

    # ----------------------------------------------------------------- clamps
    def clamp(self, *names: str, **masks) -> Network:
        """A copy with whole layers (``names``) or parts (``name=mask``) clamped,
        added to the clamps already there."""
        new = dict(self.clamps)
        for n in names:
            new[n] = self._clamp_mask(n, True)
        for n, m in masks.items():
            new[n] = self._clamp_mask(n, m)
        return Network(self.neurons, self.synapses, new)

    def unclamp(self) -> Network:
        return Network(self.neurons, self.synapses, {})


def _check_callable(fn, shapes: tuple, where: tuple) -> None:
    """A user's function, traced once on zeros of the shapes it will see, must
    return a scalar (its errors become a ``NetworkError`` at ``where``)."""
    structs = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
    name = getattr(getattr(fn, "fn", fn), "__name__", "custom")
    try:
        out = jax.eval_shape(lambda *xs: jnp.asarray(fn.fn(*xs)), *structs)
    except Exception as e:  # whatever the user's function raises when called like this
        raise NetworkError(
            f"calling {name} with arrays of shape {', '.join(map(str, shapes))} failed: {type(e).__name__}: {e}", where
        ) from None
    if out.size != 1:
        raise NetworkError(f"{name} must return a scalar energy, got shape {out.shape}", where)


def _check_finite(module, where: tuple) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(module):
        if _is_concrete(leaf) and jnp.issubdtype(leaf.dtype, jnp.inexact):
            if not bool(np.all(np.isfinite(np.asarray(leaf)))):
                field = jax.tree_util.keystr(path).lstrip(".")
                raise NetworkError("contains non-finite values (NaN or inf)", (*where, *field.split(".")))
