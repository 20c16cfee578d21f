"""Scenario files: safe YAML loading, validation against the schema, ``--set``
overrides, and building the network, initial state and solver settings.

Every problem with a scenario raises ``ScenarioError`` whose one-line message
names the file, the key path (``synapses[1].weights``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import numpy as np
import pydantic
import yaml

from . import _lagrangians as L
from . import _patterns as P
from . import _schema as S
from . import _synapses as Syn
from ._errors import HopdynError, NetworkError
from ._network import Network
from ._neurons import Neuron

MAX_FILE_BYTES = 10 * 2**20  # big data belongs in .npy files next to the scenario
MAX_NODES = 1_000_000  # YAML nodes after alias expansion
MAX_ELEMENTS = 50_000_000  # elements of one pattern or state array


class ScenarioError(HopdynError, ValueError):
    """Invalid scenario input.  ``str(err)`` is the one-line message."""

    def __init__(self, file: str, path: str, message: str):
        self.file, self.path, self.message = file, path, message
        where = f"{file}: {path}: " if path else f"{file}: "
        # one line, whatever the key names hold
        super().__init__(" ".join((where + str(message)).split()))


# ------------------------------------------------------------------ YAML
class _Loader(yaml.SafeLoader):
    """Safe loading (no object construction) that rejects duplicate keys."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    out = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _count_nodes(obj, limit: int) -> None:
    stack, n = [obj], 0
    while stack:
        o = stack.pop()
        n += 1
        if n > limit:
            raise ValueError(f"more than {limit} values after expanding YAML aliases")
        if isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)


