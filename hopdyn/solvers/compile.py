"""Ahead-of-time compilation with a cache keyed on what forces a recompile, so
``simulate`` can report compile and solve seconds separately."""

from __future__ import annotations

import time
from collections import OrderedDict

import equinox as eqx
import jax
import jax.numpy as jnp

_COMPILED: OrderedDict = OrderedDict()
_CACHE_SIZE = 32


def compiled(fn, *args):
    """``fn`` (an ``eqx.filter_jit`` function) compiled for ``args``, and the
    seconds spent compiling it (0 when cached).  The key is everything that
    forces a recompile: the function, the pytree structure, the static
    (non-array) leaves and the shapes/dtypes of arrays; array *values* (beta,
    tolerances, weights, save times, seeds) are not in it."""
    dynamic, static = eqx.partition(args, eqx.is_array)
    leaves, treedef = jax.tree.flatten(dynamic)
    key = (
        fn,
        treedef,
        jax.tree.structure(static),
        tuple(jax.tree.leaves(static)),
        tuple((leaf.shape, jnp.result_type(leaf), getattr(leaf, "sharding", None)) for leaf in leaves),
    )
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        return _COMPILED[key], 0.0
    start = time.perf_counter()
    out = fn.lower(*args).compile()
    seconds = time.perf_counter() - start
    _COMPILED[key] = out
    if len(_COMPILED) > _CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return out, seconds
