"""Solve settings as small frozen objects, in the spirit of Diffrax's
``PIDController`` and ``SaveAt``: defaults live here and nowhere else, and
values are validated once, where the object is built.

Each field's annotation carries its constraint (pydantic ``Field``
metadata); ``SolveSettings`` checks every field against it on construction
and the scenario layer generates the ``solver:`` section's schema from the
same annotations.  Errors are ``SettingsError``s located at the field
(``rtol``), which the scenario layer relocates under ``solver``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Annotated, Literal

import numpy as np
import pydantic
from pydantic import Field

from ..core.errors import SettingsError

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Doc = lambda text: Field(description=text)  # noqa: E731


@dataclasses.dataclass(frozen=True)
class SteadyState:
    """Stop once ``rms(tau dx/dt) < atol + rtol * rms(x)`` (each layer's rate in
    units of its own time constant)."""

    rtol: Annotated[NonNegative, Doc("relative tolerance of the steady-state test")] = 1e-6
    atol: Annotated[NonNegative, Doc("absolute tolerance of the steady-state test")] = 1e-8

    def __post_init__(self):
        _validate(self)


@dataclasses.dataclass(frozen=True)
class SolveSettings:
    """How ``simulate`` solves: the method, the horizon, step control, the
    steady-state stop, saved times and limits.  ``dataclasses.replace(s, ...)``
    makes a changed copy (validated again).  Numbers become arrays inside the
    solve, so changing one does not recompile."""

    method: Annotated[str, Doc("auto (measure stiffness, choose the solver), an ODE solver, or a discrete rule")] = (
        "auto"
    )
    t0: Annotated[Finite, Doc("start time")] = 0.0
    t1: Annotated[Positive, Doc("horizon; the solve stops earlier at a steady state")] = 1000.0
    dt: Annotated[Positive | None, Doc("fixed step (euler) or initial step (adaptive; estimated when absent)")] = None
    rtol: Annotated[NonNegative, Doc("relative tolerance of the step control")] = 1e-6
    atol: Annotated[NonNegative, Doc("absolute tolerance of the step control")] = 1e-8
    pcoeff: Annotated[NonNegative | None, Doc("PID controller (default 0, or auto's choice)")] = None
    icoeff: Annotated[NonNegative | None, Doc("PID controller (default 1, or auto's choice)")] = None
    dcoeff: Annotated[NonNegative, Doc("PID controller")] = 0.0
    steady_state: Annotated[
        bool | SteadyState,
        Doc("stop at a steady state: true (the solver's tolerances), {rtol, atol}, or false (integrate to t1)"),
    ] = True
    max_steps: Annotated[int, Field(ge=1, le=10_000_000), Doc("step limit (status max_steps when hit)")] = 100_000
    save: Annotated[int | tuple[Finite, ...], Doc("the number of saved times, or the times themselves")] = 200
    save_spacing: Annotated[Literal["log", "linear"], Doc("log: t0, then five decades up to t1")] = "log"
    divergence: Annotated[Positive, Doc("max |x| above which the solve fails")] = 1e8
    dtmin: Annotated[Positive | None, Doc("the solve fails when the step falls below it (default 1e-10 (t1 - t0))")] = (
        None
    )
    dtmax: Annotated[Positive | None, Doc("the largest step of adaptive methods (default none, or auto's choice)")] = (
        None
    )
    dtype: Annotated[Literal["float32", "float64"] | None, Doc("default: the network's")] = None
    max_sweeps: Annotated[int, Field(ge=1, le=100_000), Doc("discrete rules: the most sweeps")] = 100
    seed: Annotated[int, Field(ge=0), Doc("discrete rules: draws the asynchronous update orders")] = 0
    order: Annotated[
        tuple[str, ...] | None, Doc("retrieval: the layers in update order (default: by tau, fast first)")
    ] = None
    shard: Annotated[bool | None, Doc("split a batch over every visible device (default: when there are several)")] = (
        None
    )

    def __post_init__(self):
        import jax

        _validate(self)
        from .registry import method_names

        if self.method not in method_names():
            raise SettingsError(
                f"unknown method {self.method!r}; expected one of {', '.join(method_names())}", ("method",)
            )
        times_known = not any(isinstance(v, jax.core.Tracer) for v in (self.t0, self.t1))
        if times_known and not self.t1 > self.t0:
            raise SettingsError(f"expected t1 > t0 = {self.t0}, got {self.t1}", ("t1",))
        if self.dtype is not None:  # times the solve's dtype cannot hold would overflow when cast
            top = float(np.finfo(np.dtype(self.dtype)).max)
            for name in ("t0", "t1", "dt", "dtmin", "dtmax"):
                v = getattr(self, name)
                if v is not None and not hasattr(v, "aval") and abs(v) > top:
                    raise SettingsError(f"{v:g} is beyond the range of {self.dtype} ({top:.4g})", (name,))
            if times_known and self.t1 - self.t0 > top:
                raise SettingsError(f"t1 - t0 is beyond the range of {self.dtype} ({top:.4g})", ("t1",))
        from .registry import get_method

        m = get_method(self.method)
        if m is not None and m.continuous and not m.adaptive and self.dt is None:
            raise SettingsError(f"method {self.method!r} takes fixed steps and needs dt > 0", ("dt",))
        if isinstance(self.save, int):
            if self.save < 2:
                raise SettingsError(f"expected at least 2 saved times, got {self.save}", ("save",))
        else:
            ts = np.asarray(self.save, float)
            inside = not times_known or (ts[0] >= self.t0 and ts[-1] <= self.t1) if ts.size else False
            if ts.size < 1 or np.any(np.diff(ts) <= 0) or not inside:
                raise SettingsError(f"expected increasing times within [t0, t1] = [{self.t0}, {self.t1}]", ("save",))
        if self.order is not None and self.method != "retrieval":
            raise SettingsError(f"only method retrieval takes a layer order, not {self.method}", ("order",))

    @property
    def steady(self) -> SteadyState | None:
        """The steady-state test's tolerances (``None``: integrate to ``t1``)."""
        if self.steady_state is True:
            return SteadyState(self.rtol, self.atol)
        return self.steady_state or None

    def save_times(self) -> np.ndarray:
        """The saved times (the end of the solve is saved too)."""
        if isinstance(self.save, int):
            return save_times(self.t0, self.t1, self.save, self.save_spacing)
        return np.asarray(self.save, float)


