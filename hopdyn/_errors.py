"""The exception types of hopdyn.

Bad user input raises a ``HopdynError`` subclass whose message names the
offending part; the command line prints it on one line and exits 2.
"""


class HopdynError(Exception):
    """Base class of hopdyn's input errors."""


class NetworkError(HopdynError, ValueError):
    """An invalid network declaration (unknown neuron, shape mismatch, bad tau...)."""
