"""Arguments of components checked against their annotations: the one source
of constraints shared with the scenario schema.

A Lagrangian, synapse or neuron declares each parameter once, in its
``__init__`` signature (``beta: Annotated[Positive, Doc(...)]``).  The schema
derives each YAML key from that annotation; ``checked_init`` wraps the
constructor so that a Python call is held to the same constraints, with a
``NetworkError`` naming the class and argument (``Tanh.beta: should be > 0
(got -1.0)``) instead of a JAX traceback.

Checks run on concrete values only: a traced value (inside ``jax.jit``,
``jax.vmap`` or ``jax.grad``) is checked for its dtype, never its value, so
transformations over parameters keep working.
"""

from __future__ import annotations

import functools
import inspect
import typing

import numpy as np

from ..core.errors import NetworkError
from ..core.patterns import LazyRows
from .params import pattern_ref

_WORDS = {"Gt": ">", "Ge": ">=", "Lt": "<", "Le": "<="}


def traced(*trees) -> bool:
    """Whether any array in ``trees`` is a JAX tracer (inside ``jit``, ``vmap``, ``grad``...)."""
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for t in trees for leaf in jax.tree.leaves(t))


def _shown(value) -> str:
    a = np.asarray(value)
    return repr(a.item()) if a.size == 1 else f"an array of shape {list(a.shape)}"


def _numbers(owner: str, name: str, value, what: str) -> np.ndarray | None:
    """``value`` as a numeric array (``None`` when traced), or a
    ``NetworkError`` naming ``owner.name`` and saying what was expected."""
    if traced(value):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind not in "biuf":
            raise NetworkError(f"should be {what} (got a traced {dtype} value)", (f"{owner}.{name}",))
        return None
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise NetworkError(f"should be {what} (got {value!r})", (f"{owner}.{name}",))
    try:
        a = np.asarray(value)
    except Exception:  # noqa: BLE001  ragged lists, objects numpy cannot hold
        raise NetworkError(f"should be {what} (got {type(value).__name__})", (f"{owner}.{name}",)) from None
    if a.dtype.kind not in "iuf":
        raise NetworkError(
            f"should be {what} (got {_shown(value) if a.dtype.kind != 'O' else type(value).__name__})",
            (f"{owner}.{name}",),
        )
    return a.astype(np.float64, copy=False)  # no copy of float64 input (an ensemble of starts can be GBs)


def check_argument(owner: str, name: str, annotation, value) -> None:
    """Check one argument against its annotation (``Positive``, ``Finite``,
    ``NonNegative``, ``Pattern``...); raise ``NetworkError`` naming
    ``owner.name`` and what was expected."""
    ref = pattern_ref(annotation)
    metadata = []
    for meta in getattr(annotation, "__metadata__", ()):
        metadata.extend(getattr(meta, "metadata", ()))
    base = typing.get_args(annotation)[0] if getattr(annotation, "__metadata__", None) else annotation
    numeric = (
        ref is not None or base in (float, int) or any(type(m).__name__ in (*_WORDS, "AllowInfNan") for m in metadata)
    )
    if not numeric:
        return
    what = "an array of numbers" if ref is not None and not ref.or_number else "a number"
    if ref is not None and ref.or_number:
        what = "a number or an array of numbers"
    a = _numbers(owner, name, value, what)
    if a is None or a.size == 0:
        return
    finite_only = ref is not None or any(type(m).__name__ == "AllowInfNan" and not m.allow_inf_nan for m in metadata)
    if finite_only and not np.all(np.isfinite(a)):
        bad = float(a[~np.isfinite(a)].ravel()[0])
        raise NetworkError(f"should be finite (got {bad!r})", (f"{owner}.{name}",))
    for m in metadata:
        kind = type(m).__name__
        if kind in _WORDS:
            bound = float(getattr(m, kind.lower()))
            ok = {"Gt": a > bound, "Ge": a >= bound, "Lt": a < bound, "Le": a <= bound}[kind]
            if not np.all(ok):
                bad = float(a[~ok].ravel()[0])
                raise NetworkError(f"should be {_WORDS[kind]} {bound:g} (got {bad!r})", (f"{owner}.{name}",))


def checked_init(cls) -> None:
    """Wrap ``cls.__init__`` (if ``cls`` defines one) so every annotated argument
    is checked before the constructor runs, and write the docstring's
    ``**Arguments:**`` from the same annotations (called from
    ``__init_subclass__``)."""
    from .params import with_arguments

    connects = getattr(cls, "connects_doc", None)
    with_arguments(
        cls, extra={"connects": connects} if connects and "connects" in inspect.signature(cls).parameters else None
    )
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_hopdyn_checked", False):
        return
    signature = inspect.signature(init)
    try:
        hints = typing.get_type_hints(init, include_extras=True)
    except Exception:  # noqa: BLE001  a user's class with annotations that do not resolve: not checked
        return

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as e:
            raise NetworkError(str(e), (type(self).__name__,)) from None
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            if name in hints and name != "connects":
                check_argument(type(self).__name__, name, hints[name], value)
        init(self, *args, **kwargs)

    __init__._hopdyn_checked = True
    cls.__init__ = __init__


