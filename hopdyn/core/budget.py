"""Resource limits: every command estimates the memory it will need before it
allocates anything and refuses, with the key and the estimate, when that
exceeds the budget.

The budget defaults to half of the memory the machine has available now
(``MemAvailable``); ``HOPDYN_MEMORY_BUDGET`` or ``--memory-budget`` (``2G``,
``500M``, bytes) set it.  Estimates are upper bounds of the arrays a step
holds at once, not of Python's own overhead.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re

from .errors import HopdynError, Location

DEFAULT_FRACTION = 0.5
_BUDGET: contextvars.ContextVar[int | None] = contextvars.ContextVar("hopdyn_memory_budget", default=None)


class ResourceError(HopdynError, ValueError):
    """A request whose estimated memory exceeds the budget (refused before any allocation)."""


def available_memory() -> int:
    """Bytes of memory available now (Linux ``MemAvailable``; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def parse_size(text: str) -> int:
    """``"2G"``, ``"500M"``, ``"64k"``, ``"1e9"`` -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ValueError(f"expected a size such as 2G, 500M or a number of bytes, got {text!r}")
    value = float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2) or "_")
    if not value >= 1:
        raise ValueError(f"expected a size of at least 1 byte, got {text!r}")
    return int(value)


def budget() -> int:
    """The memory budget in force, in bytes."""
    set_ = _BUDGET.get()
    if set_ is not None:
        return set_
    env = os.environ.get("HOPDYN_MEMORY_BUDGET")
    if env:
        try:
            return parse_size(env)
        except ValueError as e:
            raise ResourceError(str(e), ("HOPDYN_MEMORY_BUDGET",)) from None
    return int(DEFAULT_FRACTION * available_memory())


@contextlib.contextmanager
def memory_budget(nbytes: int | None):
    """Run a block under a budget of ``nbytes`` (``None``: the default).

    **Arguments:**

    - ``nbytes``: the budget in bytes (``None``: the default, half the memory available)
    """
    token = _BUDGET.set(nbytes)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


WORK_COPIES = 40  # state-sized arrays an adaptive step holds (stages, error, controller), with margin
ROW_COPIES = 6  # state-sized arrays per saved row (x, xhat, the flow and its JVP when observed)


def solve_bytes(state: int, batch: int, rows: int, itemsize: int) -> int:
    """Memory of one batched solve: working copies plus saved rows (or stored sweeps)."""
    return itemsize * batch * state * (WORK_COPIES + ROW_COPIES * rows)


def require(nbytes: float, what: str, location: Location = ()) -> None:
    """Refuse (``ResourceError`` at ``location``) when ``what`` needs more than the budget."""
    limit = budget()
    if nbytes > limit:
        raise ResourceError(
            f"{what} needs about {human(nbytes)}, more than the memory budget of {human(limit)} "
            "(set it with --memory-budget or HOPDYN_MEMORY_BUDGET)",
            location,
        )


_LIBC = []  # glibc's malloc_trim, looked up once ([None] where there is none)


def _malloc_trim():
    if not _LIBC:
        import ctypes
        import ctypes.util

        try:
            _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim)
        except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to do
            _LIBC.append(None)
    return _LIBC[0]


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``;
    nothing elsewhere).

    Why: an ensemble allocates and frees the same few-MB arrays chunk after
    chunk from several threads (numpy's and XLA's CPU buffers go through
    malloc).  glibc keeps such freed blocks in its heaps for reuse, spread over
    one arena per thread, so the resident memory of a long study grows with
    the number of chunks it has run rather than staying that of one chunk
    (measured by ``hopdyn bench --cases continuation``, docs/performance.md).
    Called once a chunk or a study's piece is handed over."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