def save_times(t0: float, t1: float, n: int, spacing: str = "log") -> np.ndarray:
    """``n`` save times from ``t0`` to ``t1``: ``linear``, or ``log`` (``t0`` then
    ``n - 1`` times log-spaced over five decades up to ``t1``).

    **Arguments:**

    - ``t0``, ``t1``: the interval
    - ``n``: how many times
    - ``spacing``: ``log`` (t0, then five decades up to t1) or ``linear``
    """
    if n < 2:
        raise SettingsError(f"expected at least 2 saved times, got {n}", ("save",))
    import jax

    xp = jax.numpy if any(isinstance(t, jax.core.Tracer) for t in (t0, t1)) else np  # a horizon traced by jax.jit
    if spacing == "linear":
        return xp.linspace(t0, t1, n)
    if spacing == "log":
        return xp.concatenate([xp.asarray([t0]), t0 + (t1 - t0) * np.logspace(-5, 0, n - 1)])
    raise SettingsError(f"expected 'log' or 'linear', got {spacing!r}", ("save_spacing",))


@functools.cache
def _adapters(cls) -> dict[str, pydantic.TypeAdapter]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: pydantic.TypeAdapter(hints[f.name]) for f in dataclasses.fields(cls)}


def _plain(value):
    """numpy/JAX scalars as Python numbers, lists and arrays as tuples."""
    if isinstance(value, (list, np.ndarray)) or (hasattr(value, "shape") and np.ndim(value) > 0):
        return tuple(_plain(v) for v in np.asarray(value).tolist())
    if hasattr(value, "item") and np.ndim(value) == 0:
        return value.item()
    return value


TRACEABLE = ("t0", "t1", "rtol", "atol", "pcoeff", "icoeff", "dcoeff", "divergence", "dtmax", "dtmin")
"""Settings that enter the solve only as arrays, so they may be traced values
(``jax.vmap`` over tolerances, ``jax.jit`` over the horizon); the others decide
the program's structure."""


def _validate(obj) -> None:
    """Check (and normalise) every field of a frozen settings dataclass against
    its annotation; raise a ``SettingsError`` at the first bad one."""
    import jax

    for name, adapter in _adapters(type(obj)).items():
        if isinstance(getattr(obj, name), jax.core.Tracer) and name in TRACEABLE:
            continue  # checked on concrete values only: jax.vmap over a tolerance keeps working
        value = _plain(getattr(obj, name))
        if name == "steady_state" and (isinstance(value, (bool, SteadyState)) or value is None):
            object.__setattr__(obj, name, bool(value) if not isinstance(value, SteadyState) else value)
            continue
        if name == "steady_state" and isinstance(value, dict):
            object.__setattr__(obj, name, _build(SteadyState, value, name))
            continue
        if isinstance(value, bool) and not _takes_bool(adapter):
            raise SettingsError(f"expected a number, got {value!r}", (name,))
        try:
            value = adapter.validate_python(value)
        except pydantic.ValidationError as e:
            err = e.errors(include_url=False)[0]
            msg = err["msg"].replace("Input should be", "expected").replace("Value error, ", "")
            raise SettingsError(f"{msg}, got {value!r}", (name,)) from None
        object.__setattr__(obj, name, value)


def _takes_bool(adapter: pydantic.TypeAdapter) -> bool:
    return "boolean" in str(adapter.json_schema())


def _build(cls, values: dict, where: str):
    """``cls(**values)`` with unknown keys and bad values reported under ``where``."""
    known = {f.name for f in dataclasses.fields(cls)}
    bad = [k for k in values if k not in known]
    if bad:
        raise SettingsError(f"unknown key {bad[0]!r}; expected some of {', '.join(sorted(known))}", (where,))
    try:
        return cls(**values)
    except SettingsError as e:
        raise e.within(where) from None


from ..model.params import dataclass_arguments  # noqa: E402  (after the classes it documents)

dataclass_arguments(SteadyState)
dataclass_arguments(SolveSettings)