def parse_yaml(text: str | bytes, file: str) -> dict:
    """The top-level mapping of a scenario file's text."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise ScenarioError(file, "", f"the file is {len(text) / 2**20:.1f} MiB; scenario files are limited to "
                                f"{MAX_FILE_BYTES // 2**20} MiB (put large arrays in .npy files)")
        if b"\x00" in text:
            raise ScenarioError(file, "", "not a text file (it contains NUL bytes); expected a YAML scenario")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(file, "", f"not UTF-8 text (byte {e.start}); expected a YAML scenario") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}" if mark else "YAML"
        problem = e.problem or ""
        if "constructor for the tag" in problem:
            tag = re.search(r"'([^']*)'", problem)
            problem = f"YAML tag {tag.group(1) if tag else ''} is not allowed (scenarios never construct objects)"
        raise ScenarioError(file, where, problem) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ScenarioError(file, where, f"YAML syntax error: {getattr(e, 'problem', None) or e}") from None
    except RecursionError:
        raise ScenarioError(file, "", "YAML nested too deeply") from None
    if data is None:
        raise ScenarioError(file, "", "the file is empty; expected a mapping with keys name, neurons, ...")
    if not isinstance(data, dict):
        raise ScenarioError(file, "", f"expected a mapping (key: value lines) at the top level, got {type(data).__name__}")
    try:
        _count_nodes(data, MAX_NODES)
    except ValueError as e:
        raise ScenarioError(file, "", str(e)) from None
    return data


# ------------------------------------------------------------------ overrides
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    for m in _SEGMENT.finditer(path):
        if m.start() != pos and path[pos:m.start()] not in (".",):
            raise ValueError(f"malformed key path {path!r}")
        pos = m.end()
        name, index = m.groups()
        parts.append(int(index) if index is not None else (int(name) if name.isdigit() else name))
    if pos != len(path) or not parts:
        raise ValueError(f"malformed key path {path!r}")
    return parts


def apply_overrides(data: dict, overrides: list[str], file: str) -> dict:
    """Apply ``key.path=value`` overrides (values parsed as YAML scalars/lists)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ScenarioError(file, "--set", f"expected key.path=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            parts = _split_path(key.strip())
            value = parse_yaml(raw, "--set") if raw.strip().startswith("{") else yaml.load(raw, Loader=_Loader)
        except (ValueError, yaml.YAMLError, ScenarioError) as e:
            raise ScenarioError(file, f"--set {key}", str(e)) from None
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(node, dict):
                if part not in node or node[part] is None:
                    node[part] = [] if isinstance(nxt, int) else {}
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                raise ScenarioError(file, f"--set {key}", f"no element {part!r} to set")
        last = parts[-1]
        if isinstance(node, dict):
            node[last] = value
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            node[last] = value
        else:
            raise ScenarioError(file, f"--set {key}", f"no element {last!r} to set")
    return data


# ------------------------------------------------------------------ validation
_TYPE_LABEL = re.compile(r"^(function-\w+\[|list\[|dict\[|tuple\[|literal\[|union\[|set\[|bool$|str$|int$|float$|[A-Z]\w*$)")


def _format_loc(loc: tuple, data: Any) -> str:
    """``('synapses', 1, 'dense', 'weights')`` -> ``synapses[1].weights``.  Pydantic
    inserts union members (a discriminator tag, ``list[str]``, a model name) into
    locations; an element that is not a key of the input there is dropped when
    it is such a label."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        is_key = isinstance(node, dict) and part in node
        if not is_key and ((isinstance(node, dict) and node.get("type") == part) or _TYPE_LABEL.match(str(part))):
            continue
        out += ("." if out else "") + str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out


def _describe(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        if err["loc"] and isinstance(err["loc"][-1], int):
            return f"too few items: nothing at index {err['loc'][-1]}"
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (not part of the scenario format; see `hopdyn schema`)"
    if kind == "union_tag_invalid":
        tags = err.get("ctx", {}).get("expected_tags", "")
        return f"unknown type {err['ctx'].get('tag')!r}; expected one of {tags}"
    if kind == "union_tag_not_found":
        return "needs a `type` key"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    msg = msg.replace("Input should be", "should be")
    got = err.get("input")
    if kind not in ("model_type", "dict_type") and not isinstance(got, (dict, list)):
        msg += f" (got {got!r})"
    elif kind in ("model_type", "dict_type", "list_type", "tuple_type"):
        msg += f" (got {type(got).__name__})"
    return msg


def validate(data: dict, file: str) -> S.Scenario:
    try:
        return S.Scenario.model_validate(data)
    except pydantic.ValidationError as e:
        errors = e.errors(include_url=False)
        # A union reports one error per alternative: prefer the deepest path, then an
        # error about the value over "is not of this alternative's type".
        def rank(i_er):
            i, er = i_er
            mismatch = er["type"].endswith("_type") or er["type"] in ("literal_error", "union_tag_not_found")
            return (len(_format_loc(er["loc"], data)), not mismatch, -i)

        first = max(enumerate(errors), key=rank)[1]
        more = f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ScenarioError(file, _format_loc(first["loc"], data), _describe(first) + more) from None


def load(path: str, overrides: list[str] | None = None) -> tuple[S.Scenario, dict]:
    """Read, parse and validate a scenario file; returns the model and the raw data."""
    file = os.path.basename(path) if path else "<scenario>"
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise ScenarioError(path, "", f"cannot read the file: {e.strerror}") from None
    if os.path.isdir(path):
        raise ScenarioError(path, "", "is a directory; expected a scenario file")
    if size > MAX_FILE_BYTES:
        raise ScenarioError(file, "", f"the file is {size / 2**20:.1f} MiB; scenario files are limited to "
                            f"{MAX_FILE_BYTES // 2**20} MiB (put large arrays in .npy files)")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ScenarioError(file, "", f"cannot read the file: {e.strerror}") from None
    data = parse_yaml(raw, file)
    if overrides:
        data = apply_overrides(data, overrides, file)
    return validate(data, file), data


# ------------------------------------------------------------------ building
@dataclasses.dataclass(frozen=True)
class Built:
    """A scenario turned into objects: what ``simulate`` and the outputs need."""

    scenario: S.Scenario
    file: str
    network: Network
    x0: dict[str, np.ndarray]
    batch: int | None
    patterns: dict[str, np.ndarray]
    solver: dict
    expect: list[int] | None


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


def _make_pattern(name: str, spec: S.PatternSource, sc: S.Scenario, base: str, file: str) -> np.ndarray:
    path = f"patterns.{name}"
    try:
        if spec.random is not None:
            r = spec.random
            _check_size(r.shape, file, path + ".random.shape")
            arr = P.random_patterns(P.rng(sc.seed, f"pattern:{name}"), r.distribution, r.shape, r.low, r.high, r.mean, r.std,
                                    r.clusters, r.spread, r.norm)
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


def _lagrangian(spec) -> L.AbstractLagrangian:
    params = spec.model_dump(exclude={"type"})
    return L.LAGRANGIANS[spec.type](**params)


def _pattern_ref(name: str, patterns: dict, file: str, path: str) -> np.ndarray:
    if name not in patterns:
        known = ", ".join(patterns) or "none are defined"
        raise ScenarioError(file, path, f"unknown pattern {name!r} (patterns: {known})")
    return patterns[name]


def _synapse(i: int, spec, patterns, file, seed: int) -> Syn.AbstractSynapse:
    path = f"synapses[{i}]"
    if spec.type in ("dense", "directed"):
        w = _pattern_ref(spec.weights, patterns, file, path + ".weights")
        cls = Syn.Dense if spec.type == "dense" else Syn.Directed
        return cls(spec.connects, w.T if spec.transpose else w, spec.scale)
    if spec.type == "bias":
        b = spec.bias if not isinstance(spec.bias, str) else _pattern_ref(spec.bias, patterns, file, path + ".bias")
        return Syn.Bias(spec.connects, b)
    xi = _pattern_ref(spec.patterns, patterns, file, path + ".patterns")
    if spec.type == "hebbian" and spec.unlearn is not None:
        from ._discrete import hebbian, unlearn

        flat = xi.reshape(xi.shape[0], -1)
        if flat.shape[1] > 8192:
            raise ScenarioError(file, path + ".unlearn", f"unlearning forms W explicitly; {flat.shape[1]} units is too many (at most 8192)")
        u = spec.unlearn
        w = unlearn(hebbian(flat), u.dreams, u.rate, int(P.rng(seed, f"unlearn:{i}").integers(2**31)))
        (a,) = spec.connects
        return Syn.Dense((a, a), spec.scale * w, 0.5)  # E = -1/2 xhat^T W xhat
    if spec.type == "hebbian":
        return Syn.Hebbian(spec.connects, xi, spec.scale)
    if spec.type == "l2_memory":
        return Syn.L2Memory(spec.connects, xi)
    if spec.type == "polynomial":
        return Syn.Polynomial(spec.connects, xi, n=spec.n, scale=spec.scale, rectified=spec.rectified)
    return Syn.Exponential(spec.connects, xi, beta=spec.beta, scale=spec.scale, logsumexp=spec.logsumexp)


def _network_error_path(msg: str, sc: S.Scenario) -> str:
    m = re.match(r"synapse (\d+) \((\w+)\): (\w+)?", msg)
    if m:
        i, field = int(m.group(1)), m.group(3)
        if field in ("connects", "weights", "patterns", "bias"):
            return f"synapses[{i}].{field}"
        return f"synapses[{i}]"
    m = re.match(r"clamp: .*neuron '(\w+)'", msg)
    if m:
        return f"clamp.{m.group(1)}"
    return ""


def _initial(name: str, spec: S.InitialSpec, shape: tuple, sc: S.Scenario, patterns, file) -> tuple[np.ndarray, list[int] | None]:
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
            raise ScenarioError(file, path + ".values", f"expected {size} values (shape {list(shape)}) or rows of {size}, got shape {list(x.shape)}")
    elif spec.random is not None:
        r = spec.random
        full = ((r.batch,) if r.batch else ()) + shape
        _check_size(full, file, path + ".random")
        x = P.random_patterns(gen, r.distribution, full, r.low, r.high, r.mean, r.std)
    else:
        xi = _pattern_ref(spec.pattern, patterns, file, path + ".pattern")
        k = xi.shape[0]
        if xi.ndim < 2 or int(np.prod(xi.shape[1:])) != size:
            raise ScenarioError(file, path + ".pattern",
                                f"pattern {spec.pattern!r} has shape {list(xi.shape)}, its rows do not fit layer {name!r} of shape {list(shape)}")
        idx = list(range(k)) if spec.index == "all" else spec.index
        many = isinstance(idx, list)
        for j in idx if many else [idx]:
            if j >= k:
                raise ScenarioError(file, path + ".index", f"index {j} is out of range: pattern {spec.pattern!r} has {k} rows")
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
            raise ScenarioError(file, path + ".indices", f"index {bad[0]} is out of range for layer {name!r} of {size} units")
        mask[spec.indices] = True
    elif spec.fraction is not None:
        gen = P.rng(sc.seed, f"clamp:{name}")
        mask[gen.choice(size, int(round(spec.fraction * size)), replace=False)] = True
    elif spec.first is not None:
        mask[: min(spec.first, size)] = True
    elif spec.last is not None:
        mask[size - min(spec.last, size):] = True
    else:
        vals = np.asarray(spec.values, dtype=object)
        if vals.size != size or not all(isinstance(v, bool) for v in vals.ravel()):
            raise ScenarioError(file, path + ".values", f"expected {size} booleans (layer {name!r} of shape {list(shape)})")
        mask = vals.ravel().astype(bool)
    return mask.reshape(shape)


def build(sc: S.Scenario, path: str) -> Built:
    """Turn a validated scenario into a network, initial state and solver settings."""
    file = os.path.basename(path) if path else "<scenario>"
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    patterns = {name: _make_pattern(name, spec, sc, base, file) for name, spec in sc.patterns.items()}

    try:
        neurons = {}
        for name, spec in sc.neurons.items():
            _check_size(spec.shape, file, f"neurons.{name}.shape")
            neurons[name] = Neuron(tuple(spec.shape), _lagrangian(spec.lagrangian), spec.tau)
    except NetworkError as e:
        raise ScenarioError(file, f"neurons.{name}", str(e)) from None
    synapses = [_synapse(i, s, patterns, file, sc.seed) for i, s in enumerate(sc.synapses)]

    clamps = {}
    specs = {n: True for n in sc.clamp} if isinstance(sc.clamp, list) else dict(sc.clamp)
    for name, spec in specs.items():
        if name not in sc.neurons:
            raise ScenarioError(file, f"clamp.{name}" if isinstance(sc.clamp, dict) else "clamp",
                                f"unknown neuron {name!r} (neurons: {', '.join(sc.neurons)})")
        clamps[name] = _clamp_mask(name, spec, tuple(sc.neurons[name].shape), sc, file)
    try:
        network = Network(neurons, synapses, clamps)
    except NetworkError as e:
        raise ScenarioError(file, _network_error_path(str(e), sc), str(e)) from None

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
        raise ScenarioError(file, "outputs.image_shape",
                            f"{list(out.image_shape)} does not hold layer {layer!r} of shape {sc.neurons[layer].shape}")
    if out.readout is not None:
        r = out.readout
        if r.layer not in sc.neurons:
            raise ScenarioError(file, "outputs.readout.layer", f"unknown neuron {r.layer!r}")
        xi = _pattern_ref(r.patterns, patterns, file, "outputs.readout.patterns")
        if xi.ndim < 2 or int(np.prod(xi.shape[1:])) != int(np.prod(sc.neurons[r.layer].shape)):
            raise ScenarioError(file, "outputs.readout.patterns",
                                f"rows of {r.patterns!r} (shape {list(xi.shape)}) do not fit layer {r.layer!r}")
        if r.expect is not None:
            expect = r.expect
            if any(e >= xi.shape[0] for e in expect):
                raise ScenarioError(file, "outputs.readout.expect", f"indices must be < {xi.shape[0]} (rows of {r.patterns!r})")
            if len(expect) != (batch or 1):
                raise ScenarioError(file, "outputs.readout.expect", f"expected {batch or 1} indices (one per batch member), got {len(expect)}")
    if sc.checks.readout is not None and out.readout is None:
        raise ScenarioError(file, "checks.readout", "needs outputs.readout (which layer to read and against which patterns)")
    if sc.checks.readout is not None and sc.checks.readout.min_accuracy is not None and expect is None:
        raise ScenarioError(file, "checks.readout.min_accuracy", "needs expected indices: outputs.readout.expect, or an initial state from a pattern index")

    s = sc.solver
    if s.t1 <= s.t0:
        raise ScenarioError(file, "solver.t1", f"expected t1 > t0 = {s.t0}, got {s.t1}")
    if s.method == "euler" and s.dt is None:
        raise ScenarioError(file, "solver.dt", "method euler takes fixed steps: give dt > 0")
    if s.save.ts is not None:
        ts = np.asarray(s.save.ts)
        if ts.size < 1 or np.any(np.diff(ts) <= 0) or ts[0] < s.t0 or ts[-1] > s.t1:
            raise ScenarioError(file, "solver.save.ts", f"expected increasing times within [t0, t1] = [{s.t0}, {s.t1}]")
    from . import _discrete

    for where, method in (("solver.method", s.method), ("outputs.compare", sc.outputs.compare)):
        if method not in _discrete.DISCRETE_METHODS or (where == "outputs.compare" and sc.capacity is not None):
            continue
        try:
            _discrete.plan(network, network.init_state(x0), method, s.order if method == "retrieval" else None)
        except _discrete.DiscreteError as e:
            msg = str(e)
            key, _, msg = msg.partition(": ") if msg.startswith("solver.") else (where, "", msg)
            raise ScenarioError(file, where if key == "solver.method" else key, msg) from None
    if s.order is not None and "retrieval" not in (s.method, sc.outputs.compare):
        raise ScenarioError(file, "solver.order", f"only method retrieval takes a layer order, not {s.method}")
    steady = s.steady_state if isinstance(s.steady_state, bool) else s.steady_state.model_dump()
    solver = dict(
        method=s.method, t0=s.t0, t1=s.t1, dt=s.dt, rtol=s.rtol, atol=s.atol, pcoeff=s.pcoeff, icoeff=s.icoeff,
        dcoeff=s.dcoeff, steady_state=steady, max_steps=s.max_steps,
        save=np.asarray(s.save.ts) if s.save.ts is not None else s.save.n, save_spacing=s.save.spacing,
        divergence=s.divergence, dtmin=s.dtmin, dtype=sc.dtype, max_sweeps=s.max_sweeps, order=s.order,
        seed=int(P.rng(sc.seed, "update-orders").integers(2**31)),
    )
    return Built(sc, path, network, x0, batch, patterns, solver, expect)


def load_and_build(path: str, overrides: list[str] | None = None) -> Built:
    sc, _ = load(path, overrides)
    return build(sc, path)
