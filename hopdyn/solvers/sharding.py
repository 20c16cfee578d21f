"""Ensembles across devices and hosts.

Within a process, a batch is split along its leading axis over the process's
JAX devices (one ``Mesh`` axis, ``batch``), padded to a multiple of the device
count; XLA partitions the ``vmap``ped solve and each device integrates its
share of the members (the parameters are replicated).

Across hosts (``jax.distributed``), ``hopdyn basins --distributed`` gives each
process every ``process_count``-th chunk of the ensemble; the chunks meet in
the shared ``basins.partial/`` folder and process 0 labels them and writes
the report."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def want_sharding(shard: bool | None) -> bool:
    """``shard=None``: shard whenever more than one device is visible."""
    return bool(shard) if shard is not None else jax.local_device_count() > 1


def shard_batch(x0: dict, devices=None) -> tuple[dict, int]:
    """``x0`` (every leaf with a leading batch axis) padded with copies of its
    last member to a multiple of the device count and placed split along the
    batch axis; returns it and the real batch size."""
    devices = list(devices or jax.local_devices())
    n = len(devices)
    size = next(iter(x0.values())).shape[0]
    pad = (-size) % n
    if pad:
        x0 = {k: jnp.concatenate([v, jnp.repeat(v[-1:], pad, axis=0)]) for k, v in x0.items()}
    sharding = NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))
    return {k: jax.device_put(v, sharding) for k, v in x0.items()}, size


def my_chunks(n_chunks: int) -> list[int]:
    """The chunks of an ensemble this process solves: all of them in a single
    process, every ``process_count``-th one under ``jax.distributed``."""
    count, index = jax.process_count(), jax.process_index()
    return [i for i in range(n_chunks) if i % count == index]
