"""Compilation: the in-process cache of compiled solves, JAX's persistent
compilation cache (on by default, per user), and a count of what a piece of
work compiled.

- ``compiled(fn, *args)``: ``fn`` lowered and compiled once per structure in
  this process, with the seconds it took (``simulate`` reports compile and solve
  time apart).
- ``enable_compilation_cache()``: JAX's on-disk cache in
  ``$XDG_CACHE_HOME/hopdyn/<version>/jax`` (``HOPDYN_COMPILATION_CACHE`` names
  another folder, or ``off``), so a repeated command with the same structure
  reads its programs instead of compiling them.  JAX keys entries on the
  program itself, the compile options and the jax/jaxlib versions; the folder
  is per hopdyn version.  A cache the user configured is left alone.
- ``CompileLog``: programs traced, lowered and compiled (or read from the cache)
  while it is active, with seconds each (from ``jax.monitoring``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict

import equinox as eqx
import jax
import jax.numpy as jnp

from ..core.progress import phase

_COMPILED: OrderedDict = OrderedDict()
MATMUL_PRECISION = os.environ.get("HOPDYN_MATMUL_PRECISION", "highest")
"""The precision of matrix products in hopdyn's compiled programs: ``highest``
(true float32/float64 products).  JAX's default on NVIDIA GPUs multiplies
float32 matrices in TF32 (10-bit mantissa), which moves end states and energy
checks by ~1e-3 relative; ``HOPDYN_MATMUL_PRECISION=default`` restores it (the
bench then measures the faster, less exact products)."""
_CACHE_SIZE = 32
OFF = ("0", "off", "false", "no", "none")


# ---------------------------------------------------------------- persistent cache
def memory_bytes(compiled_program) -> int | None:
    """XLA's memory account of a compiled program (arguments + outputs +
    temporaries; deterministic, unlike a process's RSS), or ``None`` where the
    backend gives none."""
    mem = getattr(compiled_program, "compiled", compiled_program).memory_analysis()  # (equinox wraps jax's)
    if mem is None:
        return None
    return int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes)


def default_cache_dir() -> str | None:
    """Where hopdyn keeps compiled programs (``None``: turned off)."""
    from ..core.version import __version__

    env = os.environ.get("HOPDYN_COMPILATION_CACHE", "").strip()
    if env.lower() in OFF:
        return None
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hopdyn", __version__, "jax-sealed")


_ENABLED: list = []  # the folder hopdyn set, once it has decided


def enable_compilation_cache(path: str | None = "default") -> str | None:
    """Turn on JAX's persistent compilation cache in ``path`` (default:
    ``default_cache_dir()``; ``None`` turns hopdyn's off).  Returns the folder in
    use, or ``None``.  A ``jax_compilation_cache_dir`` set by the user wins.

    **Arguments:**

    - ``path``: the folder (``"default"``: ``default_cache_dir()``; ``None`` turns hopdyn's cache off)
    """
    from jax.experimental.compilation_cache import compilation_cache as cc

    if path == "default":
        if _ENABLED:
            return _ENABLED[0]
        path = default_cache_dir()
    mine = _ENABLED[0] if _ENABLED else None
    current = jax.config.jax_compilation_cache_dir
    if current and current != mine:  # the user's own cache
        _ENABLED[:] = [current]
        return current
    if path is not None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:  # a read-only home: work without the cache, said once
            from .programs import cache_notice

            cache_notice(
                f"the compilation cache {path} cannot be used ({e.strerror or e}); compiling every program", "write"
            )
            path = None
    _verified_entries(path)
    jax.config.update("jax_compilation_cache_dir", path)
    if path is not None:
        # every program: reading a small one (~1 ms) beats compiling it (10-500 ms)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    cc.reset_cache()  # take effect even if JAX already looked for a cache
    _ENABLED[:] = [path]
    return path


class VerifiedCache:
    """JAX's persistent cache of compiled programs in hopdyn's folder, with every
    entry sealed: it names its own key and carries a checksum
    (``programs.seal``).  An entry that fails (moved from another key,
    truncated, edited) is a miss: it is removed and the program compiled again,
    said in one line.  A folder that refuses a write (read-only, full) costs
    the compile only, said once, and leaves no temporary file."""

    SUFFIX = "-hopdyn"

    def __init__(self, path: str):
        import pathlib

        self._path = pathlib.Path(path)

    def _file(self, key: str) -> str:
        return os.path.join(str(self._path), key + self.SUFFIX)

    def get(self, key: str):
        from ..core.outputs import remove_written
        from .programs import cache_notice, unseal

        path = self._file(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            cache_notice(f"cannot read the compilation cache entry {path} ({e.strerror}); compiled again")
            return None
        blob = unseal(key, data)
        if blob is None:
            cache_notice(f"compilation cache entry {path} is damaged or not this program's; compiled again")
            remove_written(str(self._path), os.path.basename(path))
        return blob

    def put(self, key: str, value: bytes) -> None:
        from .programs import cache_notice, seal, write_entry

        try:
            write_entry(self._file(key), seal(key, bytes(value)))
        except OSError as e:
            cache_notice(f"cannot write to the compilation cache {self._path} ({e.strerror or e})", "write")


_JAX_FILE_CACHE: list = []


def _verified_entries(path: str | None) -> None:
    """JAX's cache in hopdyn's own folder ``path`` reads and writes sealed
    entries (``VerifiedCache``); a cache folder the user set is JAX's as usual."""
    from jax._src import compilation_cache as jcc

    if not _JAX_FILE_CACHE:
        _JAX_FILE_CACHE.append(jcc.get_file_cache)

    def get_file_cache(folder: str):
        if path is not None and os.path.abspath(folder) == os.path.abspath(path):
            return VerifiedCache(folder), folder
        return _JAX_FILE_CACHE[0](folder)

    jcc.get_file_cache = get_file_cache


@contextlib.contextmanager
def _errors_as_nan():
    """Trace hopdyn's solves with Equinox's runtime checks returning NaN instead
    of raising through a host callback: a program with a host callback cannot be
    stored in the persistent cache.  The only checks in these programs are
    Diffrax's on ``SaveAt.ts`` (increasing, within [t0, t1]), which
    ``SolveSettings`` enforces before any tracing; a NaN would end as the status
    ``failed``, never as a number.  A no-op if Equinox moves the switch."""
    try:
        from equinox import _errors
    except ImportError:  # pragma: no cover
        yield
        return
    if not hasattr(_errors, "EQX_ON_ERROR") or _errors.EQX_ON_ERROR != "raise":
        yield
        return
    _errors.EQX_ON_ERROR = "nan"
    try:
        yield
    finally:
        _errors.EQX_ON_ERROR = "raise"


# ---------------------------------------------------------------- in-process cache
def compiled(fn, *args, what: str = "the solve"):
    """``fn`` (an ``eqx.filter_jit`` function) compiled for ``args``, and the
    seconds spent compiling it (0 when cached; a phase ``compiling <what>``
    otherwise).  The key is everything that forces a recompile: the function,
    the pytree structure, the static (non-array) leaves and the shapes/dtypes
    of arrays; array *values* (beta, tolerances, weights, save times, seeds)
    are not in it.  With the persistent cache on, the traced program is kept on
    disk too (``programs.load``), so a new process skips tracing as well."""
    enable_compilation_cache()
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
    with phase(f"compiling {what}"), _errors_as_nan(), jax.default_matmul_precision(MATMUL_PRECISION):
        out, source = _stored(fn, args, treedef, static, leaves)
        if out is None:
            out = fn.lower(*args).compile()
    seconds = time.perf_counter() - start
    raw = getattr(fn, "__wrapped__", fn)
    for log in list(_ACTIVE):
        log.solves.append(
            {"function": f"{raw.__module__}.{raw.__qualname__}", "what": what, "program": source, "seconds": seconds}
        )
    _COMPILED[key] = out
    if len(_COMPILED) > _CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return out, seconds


def _stored(fn, args, treedef, static, leaves):
    """``fn`` for ``args`` through a traced program kept in the cache folder
    (``jax.export``): read when there, traced and written when not.  ``None``
    when the program cannot be kept (a structure hopdyn cannot name for sure,
    e.g. a user's own Python function; an array on several devices; no cache;
    a program ``jax.export`` refuses): then the caller compiles as usual."""
    from . import programs

    folder = _ENABLED[0] if _ENABLED else None
    name = programs.key(fn, treedef, static, leaves) if folder else None
    if name is None:
        return None, "traced (not storable)" if folder else "traced"
    exported, source = programs.load(folder, name, leaves), "read"
    if exported is None:
        exported, source = programs.export(fn, treedef, static, leaves), "traced and stored"
        if exported is None:
            return None, "traced (not exportable)"
        programs.save(folder, name, exported)
    try:
        flat = jax.jit(exported.call).lower(*leaves).compile()
    except Exception:  # noqa: BLE001  a stored program these arguments do not fit: traced as usual
        programs.cache_notice(f"compilation cache entry for {name[:12]} does not fit its arguments; traced again")
        return None, "traced (stored program refused)"
    return (lambda *a: flat(*jax.tree.leaves(eqx.partition(a, eqx.is_array)[0]))), source


# ---------------------------------------------------------------- what was compiled
_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_COMPILE = "/jax/core/compile/backend_compile_duration"
_HIT = "/jax/compilation_cache/cache_hits"
_ACTIVE: list = []
_LOCK = threading.Lock()
_LISTENING: list = []


def _on_duration(event: str, seconds: float, **kw) -> None:
    if event in (_TRACE, _LOWER, _COMPILE):
        for log in list(_ACTIVE):
            log._add(event, kw.get("fun_name", "?"), seconds)


def _on_event(event: str, **kw) -> None:
    if event == _HIT:
        for log in list(_ACTIVE):
            log.cache_hits += 1


class CompileLog:
    """Programs compiled while active: ``with CompileLog() as log: ...`` then
    ``log.programs`` (backend compilations, cache reads included),
    ``log.cache_hits``, ``log.seconds`` (trace + lower + compile) and
    ``log.table()`` (seconds per program name); ``log.solves``: each solve
    program ``compiled`` made (function, what, whether its traced program was
    read from the cache folder, seconds).

    **Arguments:** none.
    """

    def __init__(self):
        self.events: list[tuple[str, str, float]] = []
        self.cache_hits = 0
        self.solves: list[dict] = []

    def _add(self, event, name, seconds):
        self.events.append((event, name, seconds))

    def __enter__(self):
        with _LOCK:
            if not _LISTENING:
                jax.monitoring.register_event_duration_secs_listener(_on_duration)
                jax.monitoring.register_event_listener(_on_event)
                _LISTENING.append(True)
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc):
        with _LOCK:
            _ACTIVE.remove(self)

    @property
    def programs(self) -> int:
        return sum(e == _COMPILE for e, _, _ in self.events)

    @property
    def seconds(self) -> float:
        return sum(s for _, _, s in self.events)

    def table(self) -> dict[str, dict]:
        """``{program: {"count", "trace", "lower", "compile"}}`` in seconds."""
        out: dict[str, dict] = {}
        names = {_TRACE: "trace", _LOWER: "lower", _COMPILE: "compile"}
        for e, name, s in self.events:
            name = name.removeprefix("jit(").removesuffix(")")
            row = out.setdefault(name, {"count": 0, "trace": 0.0, "lower": 0.0, "compile": 0.0})
            row[names[e]] += s
            row["count"] += e == _COMPILE
        return out

    def summary(self) -> dict:
        """What result.json reports: programs compiled or read from the
        persistent cache, how many were read, seconds tracing, lowering and
        compiling, and whether the cache was on."""
        return {
            "programs": self.programs,
            "cache_hits": self.cache_hits,
            "solves": [{k: v for k, v in s.items() if k != "seconds"} for s in self.solves],
            "seconds": round(self.seconds, 3),
            "persistent_cache": bool(_ENABLED and _ENABLED[0]),
        }
