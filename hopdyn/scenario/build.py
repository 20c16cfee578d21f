"""Building a validated scenario: patterns, the network (each component from
its registered class), initial states, clamps, and the ``SolveSettings``.
Library errors (located at Python arguments) are relocated to the file and
key path here; nothing is validated twice."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any

import numpy as np

from ..core import patterns as P
from ..core.errors import NetworkError, SettingsError
from ..model.network import Network
from ..model.neurons import Neuron
from ..model.params import LAGRANGIANS, SYNAPSES, parameters, pattern_ref
from ..model.synapses import Dense
from ..solvers.registry import get_method
from ..solvers.settings import SolveSettings, SteadyState
from .loader import ScenarioError, load, resolve

MAX_ELEMENTS = 50_000_000  # elements of one pattern or state array


@dataclasses.dataclass(frozen=True)
class Built:
    """A scenario turned into objects: what ``simulate`` and the analyses need
    (made by ``load_scenario``).

    **Attributes:** ``scenario`` (the validated model), ``file``, ``network``,
    ``x0``, ``batch``, ``patterns`` (by name), ``settings`` and ``expect``
    (the expected readouts, if any).
    """

    scenario: Any
    file: str
    network: Network
    x0: dict[str, np.ndarray]
    batch: int | None
    patterns: dict[str, np.ndarray]
    settings: SolveSettings
    expect: list[int] | None

    def with_method(self, method: str) -> SolveSettings:
        """The settings with another method (``outputs.compare``)."""
        order = self.scenario.solver.order if method == "retrieval" else None
        return dataclasses.replace(self.settings, method=method, order=tuple(order) if order else None)


def _array(values, file: str, path: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        raise ScenarioError(file, path, "expected a rectangular (nested) list of numbers") from None
    if arr.size == 0:
        raise ScenarioError(file, path, "expected a non-empty list of numbers")
    if not np.all(np.isfinite(arr)):
        raise ScenarioError(file, path, "expected finite numbers (got NaN or inf)")
    return arr


def _check_size(shape, file, path):
    if int(np.prod(shape)) > MAX_ELEMENTS:
        raise ScenarioError(file, path, f"shape {list(shape)} has more than {MAX_ELEMENTS} elements")


def _make_pattern(name: str, spec, sc, base: str, file: str) -> np.ndarray:
    path = f"patterns.{name}"
    try:
        if spec.random is not None:
            r = spec.random
            _check_size(r.shape, file, path + ".random.shape")
            arr = P.random_patterns(
                P.rng(sc.seed, f"pattern:{name}"),
                r.distribution,
                r.shape,
                r.low,
                r.high,
                r.mean,
                r.std,
                r.clusters,
                r.spread,
                r.norm,
            )
        elif spec.file is not None:
            arr = P.load_file(os.path.join(base, spec.file), spec.key)
        elif spec.values is not None:
            arr = _array(spec.values, file, path + ".values")
        elif spec.images is not None:
            im = spec.images
            if im.source == "letters":
                arr = P.render_glyphs(im.names, im.size, im.encoding or "binary")
            else:
                arr = P.sample_images(im.names, im.size, im.encoding or "gray")
        else:
            arr = np.eye(spec.onehot)
    except P.PatternError as e:
        key = next(k for k in ("random", "file", "values", "images", "onehot") if getattr(spec, k) is not None)
        raise ScenarioError(file, f"{path}.{key}", str(e)) from None
    if not np.all(np.isfinite(arr)):
        raise ScenarioError(file, path, "the pattern holds NaN or inf values")
    return arr * spec.scale


def _pattern_ref(name: str, patterns: dict, file: str, path: str) -> np.ndarray:
    if name not in patterns:
        known = ", ".join(patterns) or "none are defined"
        raise ScenarioError(file, path, f"unknown pattern {name!r} (patterns: {known})")
    return patterns[name]


def _lagrangian(spec, file: str, path: tuple):
    try:
        return LAGRANGIANS[spec.type](**spec.model_dump(exclude={"type"}))
    except NetworkError as e:
        raise ScenarioError.at(file, e, *path) from None


def _synapse(i: int, spec, patterns: dict, file: str, seed: int):
    """A synapse from its registered class: pattern names become arrays (``weights``
    transposed when asked); ``hebbian`` with ``unlearn`` becomes the dense
    matrix that unlearning leaves."""
    path = ("synapses", i)
    cls = SYNAPSES[spec.type]
    kwargs = {}
    for name, (annotation, _) in parameters(cls).items():
        value = getattr(spec, name)
        if pattern_ref(annotation) is not None and isinstance(value, str):
            value = _pattern_ref(value, patterns, file, f"synapses[{i}].{name}")
            if name == "weights" and getattr(spec, "transpose", False):
                value = value.T
        kwargs[name] = value
    if getattr(spec, "unlearn", None) is not None:
        return _unlearned(spec, kwargs["patterns"], file, path, seed, i)
    return cls(tuple(spec.connects), **kwargs)


def _unlearned(spec, xi: np.ndarray, file: str, path: tuple, seed: int, i: int):
    from ..solvers.discrete import hebbian, unlearn

    flat = xi.reshape(xi.shape[0], -1)
    if flat.shape[1] > 8192:
        raise ScenarioError(
            file, (*path, "unlearn"), f"unlearning forms W explicitly; {flat.shape[1]} units is too many (at most 8192)"
        )
    u = spec.unlearn
    w = unlearn(hebbian(flat), u.dreams, u.rate, int(P.rng(seed, f"unlearn:{i}").integers(2**31)))
    (a,) = spec.connects
    return Dense((a, a), spec.scale * w, 0.5)  # E = -1/2 xhat^T W xhat


def _initial(name: str, spec, shape: tuple, sc, patterns, file) -> tuple[np.ndarray, list[int] | None]:
    """A layer's initial state (with a leading batch axis for batches) and, for
    stored-pattern starts, the pattern indices."""
    path = f"initial.{name}"
    size = int(np.prod(shape))
    gen = P.rng(sc.seed, f"initial:{name}")
    indices = None
    if spec.zeros:
        x = np.zeros(shape)
    elif spec.values is not None:
        x = _array(spec.values, file, path + ".values")
        if x.size == size:
            x = x.reshape(shape)
        elif x.ndim >= 2 and x[0].size == size:
            x = x.reshape((x.shape[0],) + shape)  # one row per batch member
        else:
            raise ScenarioError(
                file,
                path + ".values",
                f"expected {size} values (shape {list(shape)}) or rows of {size}, got shape {list(x.shape)}",
            )
    elif spec.random is not None:
        r = spec.random
        full = ((r.batch,) if r.batch else ()) + shape
        _check_size(full, file, path + ".random")
        x = P.random_patterns(gen, r.distribution, full, r.low, r.high, r.mean, r.std)
    else:
        xi = _pattern_ref(spec.pattern, patterns, file, path + ".pattern")
        k = xi.shape[0]
        if xi.ndim < 2 or int(np.prod(xi.shape[1:])) != size:
            raise ScenarioError(
                file,
                path + ".pattern",
                f"pattern {spec.pattern!r} has shape {list(xi.shape)}, its rows do not fit layer {name!r} of shape {list(shape)}",
            )
        idx = list(range(k)) if spec.index == "all" else spec.index
        many = isinstance(idx, list)
        for j in idx if many else [idx]:
            if j >= k:
                raise ScenarioError(
                    file, path + ".index", f"index {j} is out of range: pattern {spec.pattern!r} has {k} rows"
                )
        rows = xi.reshape(k, size)[idx if many else [idx]]
        if spec.corrupt is not None:
            c = spec.corrupt
            rows = P.corrupt(rows, gen, **c.model_dump())
        x = rows.reshape((len(rows),) + shape) if many else rows.reshape(shape)
        indices = list(idx) if many else [idx]
    return x * spec.scale, indices


def _clamp_mask(name, spec, shape, sc, file) -> np.ndarray | bool:
    if spec is True:
        return True
    size = int(np.prod(shape))
    mask = np.zeros(size, bool)
    path = f"clamp.{name}"
    if spec.indices is not None:
        bad = [i for i in spec.indices if i >= size]
        if bad:
            raise ScenarioError(
                file, path + ".indices", f"index {bad[0]} is out of range for layer {name!r} of {size} units"
            )
        mask[spec.indices] = True
    elif spec.fraction is not None:
        gen = P.rng(sc.seed, f"clamp:{name}")
        mask[gen.choice(size, int(round(spec.fraction * size)), replace=False)] = True
    elif spec.first is not None:
        mask[: min(spec.first, size)] = True
    elif spec.last is not None:
        mask[size - min(spec.last, size) :] = True
    else:
        vals = np.asarray(spec.values, dtype=object)
        if vals.size != size or not all(isinstance(v, bool) for v in vals.ravel()):
            raise ScenarioError(
                file, path + ".values", f"expected {size} booleans (layer {name!r} of shape {list(shape)})"
            )
        mask = vals.ravel().astype(bool)
    return mask.reshape(shape)


def build(sc, path: str) -> Built:
    """Turn a validated scenario into a network, initial state and solver settings."""
    file = os.path.basename(path) if path else "<scenario>"
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    patterns = {name: _make_pattern(name, spec, sc, base, file) for name, spec in sc.patterns.items()}

    neurons = {}
    for name, spec in sc.neurons.items():
        _check_size(spec.shape, file, f"neurons.{name}.shape")
        try:
            neurons[name] = Neuron(
                tuple(spec.shape), _lagrangian(spec.lagrangian, file, ("neurons", name, "lagrangian")), spec.tau
            )
        except NetworkError as e:
            raise ScenarioError.at(file, e, "neurons", name) from None
    synapses = [_synapse(i, s, patterns, file, sc.seed) for i, s in enumerate(sc.synapses)]

    clamps = {}
    specs = {n: True for n in sc.clamp} if isinstance(sc.clamp, list) else dict(sc.clamp)
    for name, spec in specs.items():
        if name not in sc.neurons:
            raise ScenarioError(
                file,
                f"clamp.{name}" if isinstance(sc.clamp, dict) else "clamp",
                f"unknown neuron {name!r} (neurons: {', '.join(sc.neurons)})",
            )
        clamps[name] = _clamp_mask(name, spec, tuple(sc.neurons[name].shape), sc, file)
    try:
        network = Network(neurons, synapses, clamps)
    except NetworkError as e:
        loc = e.location
        if loc[:1] == ("clamps",):  # the scenario's key is `clamp`
            loc = ("clamp",) + loc[1:]
        raise ScenarioError(file, loc, e.message) from None

    x0, batch, expect = {}, None, None
    for name, spec in sc.initial.items():
        if name not in sc.neurons:
            raise ScenarioError(file, f"initial.{name}", f"unknown neuron {name!r} (neurons: {', '.join(sc.neurons)})")
        shape = tuple(sc.neurons[name].shape)
        x, idx = _initial(name, spec, shape, sc, patterns, file)
        b = x.shape[0] if x.ndim > len(shape) else None
        if b is not None:
            if batch is not None and b != batch:
                raise ScenarioError(file, f"initial.{name}", f"batch of {b} states, but another layer has {batch}")
            batch = b
        if idx is not None and expect is None:
            expect = idx
        x0[name] = x
    if batch is not None:
        for name, shape in ((n, tuple(s.shape)) for n, s in sc.neurons.items()):
            if name in x0 and x0[name].ndim == len(shape):
                x0[name] = np.broadcast_to(x0[name], (batch,) + shape)

    out = sc.outputs
    for key, ref in (("layer", out.layer),):
        if ref is not None and ref not in sc.neurons:
            raise ScenarioError(file, f"outputs.{key}", f"unknown neuron {ref!r} (neurons: {', '.join(sc.neurons)})")
    if out.patterns is not None:
        _pattern_ref(out.patterns, patterns, file, "outputs.patterns")
    layer = out.layer or next(iter(sc.neurons))
    if out.image_shape is not None and int(np.prod(out.image_shape)) != int(np.prod(sc.neurons[layer].shape)):
        raise ScenarioError(
            file,
            "outputs.image_shape",
            f"{list(out.image_shape)} does not hold layer {layer!r} of shape {sc.neurons[layer].shape}",
        )
    if out.readout is not None:
        r = out.readout
        if r.layer not in sc.neurons:
            raise ScenarioError(file, "outputs.readout.layer", f"unknown neuron {r.layer!r}")
        xi = _pattern_ref(r.patterns, patterns, file, "outputs.readout.patterns")
        if xi.ndim < 2 or int(np.prod(xi.shape[1:])) != int(np.prod(sc.neurons[r.layer].shape)):
            raise ScenarioError(
                file,
                "outputs.readout.patterns",
                f"rows of {r.patterns!r} (shape {list(xi.shape)}) do not fit layer {r.layer!r}",
            )
        if r.expect is not None:
            expect = r.expect
            if any(e >= xi.shape[0] for e in expect):
                raise ScenarioError(
                    file, "outputs.readout.expect", f"indices must be < {xi.shape[0]} (rows of {r.patterns!r})"
                )
            if len(expect) != (batch or 1):
                raise ScenarioError(
                    file,
                    "outputs.readout.expect",
                    f"expected {batch or 1} indices (one per batch member), got {len(expect)}",
                )
    if sc.checks.readout is not None and out.readout is None:
        raise ScenarioError(
            file, "checks.readout", "needs outputs.readout (which layer to read and against which patterns)"
        )
    if sc.checks.readout is not None and sc.checks.readout.min_accuracy is not None and expect is None:
        raise ScenarioError(
            file,
            "checks.readout.min_accuracy",
            "needs expected indices: outputs.readout.expect, or an initial state from a pattern index",
        )

    settings = _settings(sc, file)
    for where, method in (("solver", settings.method), ("outputs.compare", sc.outputs.compare)):
        m = get_method(method) if method else None
        if m is None or m.continuous or (where == "outputs.compare" and sc.capacity is not None):
            continue
        from ..solvers.discrete import plan

        order = tuple(sc.solver.order) if method == "retrieval" and sc.solver.order else None
        try:
            plan(network, network.init_state(x0), method, order)
        except SettingsError as e:
            raise (
                ScenarioError.at(file, e, "solver") if where == "solver" else ScenarioError(file, where, e.message)
            ) from None
    return Built(sc, path, network, x0, batch, patterns, settings, expect)


def _settings(sc, file: str) -> SolveSettings:
    """The ``solver:`` section (plus ``dtype`` and the update-order seed) as ``SolveSettings``."""
    s = sc.solver
    values = s.model_dump(exclude={"save", "steady_state", "order"})
    steady = s.steady_state if isinstance(s.steady_state, bool) else SteadyState(**s.steady_state.model_dump())
    order = tuple(s.order) if s.order is not None else None
    if order is not None and s.method != "retrieval":
        if sc.outputs.compare != "retrieval":
            raise ScenarioError(file, "solver.order", f"only method retrieval takes a layer order, not {s.method}")
        order = None  # it belongs to the comparison (Built.with_method)
    try:
        return SolveSettings(
            **values,
            steady_state=steady,
            order=order,
            dtype=sc.dtype,
            save=tuple(s.save.ts) if s.save.ts is not None else s.save.n,
            save_spacing=s.save.spacing,
            seed=int(P.rng(sc.seed, "update-orders").integers(2**31)),
        )
    except SettingsError as e:
        loc = e.location
        if loc == ("save",):
            loc = ("save", "ts" if s.save.ts is not None else "n")
        raise ScenarioError(file, ("solver", *loc), e.message) from None


def load_and_build(path: str, overrides: list[str] | None = None) -> Built:
    """Load (a path, or the name of a shipped scenario), apply ``key.path=value``
    overrides, validate, check the memory a run needs against the budget, and
    build a scenario.

    **Arguments:**

    - ``path``: a scenario file, or a shipped scenario's name
    - ``overrides``: ``--set``-style ``key=value`` strings
    """
    from .resources import check

    path = resolve(path)
    sc, _ = load(path, overrides)
    check(sc, os.path.basename(path), os.path.dirname(os.path.abspath(path)), "run")
    return build(sc, path)


def scenario_identity(path: str, overrides: list[str] | None = None) -> dict:
    """What identifies a scenario's results: its name, a SHA-256 over the
    validated file (before ``--set`` overrides) and the content of every data
    file it loads (so an edited data file is a different scenario), and the
    overrides themselves.  Results of one file with other overrides (``run``,
    then ``basins --samples 40``) belong together; an edited file does not."""
    from ..core.outputs import sha256

    sc, _ = load(path)
    # defaults left out: a key the schema gains later (with a default) does not
    # make every earlier result "another version of the scenario"
    h = hashlib.sha256(sc.model_dump_json(exclude_defaults=True).encode())
    base = os.path.dirname(os.path.abspath(path))
    for name, spec in sorted(sc.patterns.items()):
        if spec.file is not None:
            f = os.path.join(base, spec.file)
            h.update(f"{name}:{sha256(f) if os.path.isfile(f) else 'missing'}".encode())
    from ..core.version import __version__

    return {
        "scenario": sc.name,
        "scenario_sha256": h.hexdigest(),
        "overrides": list(overrides or []),
        "hopdyn": __version__,
    }
