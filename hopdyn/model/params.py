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
from typing import Annotated, Any, Literal

from pydantic import Field

from ..core.patterns import DISTRIBUTIONS


def Doc(text: str):  # noqa: N802 - reads as a type annotation: Annotated[Positive, Doc("...")]
    """A parameter's description (shown in the scenario schema and docs)."""
    return Field(description=text)


Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Distribution = Literal[DISTRIBUTIONS]  # random patterns, initial states and starts
Size = Annotated[int, Field(ge=1, le=100_000_000)]  # how many starts, samples or trials


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
    """Make a Lagrangian class usable from scenario files as ``type: cls.kind``.

    **Arguments:**

    - ``cls``: an ``AbstractLagrangian`` subclass with a ``kind``
    """
    LAGRANGIANS[cls.kind] = cls
    return cls


def register_synapse(cls):
    """Make a synapse class usable from scenario files as ``type: cls.kind``.

    **Arguments:**

    - ``cls``: an ``AbstractSynapse`` subclass with a ``kind``
    """
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


def _constraint(annotation) -> str:
    words = {"Gt": ">", "Ge": ">=", "Lt": "<", "Le": "<="}
    out = []
    for meta in getattr(annotation, "__metadata__", ()):
        for m in getattr(meta, "metadata", ()):
            kind = type(m).__name__
            if kind in words:
                out.append(f"{words[kind]} {getattr(m, kind.lower()):g}")
            elif kind == "AllowInfNan" and not m.allow_inf_nan:
                out.append("finite")
    return ", ".join(out)


def _description(annotation) -> str:
    ref = pattern_ref(annotation)
    if ref is not None:
        return "an array (in a scenario file: " + ref.description + ")"
    for meta in reversed(getattr(annotation, "__metadata__", ())):
        text = getattr(meta, "description", None)
        if text:
            return text
    return ""


def arguments_doc(cls, names: dict | None = None, extra: dict | None = None) -> str:
    """The ``**Arguments:**`` section of ``cls``'s docstring, written from the
    same annotations the scenario schema and the constructor checks read:
    each argument's description, constraint and default.  ``names``:
    ``{name: (annotation, default)}`` (default: ``parameters(cls)``);
    ``extra``: lines for arguments without annotations (``connects``)."""
    names = parameters(cls) if names is None else names
    lines = ["**Arguments:**", ""]
    for name, text in (extra or {}).items():
        lines.append(f"- ``{name}``: {text}")
    for name, (annotation, default) in names.items():
        rule = [_constraint(annotation)]
        if default is not inspect.Parameter.empty:
            rule.append(f"default ``{default!r}``")
        rule = "; ".join(r for r in rule if r)
        lines.append(f"- ``{name}``: {_description(annotation)}" + (f" ({rule})" if rule else ""))
    return "\n".join(lines)


def with_arguments(cls, extra: dict | None = None, names: dict | None = None) -> None:
    """Append ``arguments_doc`` to ``cls.__doc__`` unless it has its own section."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    if "**Arguments:**" in doc:
        return
    try:
        section = arguments_doc(cls, names, extra)
    except Exception:  # noqa: BLE001  a user's class whose annotations do not resolve
        return
    cls.__doc__ = (doc + "\n\n" + section) if doc else section


def dataclass_arguments(cls) -> None:
    """``with_arguments`` for a settings dataclass: its fields' annotations and defaults."""
    import dataclasses

    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name: (hints.get(f.name, Any), f.default) for f in dataclasses.fields(cls)}
    with_arguments(cls, names=names)


def function_arguments(fn, extra: dict | None = None, after: str = "") -> None:
    """Append an ``**Arguments:**`` section to ``fn.__doc__`` from its annotated
    parameters (``Annotated[..., Field(description=...)]``), then ``after``
    (its ``**Returns:**``/``**Raises:**``), unless it has one already."""
    doc = inspect.cleandoc(fn.__doc__ or "")
    if "**Arguments:**" in doc:
        return
    hints = typing.get_type_hints(fn, include_extras=True)
    names = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in (extra or {}):
            continue
        names[name] = (hints.get(name, Any), p.default)
    section = arguments_doc(fn, names, extra)
    fn.__doc__ = doc + "\n\n" + section + (("\n\n" + inspect.cleandoc(after)) if after else "")
