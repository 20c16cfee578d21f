"""Progress on stderr: each phase named as it starts (loading, compiling,
solving, analysing, plotting, writing) with the time elapsed, and a bar with an
ETA for work with a known count (basin chunks, capacity loads, bench cases).

Any layer reports through the module functions ``phase``, ``bar`` and ``note``;
they do nothing unless a ``Reporter`` is active (the command line installs
one; Python users may too: ``with hopdyn.Reporter(): ...``).  On a terminal the
display is ``rich``'s live progress; elsewhere (a log file, a batch job) one
plain line per phase, per counted step and per note, so a log shows where the
time went.
"""

from __future__ import annotations

import contextlib
import sys
import time

_ACTIVE: list[Reporter] = []


class Reporter:
    """Where progress goes while active (``with Reporter(): ...``).

    **Arguments:**

    - ``stream``: where it is written (default: standard error).
    - ``live``: ``None`` (default) draws with rich when ``stream`` is a terminal,
      plain lines otherwise; ``True``/``False`` force one or the other.
    - ``prefix``: the start of every plain line (``"hopdyn: "``)."""

    def __init__(self, stream=None, live: bool | None = None, prefix: str = "hopdyn: "):
        self.stream = stream if stream is not None else sys.stderr
        self.live = (hasattr(self.stream, "isatty") and self.stream.isatty()) if live is None else live
        self.prefix = prefix
        self.start = time.perf_counter()
        self._rich = None
        self._phase = None

    # ------------------------------------------------------------ plain lines
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def line(self, text: str) -> None:
        if self._rich is not None:
            self._rich.console.print(text, highlight=False, markup=False)
        else:
            self.stream.write(f"{self.prefix}[{self.elapsed():6.1f} s] {text}\n")
            self.stream.flush()

    # ------------------------------------------------------------ rich display
    def _display(self):
        if self._rich is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                SpinnerColumn(finished_text="[green]✓"),
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._rich.start()
        return self._rich

    # ------------------------------------------------------------ the API
    @contextlib.contextmanager
    def phase(self, name: str):
        if not self.live:
            self.line(name)
            yield
            return
        d = self._display()
        task = d.add_task(name, total=None)
        try:
            yield
        finally:
            d.update(task, total=1, completed=1)

    @contextlib.contextmanager
    def bar(self, name: str, total: int):
        counter = _Bar(self, name, total)
        try:
            yield counter
        finally:
            counter.close()

    def __enter__(self):
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc):
        _ACTIVE.remove(self)
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


class _Bar:
    """A counted step: ``update(done)`` or ``advance()``."""

    def __init__(self, rep: Reporter, name: str, total: int):
        self.rep, self.name, self.total, self.done = rep, name, max(int(total), 0), 0
        self.first: tuple[float, int] | None = None
        self._task = rep._display().add_task(name, total=self.total) if rep.live else None
        if not rep.live and self.total:
            rep.line(f"{name}: 0/{self.total}")

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = int(total)
        self.done = int(done)
        if self._task is not None:
            self.rep._rich.update(self._task, completed=self.done, total=self.total)
            return
        now = time.perf_counter()
        if self.first is None:  # the rate is measured from the first report: set-up (compiling) is not work
            self.first = (now, self.done)
        t1, d1 = self.first
        eta = (now - t1) / (self.done - d1) * (self.total - self.done) if d1 < self.done < self.total else None
        self.rep.line(f"{self.name}: {self.done}/{self.total}" + (f", ETA {eta:.0f} s" if eta is not None else ""))

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def close(self) -> None:
        if self._task is not None:
            self.rep._rich.update(self._task, completed=self.done)


class _NullBar:
    def update(self, done, total=None):
        pass

    def advance(self, n=1):
        pass


def active() -> Reporter | None:
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def phase(name: str):
    """Name a phase of the work on the active reporter (nothing without one)."""
    rep = active()
    if rep is None:
        yield
    else:
        with rep.phase(name):
            yield


@contextlib.contextmanager
def bar(name: str, total: int):
    """A counted step with an ETA on the active reporter (a no-op bar without one)."""
    rep = active()
    if rep is None:
        yield _NullBar()
    else:
        with rep.bar(name, total) as b:
            yield b


def note(text: str) -> None:
    """One line of detail (what a phase found) on the active reporter."""
    rep = active()
    if rep is not None:
        rep.line(text)