def check_states(states, argument: str = "x0", finite: bool = False) -> None:
    """``states``: ``None`` or ``{neuron: array of numbers}`` (an array alone
    is accepted for ``starts``, and ``LazyRows`` as an array); with
    ``finite``, every concrete value finite.
    Raises ``NetworkError`` naming ``argument`` (and the layer)."""
    from collections.abc import Mapping

    if states is None:
        return
    if not isinstance(states, Mapping):
        if argument == "starts":
            states = {"": states}
        else:
            raise NetworkError(f"expected a dict {{neuron: state}}, got {type(states).__name__}", (argument,))
    for layer, value in states.items():
        if isinstance(value, LazyRows):  # arrays or random draws by construction, read when solved
            continue
        a = _numbers(argument, str(layer), value, "an array of numbers") if layer != "" else None
        if layer == "":
            if isinstance(value, (str, bytes)) or value is None:
                raise NetworkError(f"expected an array of numbers, got {value!r}", (argument,))
            try:
                a = None if traced(value) else np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise NetworkError(f"expected an array of numbers, got {type(value).__name__}", (argument,)) from None
        if finite and a is not None and not np.all(np.isfinite(a)):
            where = (argument, layer) if layer != "" else (argument,)
            raise NetworkError("has non-finite values; expected a finite start", where)


def check_fields(obj, error=None) -> None:
    """Check every field of a settings dataclass against its annotation (the
    pydantic constraints the scenario schema uses for the same keys): the
    first that fails raises ``error`` (default ``NetworkError``) located at
    ``<Class>.<field>``.  A bool is not a number."""
    import dataclasses

    import pydantic

    error = error or NetworkError
    owner = type(obj).__name__
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        if isinstance(value, bool) and not (base is bool or bool in typing.get_args(base)):
            raise error(f"expected a number, got {value!r}", (f"{owner}.{f.name}",))
        try:
            pydantic.TypeAdapter(hint).validate_python(value, strict=False)
        except pydantic.ValidationError as e:
            msg = e.errors(include_url=False)[0]["msg"].replace("Input should be", "should be")
            raise error(f"{msg} (got {_shown(value)})", (f"{owner}.{f.name}",)) from None


def checked_call(fn, error=NetworkError, skip: tuple[str, ...] = ()):
    """``fn`` with its pydantic-annotated arguments (``Annotated[..., Field(...)]``,
    the annotations a scenario section is generated from) validated on every
    call, so Python is held to the schema's constraints: a bad value raises
    ``error`` naming the argument (``loads[0]: should be greater than 0 (got
    -0.1)``).  The function receives the arguments as given; ``skip`` names
    arguments it checks itself (settings objects, callbacks)."""
    import pydantic

    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    fields = {
        name: (hints[name], ...)
        for name in signature.parameters
        if name in hints
        and name not in skip
        and any(isinstance(m, pydantic.fields.FieldInfo) for m in _meta(hints[name]))
    }
    model = pydantic.create_model(f"{fn.__name__}_arguments", **fields)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise error(str(e), (fn.__name__,)) from None
        bound.apply_defaults()
        try:
            model.model_validate({k: v for k, v in bound.arguments.items() if k in fields})
        except pydantic.ValidationError as e:
            # a union reports each alternative: the deepest location is the most telling
            located = [
                ("".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in er["loc"] if _located(p)).lstrip("."), er)
                for er in e.errors(include_url=False)
            ]
            where, first = max(located, key=lambda item: len(item[0]))
            raise error(pydantic_message(first), (where,)) from None
        return fn(*args, **kwargs)

    return wrapper


def _meta(annotation) -> tuple:
    """The metadata of ``Annotated`` (and of an ``Annotated`` inside an optional)."""
    out = tuple(getattr(annotation, "__metadata__", ()))
    for arg in typing.get_args(annotation):
        out += tuple(getattr(arg, "__metadata__", ()))
    return out


def _located(part) -> bool:
    """Whether a pydantic location part is an argument or index (not a union member's label)."""
    return isinstance(part, int) or not any(c in str(part) for c in "[]-") and str(part) not in ("int", "float", "list")


def pydantic_message(err: dict) -> str:
    """One pydantic error in hopdyn's words (the scenario loader's and the
    checked functions'): an item count for a list too short, otherwise
    pydantic's sentence with what was given — its value, or the type of a
    mapping or list given where something else was expected."""
    kind = err["type"]
    if kind == "too_short":
        least = err.get("ctx", {}).get("min_length", 1)
        return f"expected at least {least} item{'s' if least != 1 else ''} (got {len(err.get('input') or [])})"
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "should be")
    got = err.get("input")
    if isinstance(got, np.generic):
        got = got.item()
    if kind not in ("model_type", "dict_type") and not isinstance(got, (dict, list, np.ndarray)):
        return f"{msg} (got {got!r})"
    if kind in ("model_type", "dict_type", "list_type", "tuple_type"):
        return f"{msg} (got {type(got).__name__})"
    return msg
