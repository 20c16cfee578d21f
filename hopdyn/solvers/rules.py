"""The discrete rules' declarations — names and traits — read by the method
registry (which registers them as methods) and by the rules themselves
(``discrete.py``), so that neither imports the other."""

from __future__ import annotations

from typing import NamedTuple


class Rule(NamedTuple):
    name: str
    binary: bool  # units take +-1 values (no Lagrangian)
    descent_guaranteed: bool  # every sweep lowers (or keeps) the energy
    description: str


RULES = (
    Rule("async", True, True, "asynchronous sign updates (binary units)"),
    Rule("sync", True, False, "synchronous sign updates (may cycle with period 2)"),
    Rule("dense_async", True, True, "asynchronous updates of a polynomial/exponential dense memory"),
    Rule("retrieval", False, True, "each layer jumps to its equilibrium given the others"),
)
BY_NAME = {r.name: r for r in RULES}
