"""Traced programs kept on disk, so a new process skips tracing and lowering.

JAX's persistent cache stores *compiled* programs, but each process still
traces and lowers a solve before it can look one up (0.5-1.5 s for a Diffrax
solve).  hopdyn also keeps the lowered program (``jax.export``, StableHLO)
under a key of everything that decides it:

- hopdyn's own source (a hash of every module), and the versions of jax,
  jaxlib, diffrax, equinox, optimistix and lineax;
- the function, the full pytree structure of its arguments with every node's
  type (module and name) and static data, the static leaves, and the shape and
  dtype of every array; the x64 flag and the backend.

Only structures hopdyn can name for sure are kept: node types and static
values from hopdyn, Python, numpy or JAX; anything else (a user's own Lagrangian
class or function, whose code may change under the same name) is traced every
time, as is an array spread over several devices.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import re
from pathlib import Path

import jax

_PACKAGES = ("jax", "jaxlib", "diffrax", "equinox", "optimistix", "lineax")
_LOWERING_FLAGS = (  # JAX settings that change the program traced
    "jax_default_matmul_precision",
    "jax_numpy_dtype_promotion",
    "jax_threefry_partitionable",
    "jax_default_prng_impl",
    "jax_softmax_custom_jvp",
)
_SAFE_MODULES = ("builtins", "collections", "numpy", "jax", "jaxlib", "hopdyn", "equinox")


@functools.cache
def _environment() -> str:
    """hopdyn's source and its stack's versions, hashed."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for pkg in _PACKAGES:
        try:
            h.update(f"{pkg}={importlib.metadata.version(pkg)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{pkg}=?".encode())
    return h.hexdigest()


class _Unnamed(Exception):
    """A structure that cannot be named for sure."""


def _type_name(t: type) -> str:
    module = getattr(t, "__module__", "") or ""
    qual = getattr(t, "__qualname__", "")
    if module.split(".")[0] not in _SAFE_MODULES or "<" in qual:
        raise _Unnamed(f"{module}.{qual}")
    return f"{module}.{qual}"


def _value(v) -> str:
    """A static value, written out in full (never an address)."""
    if v is None or isinstance(v, (bool, int, float, str, bytes)):
        return repr(v)
    if isinstance(v, (tuple, list, frozenset)):
        items = sorted(v, key=repr) if isinstance(v, frozenset) else v
        return f"{type(v).__name__}(" + ",".join(_value(x) for x in items) + ")"
    if isinstance(v, dict):
        return "dict(" + ",".join(f"{_value(k)}:{_value(x)}" for k, x in v.items()) + ")"
    if isinstance(v, type):
        return "type:" + _type_name(v)
    if callable(v) and hasattr(v, "__qualname__"):  # a function: hopdyn's own, named at module level
        return "fn:" + _type_name(v)
    if hasattr(v, "dtype") and hasattr(v, "shape"):  # an array held as static data: its bytes, hashed
        import numpy as np

        a = np.ascontiguousarray(np.asarray(v))
        return f"array({a.dtype},{a.shape},{hashlib.sha256(a.tobytes()).hexdigest()})"
    if type(v).__name__ == "dtype":
        return f"dtype({v})"
    text = repr(v)
    if " at 0x" in text or type(v).__module__.split(".")[0] not in _SAFE_MODULES:
        raise _Unnamed(text)
    return f"{_type_name(type(v))}:{text}"


def _structure(td) -> str:
    if td.num_nodes == 1 and td.num_leaves == 1:
        return "*"
    data = td.node_data()
    if data is None:
        return "None"
    typ, aux = data
    return f"{_type_name(typ)}[{_value(aux)}](" + ",".join(_structure(c) for c in td.children()) + ")"


