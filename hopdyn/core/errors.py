"""hopdyn's exception types.

Every input error is a ``HopdynError`` with a structured ``location`` (the
argument or key path, as a tuple of names and indices) and a ``message``.
The Python API speaks of Python arguments (``synapses[1].weights``); the
scenario layer adds the file and the YAML key path (``ScenarioError``).  No
error text is ever parsed back.
"""

from __future__ import annotations

from collections.abc import Sequence

Location = tuple[str | int, ...]


def printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences, newlines)
    shown as escapes, so a message never acts on the terminal it is printed to."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in str(text))


def format_location(location: Sequence[str | int]) -> str:
    """``("synapses", 1, "weights")`` -> ``synapses[1].weights``."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + printable(part)
    return out


class HopdynError(Exception):
    """Base class of hopdyn's input errors: ``location`` (a key path) and ``message``."""

    def __init__(self, message: str, location: Sequence[str | int] = ()):
        self.message = printable(" ".join(str(message).split()))  # one line, no control characters
        self.location: Location = tuple(location)
        super().__init__(self._text())

    def _text(self) -> str:
        where = format_location(self.location)
        return f"{where}: {self.message}" if where else self.message

    @property
    def where(self) -> str:
        return format_location(self.location)

    def within(self, *prefix: str | int) -> HopdynError:
        """The same error located under ``prefix`` (e.g. a scenario section)."""
        return type(self)._relocated(self, tuple(prefix) + self.location)

    @classmethod
    def _relocated(cls, err: HopdynError, location: Location) -> HopdynError:
        new = cls.__new__(cls)
        new.__dict__.update(err.__dict__)
        new.location = location
        Exception.__init__(new, new._text())
        return new


class NetworkError(HopdynError, ValueError):
    """An invalid network declaration (unknown neuron, shape mismatch, bad tau...)."""


class SettingsError(HopdynError, ValueError):
    """Invalid solve settings (a tolerance, a horizon, a method...)."""


class AnalysisError(HopdynError, ValueError):
    """Invalid arguments of an analysis (basins, capacity, verify)."""


class UnfinishedWork(AnalysisError):
    """A study was started without ``resume`` in a folder that holds the
    unfinished work of an interrupted run: hopdyn never discards it silently.
    ``resume=True`` continues it, ``resume=False`` discards it (the command
    line's ``--resume`` / ``--restart``).  ``folder`` and ``files`` say where
    and how much."""

    def __init__(self, folder: str, files: int):
        self.folder, self.files = folder, files
        super().__init__(
            f"{folder} holds the unfinished work of an interrupted run ({files} saved files): "
            "resume=True continues it, resume=False discards it",
            ("resume",),
        )


class LyapunovWarning(UserWarning):
    """The energy rose along a solve beyond its tolerance (``dE/dt > 0``): the
    network is not descending its energy (a concave custom Lagrangian, a
    non-gradient coupling, a too-loose tolerance).  ``simulate`` warns outside
    JAX transformations; under them the verdict travels in the ``Trajectory``
    (``descends``, ``max_rise``, ``max_dEdt``)."""
