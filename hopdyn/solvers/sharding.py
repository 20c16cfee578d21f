"""Ensembles across devices and hosts.

Within a process, a batch is split along its leading axis over the process's
JAX devices (one ``Mesh`` axis, ``batch``), padded to a multiple of the device
count; XLA partitions the ``vmap``ped solve and each device integrates its
share of the members (the parameters are replicated).

Across processes (``jax.distributed``, started by ``start_processes``),
``hopdyn basins --distributed`` gives each process every
``process_count``-th chunk of a basin ensemble, or every ``process_count``-th
value of a continuation (each value's ensemble whole, ``alone``); the pieces
meet in the shared work folder under ``--out`` and process 0 merges them and
writes the results."""

from __future__ import annotations

import contextlib
import os
import re

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


_ALONE = [0]


def process() -> tuple[int, int]:
    """``(index, count)`` of this process among those sharing the work: JAX's
    ``process_index()`` and ``process_count()``, or ``(0, 1)`` inside ``alone()``."""
    if _ALONE[0]:
        return 0, 1
    return jax.process_index(), jax.process_count()


@contextlib.contextmanager
def alone():
    """Within this block the process works as if it were the only one (a
    continuation value's ensemble, given whole to one process)."""
    _ALONE[0] += 1
    try:
        yield
    finally:
        _ALONE[0] -= 1


def my_chunks(n_chunks: int) -> list[int]:
    """The pieces (chunks of an ensemble, values of a continuation) this
    process does: all of them in a single process, every ``count``-th one of
    several."""
    index, count = process()
    return [i for i in range(n_chunks) if i % count == index]


ENVIRONMENT = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
"""The environment variables ``start_processes`` reads for options not given
(the first is JAX's own; the other two follow its naming)."""


def process_options(
    distributed: bool, coordinator: str | None, num_processes: int | None, process_id: int | None
) -> tuple | None:
    """The three settings of a multi-process run from the options or, for those
    not given, ``ENVIRONMENT``; ``None`` when none is set anywhere (then a
    cluster's own environment — SLURM, Open MPI — is read by JAX) or when the
    run is not ``distributed`` (then none may be given).  Checked before any
    work: ``SettingsError`` naming the option."""
    from ..core.errors import SettingsError

    options = {"--coordinator": coordinator, "--num-processes": num_processes, "--process-id": process_id}
    if not distributed:
        for option, value in options.items():
            if value is not None:
                raise SettingsError("needs --distributed", (option,))
        return None
    given = {
        "--coordinator": coordinator or os.environ.get(ENVIRONMENT[0]) or None,
        "--num-processes": num_processes if num_processes is not None else os.environ.get(ENVIRONMENT[1]),
        "--process-id": process_id if process_id is not None else os.environ.get(ENVIRONMENT[2]),
    }
    if all(v is None for v in given.values()):
        return None
    for (option, value), env in zip(given.items(), ENVIRONMENT):
        if value is None:
            raise SettingsError(
                f"needed with the other two (or {env}): the coordinator HOST:PORT, the number of processes "
                "and this process's index 0..N-1",
                (option,),
            )
    address = str(given["--coordinator"])
    match = re.fullmatch(r"\[?([A-Za-z0-9_.:-]+?)\]?:(\d{1,5})", address)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise SettingsError(f"expected HOST:PORT with a port 1-65535 (got {address!r})", ("--coordinator",))
    numbers = {}
    for option, low in (("--num-processes", 1), ("--process-id", 0)):
        try:
            numbers[option] = int(str(given[option]))
        except ValueError:
            raise SettingsError(f"expected an integer (got {given[option]!r})", (option,)) from None
        if numbers[option] < low:
            raise SettingsError(f"expected an integer >= {low} (got {numbers[option]})", (option,))
    count, index = numbers["--num-processes"], numbers["--process-id"]
    if index >= count:
        raise SettingsError(f"expected 0..{count - 1} for {count} processes (got {index})", ("--process-id",))
    return address, count, index


def start_processes(options: tuple | None, timeout: int = 300) -> tuple[int, int]:
    """Join the multi-process runtime (``jax.distributed.initialize``) with
    ``process_options``' result, or from a cluster's environment when it is
    ``None``; returns ``(index, count)``.  A cluster JAX cannot detect is a
    ``SettingsError`` saying which options to give; a coordinator that cannot
    be reached within ``timeout`` seconds a ``HopdynError``."""
    from ..core.errors import HopdynError, SettingsError

    try:
        if options is None:
            jax.distributed.initialize(initialization_timeout=timeout)
        else:
            address, count, index = options
            jax.distributed.initialize(address, count, index, initialization_timeout=timeout)
    except ValueError as e:
        if options is None:
            raise SettingsError(
                "no cluster JAX can detect (SLURM, Open MPI, ...): name --coordinator HOST:PORT, "
                f"--num-processes N and --process-id I, or set {', '.join(ENVIRONMENT)}",
                ("--distributed",),
            ) from None
        raise HopdynError(f"--distributed: {str(e).splitlines()[0]}") from None
    except Exception as e:  # noqa: BLE001  the runtime's connection errors: one line
        raise HopdynError(
            f"--distributed: could not join the other processes ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    return jax.process_index(), jax.process_count()