def key(fn, treedef, static, leaves) -> str | None:
    """The file name of ``fn``'s program for these arguments, or ``None`` when
    the structure cannot be named for sure."""
    try:
        if any(len(getattr(getattr(a, "sharding", None), "device_set", ())) > 1 for a in leaves):
            return None
        raw = getattr(fn, "__wrapped__", fn)
        parts = [
            _environment(),
            _type_name(raw) if not isinstance(raw, type) else _type_name(raw),
            _structure(treedef),
            _structure(jax.tree.structure(static)),
            ",".join(_value(v) for v in jax.tree.leaves(static)),
            ",".join(f"{a.dtype}{tuple(a.shape)}{'w' if getattr(a, 'weak_type', False) else ''}" for a in leaves),
            f"x64={jax.config.jax_enable_x64}",
            *(f"{flag}={getattr(jax.config, flag, None)}" for flag in _LOWERING_FLAGS),
            jax.default_backend(),
        ]
    except _Unnamed:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def export(fn, treedef, static, leaves):
    """``fn`` traced and lowered for these arguments, as a ``jax.export.Exported``
    (``None`` if JAX cannot export it)."""
    import equinox as eqx

    def flat(*arrays):
        return fn(*eqx.combine(jax.tree.unflatten(treedef, arrays), static))

    shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=getattr(a, "weak_type", False)) for a in leaves]
    checks: list = []
    for _ in range(3):
        try:
            return jax.export.export(jax.jit(flat), disabled_checks=checks)(*shapes)
        except ValueError as e:
            # A LAPACK call without JAX's cross-version guarantee (a QR in
            # Levenberg-Marquardt): the program is only ever read back by the
            # same jax/jaxlib (their versions are in the key), so allow it.
            targets = sorted(set(re.findall(r"custom_call @(\w+)", str(e))))
            if "custom calls" not in str(e) or not targets:
                return None
            checks += [jax.export.DisabledSafetyCheck.custom_call(t) for t in targets]
        except Exception:  # noqa: BLE001  a program export cannot hold: compiled the usual way
            return None
    return None


def _path(folder: str, name: str) -> str:
    return os.path.join(folder, "programs", name[:2], name + ".stablehlo")


MAGIC = b"hopdyn-program-1\n"


def seal(name: str, blob: bytes) -> bytes:
    """An entry that names its own key and carries a checksum of its content."""
    return MAGIC + name.encode() + b"\n" + hashlib.sha256(name.encode() + blob).hexdigest().encode() + b"\n" + blob


def unseal(name: str, data: bytes) -> bytes | None:
    """The content of an entry stored under ``name``, or ``None`` when the entry
    is not exactly what ``seal(name, ...)`` wrote (another key's entry moved
    here, truncated, edited, or of another format)."""
    if not data.startswith(MAGIC):
        return None
    head, sep, rest = data[len(MAGIC) :].partition(b"\n")
    digest, sep2, blob = rest.partition(b"\n")
    if not (sep and sep2) or head != name.encode():
        return None
    return blob if hashlib.sha256(name.encode() + blob).hexdigest().encode() == digest else None


def load(folder: str, name: str, leaves=()):
    """The stored program, or ``None``: absent, or not verified (an entry that
    names another key, fails its checksum, or takes other arguments than
    ``leaves``) -- a miss, said once (``cache_notice``), then traced again and
    replaced."""
    path = _path(folder, name)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    blob = unseal(name, data)
    exported = None
    if blob is not None:
        try:
            exported = jax.export.deserialize(bytearray(blob))
        except Exception:  # noqa: BLE001
            exported = None
    if exported is not None and leaves:
        want = [(tuple(a.shape), str(a.dtype)) for a in leaves]
        if [(tuple(a.shape), str(a.dtype)) for a in exported.in_avals] != want:
            exported = None
    if exported is None:
        cache_notice(f"compilation cache entry {path} is damaged or not this program's; traced again")
    return exported


def save(folder: str, name: str, exported) -> None:
    """Write atomically (several processes may share the folder); a failure to
    write only costs the next process a trace (said once, nothing left behind)."""
    path = _path(folder, name)
    try:
        blob = seal(name, bytes(exported.serialize()))
        write_entry(path, blob)
    except Exception as e:  # noqa: BLE001
        cache_notice(f"cannot write to the compilation cache {folder} ({getattr(e, 'strerror', None) or e})", "write")


def write_entry(path: str, blob: bytes) -> None:
    """``blob`` to ``path`` atomically (``core.io.atomic_write``: a temporary
    file renamed into place, removed on failure)."""
    from ..core.io import atomic_write

    atomic_write(path, lambda f: f.write(blob))


_SAID: set = set()


def cache_notice(message: str, kind: str = "entry") -> None:
    """Say trouble with the compilation cache once per process and ``kind``
    (``entry``: one not verified; ``write``: the folder refused a write), in one
    line; the work goes on without the entry."""
    import sys

    if kind in _SAID:
        return
    _SAID.add(kind)
    from ..core.errors import printable

    print(f"hopdyn: {printable(message)}", file=sys.stderr)
