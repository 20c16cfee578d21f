"""Parameter kinds of components and their registries.

A Lagrangian or synapse declares its parameters once, in its ``__init__``
signature: the annotation says what a value must be (``Positive``,
``Finite``, ``Pattern``...) and the default is the default.  The scenario
layer generates each component's YAML form from that signature, so adding a
component is one class plus ``@register_lagrangian`` / ``@register_synapse``.
"""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any

from pydantic import Field


def Doc(text: str):  # noqa: N802 - reads as a type annotation: Annotated[Positive, Doc("...")]
    """A parameter's description (shown in the scenario schema and docs)."""
    return Field(description=text)


Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class PatternRef:
    """Marks a parameter that holds an array: in Python the array itself, in a
    scenario the name of a pattern (``or_number``: a number is allowed too)."""

    def __init__(self, or_number: bool = False, description: str = "a pattern name"):
        self.or_number, self.description = or_number, description


Pattern = Annotated[Any, PatternRef()]
PatternOrNumber = Annotated[
    Any, PatternRef(or_number=True, description="a number, or a pattern name of the layer's shape")
]

LAGRANGIANS: dict[str, type] = {}
"""The scenario format's ``lagrangian.type`` -> its class."""
SYNAPSES: dict[str, type] = {}
"""The scenario format's synapse ``type`` -> its class."""


def register_lagrangian(cls):
    """Make a Lagrangian class usable from scenario files as ``type: cls.kind``."""
    LAGRANGIANS[cls.kind] = cls
    return cls


def register_synapse(cls):
    """Make a synapse class usable from scenario files as ``type: cls.kind``."""
    SYNAPSES[cls.kind] = cls
    return cls


def parameters(cls) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default)}`` of ``cls.__init__`` (``default`` is
    ``inspect.Parameter.empty`` when required), without ``self``, ``connects``
    and the names in ``cls.scenario_exclude``."""
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    skip = {"self", "connects", *getattr(cls, "scenario_exclude", ())}
    out = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = (hints.get(name, Any), p.default)
    return out


def pattern_ref(annotation) -> PatternRef | None:
    """The ``PatternRef`` of an annotation, if it has one."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, PatternRef):
            return meta
    return None
