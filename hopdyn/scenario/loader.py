"""Scenario files: safe YAML loading, ``--set`` overrides and validation
against the schema.

Every problem with a scenario raises ``ScenarioError`` whose one-line message
names the file, the key path (``synapses[1].weights``) and what was expected.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import pydantic
import yaml

from ..core.errors import HopdynError, format_location, printable
from ..model.checks import pydantic_message
from .schema import scenario_model

MAX_FILE_BYTES = 10 * 2**20  # big data belongs in .npy files next to the scenario
MAX_NODES = 1_000_000  # YAML nodes after alias expansion


class ScenarioError(HopdynError, ValueError):
    """Invalid scenario input: the ``file``, the key ``path`` in it (a string,
    or a location tuple) and the ``message``.  ``str(err)`` is one line."""

    def __init__(self, file: str, path, message: str, more: list[str] | None = None):
        self.file = printable(file)
        self.path = printable(path) if isinstance(path, str) else format_location(path)
        self.more = [printable(" ".join(m.split())) for m in more or []]  # the other problems, a line each
        super().__init__(message, () if isinstance(path, str) else tuple(path))

    def _text(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"

    @classmethod
    def at(cls, file: str, err: HopdynError, *prefix) -> ScenarioError:
        """A library error ``err`` (located at its own argument path) located in
        ``file`` under the key path ``prefix``."""
        return cls(file, (*prefix, *err.location), err.message)


# ------------------------------------------------------------------ YAML
MAX_DEPTH = 64  # nesting levels of one value


class _Loader(yaml.SafeLoader):
    """Safe loading (no object construction) that rejects duplicate keys and
    accepts YAML merge keys (``<<: *anchor``; explicit keys override merged ones)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)  # merged entries first, so the explicit ones override them
    return {loader.construct_object(k, deep=deep): loader.construct_object(v, deep=deep) for k, v in node.value}


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _check_tree(obj, limit: int = MAX_NODES, depth: int = MAX_DEPTH) -> None:
    """Refuse values that expand (through YAML aliases) to more than ``limit``
    nodes or nest deeper than ``depth`` levels; iterative, so it never recurses."""
    stack, n = [(obj, 0)], 0
    while stack:
        o, d = stack.pop()
        n += 1
        if n > limit:
            raise ValueError(f"more than {limit} values after expanding YAML aliases")
        if d > depth:
            raise ValueError(f"nested deeper than {depth} levels")
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)


def load_yaml_value(text: str, file: str, where: str = ""):
    """Any YAML value (a file's top level, or a ``--set`` value), loaded safely
    and checked for alias bombs and depth before anything else sees it."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark or e.context_mark
        where = where or (f"line {mark.line + 1}" if mark else "YAML")
        problem = e.problem or ""
        if "constructor for the tag" in problem:
            tag = re.search(r"'([^']*)'", problem)
            problem = f"YAML tag {tag.group(1) if tag else ''} is not allowed (scenarios never construct objects)"
        raise ScenarioError(file, where, problem) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = where or (f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML")
        raise ScenarioError(file, where, f"YAML syntax error: {getattr(e, 'problem', None) or e}") from None
    except RecursionError:
        raise ScenarioError(file, where, f"YAML nested deeper than {MAX_DEPTH} levels") from None
    try:
        _check_tree(data)
    except ValueError as e:
        raise ScenarioError(file, where, str(e)) from None
    return data


def _utf16(text: bytes) -> bool:
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    half = max(1, len(text) // 4)
    return text[1::2].count(0) > half or text[0::2].count(0) > half


def parse_yaml(text: str | bytes, file: str) -> dict:
    """The top-level mapping of a scenario file's text."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise ScenarioError(
                file,
                "",
                f"the file is over {MAX_FILE_BYTES // 2**20} MiB; scenario files are limited to "
                f"{MAX_FILE_BYTES // 2**20} MiB (put large arrays in .npy files)",
            )
        if _utf16(text):
            raise ScenarioError(file, "", "UTF-16 text; save the scenario as UTF-8")
        if b"\x00" in text:
            raise ScenarioError(file, "", "not a text file (it contains NUL bytes); expected a YAML scenario")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(file, "", f"not UTF-8 text (byte {e.start}); expected a YAML scenario") from None
    data = load_yaml_value(text, file)
    if data is None:
        raise ScenarioError(file, "", "the file is empty; expected a mapping with keys name, neurons, ...")
    if not isinstance(data, dict):
        raise ScenarioError(
            file, "", f"expected a mapping (key: value lines) at the top level, got {type(data).__name__}"
        )
    return data


# ------------------------------------------------------------------ overrides
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    for m in _SEGMENT.finditer(path):
        if m.start() != pos and path[pos : m.start()] not in (".",):
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
            value = load_yaml_value(raw, file, f"--set {key}")
        except ScenarioError:
            raise
        except ValueError as e:
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
_TYPE_LABEL = re.compile(
    r"^(function-\w+\[|constrained-\w+$|list\[|dict\[|tuple\[|literal\[|union\[|set\[|bool$|str$|int$|float$|[A-Z]\w*$)"
)


def _data_path(loc: tuple, data: Any) -> list[str | int]:
    """The keys and indices of the input that a pydantic location points at.
    Pydantic inserts union members (a discriminator tag, ``list[str]``, a model
    name) into locations; an element that is not a key of the input there is
    dropped when it is such a label."""
    out: list[str | int] = []
    node, tag_seen = data, False
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            node, tag_seen = (node[part] if isinstance(node, list) and part < len(node) else None), False
            continue
        is_key = isinstance(node, dict) and part in node
        is_tag = not tag_seen and isinstance(node, dict) and node.get("type") == part
        if not is_key and (is_tag or _TYPE_LABEL.match(str(part))):
            tag_seen = tag_seen or is_tag  # a union's tag label comes once; a field may share its name
            continue
        tag_seen = False
        out.append(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out


def _format_loc(loc: tuple, data: Any) -> str:
    """``('synapses', 1, 'dense', 'weights')`` -> ``synapses[1].weights``."""
    return format_location(_data_path(loc, data))


def _allowed_keys(path: list, data: Any) -> list[str]:
    """The keys the schema allows in the mapping at ``path`` of the input (for
    "did you mean"): the JSON Schema walked along the input, a discriminated
    union resolved by the input's ``type``."""
    schema = scenario_model().model_json_schema()
    defs = schema.get("$defs", {})

    def resolve(node, value):
        while True:
            if "$ref" in node:
                node = defs[node["$ref"].split("/")[-1]]
            elif "anyOf" in node or "oneOf" in node:
                options = node.get("oneOf") or node.get("anyOf")
                tag = value.get("type") if isinstance(value, dict) else None
                mapping = node.get("discriminator", {}).get("mapping", {})
                if tag in mapping:
                    node = defs[mapping[tag].split("/")[-1]]
                    continue
                objects = [o for o in options if "$ref" in o or o.get("type") == "object"]
                if not objects:
                    return node
                node = objects[0]
            else:
                return node

    node, value = resolve(schema, data), data
    for part in path:
        if isinstance(part, int):
            node, value = node.get("items", {}), value[part] if isinstance(value, list) and part < len(value) else None
        elif part in node.get("properties", {}):
            node, value = node["properties"][part], value.get(part) if isinstance(value, dict) else None
        elif isinstance(node.get("additionalProperties"), dict) or node.get("patternProperties"):
            inner = node.get("additionalProperties") or next(iter(node["patternProperties"].values()))
            node, value = inner, value.get(part) if isinstance(value, dict) else None
        else:
            return []
        node = resolve(node, value)
    return list(node.get("properties", {}))


def _describe(err: dict, data: Any = None) -> str:
    kind = err["type"]
    if kind == "missing":
        if err["loc"] and isinstance(err["loc"][-1], int):
            return f"too few items: nothing at index {err['loc'][-1]}"
        return "required key is missing"
    if kind == "extra_forbidden":
        path = _data_path(err["loc"], data)
        allowed = _allowed_keys(path[:-1], data) if data is not None else []
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6) if path else []
        if close:
            return f"unknown key; did you mean `{close[0]}`?"
        if allowed:
            return f"unknown key; expected one of {', '.join(allowed)}"
        return "unknown key (not part of the scenario format; see `hopdyn schema`)"
    if kind == "union_tag_invalid":
        tags = err.get("ctx", {}).get("expected_tags", "")
        return f"unknown type {err['ctx'].get('tag')!r}; expected one of {tags}"
    if kind == "union_tag_not_found":
        return "needs a `type` key"
    return pydantic_message(err)


def _representable(data, dtype: str, file: str) -> None:
    """Every number of the file within the range of the scenario's dtype (a
    float32 scenario with ``t0: -1.0e308`` would overflow when cast)."""
    import numpy as np

    top = float(np.finfo(np.dtype(dtype)).max)

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, i])
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and abs(node) > top:
            raise ScenarioError(
                file, tuple(path), f"{node:g} is beyond the range of {dtype} ({top:.4g}); use dtype: float64"
            )

    walk(data, [])


def validate(data: dict, file: str):
    """The validated scenario, or a ``ScenarioError`` whose first line is the most
    useful problem and whose ``more`` lists every other one, a line each."""
    try:
        sc = scenario_model().model_validate(data)
        _representable(data, sc.dtype, file)
        return sc
    except pydantic.ValidationError as e:
        errors = e.errors(include_url=False)

        # A union reports one error per alternative: per input location keep the
        # most telling one (about the value rather than "not this alternative's
        # type"); then an unknown key first (usually a typo, with its
        # suggestion), then the deepest location.
        def rank(i_er):
            i, er = i_er
            mismatch = er["type"].endswith("_type") or er["type"] in ("literal_error", "union_tag_not_found")
            return (er["type"] == "extra_forbidden", len(_format_loc(er["loc"], data)), not mismatch, -i)

        best: dict[str, tuple] = {}
        for item in enumerate(errors):
            where = _format_loc(item[1]["loc"], data)
            if where not in best or rank(item) > rank(best[where]):
                best[where] = item
        ordered = sorted(best.values(), key=rank, reverse=True)
        lines = [(_format_loc(er["loc"], data), _describe(er, data)) for _, er in ordered]
        raise ScenarioError(file, lines[0][0], lines[0][1], more=[f"{w}: {m}" for w, m in lines[1:]]) from None


def load(path: str, overrides: list[str] | None = None):
    """Read, parse and validate a scenario file; returns the model and the raw data."""
    file = os.path.basename(path) if path else "<scenario>"
    if not os.path.exists(path):
        raise ScenarioError(path, "", "no such file")
    if os.path.isdir(path):
        raise ScenarioError(path, "", "is a directory; expected a scenario file")
    if not os.path.isfile(path):
        raise ScenarioError(path, "", "is not a regular file (a device, FIFO or socket); expected a scenario file")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # bounded by what is read, not by the size the file reports
    except OSError as e:
        raise ScenarioError(file, "", f"cannot read the file: {e.strerror}") from None
    data = parse_yaml(raw, file)
    if overrides:
        data = apply_overrides(data, overrides, file)
    return validate(data, file), data


# ------------------------------------------------------------------ shipped scenarios
def shipped_dir() -> Path:
    """Where the shipped scenarios live: ``hopdyn/scenarios`` in an installed
    package, or ``scenarios/`` beside the package in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "scenarios", here.parent / "scenarios"):
        if cand.is_dir() and any(cand.glob("*.yaml")):
            return cand
    return here.parent / "scenarios"


def resolve(file: str) -> str:
    """A path as given, or the name of a shipped scenario."""
    if os.path.exists(file):
        return file
    for cand in (shipped_dir() / file, shipped_dir() / f"{file}.yaml"):
        if cand.is_file():
            return str(cand)
    names = sorted(p.stem for p in shipped_dir().glob("*.yaml"))
    close = difflib.get_close_matches(os.path.basename(file).removesuffix(".yaml"), names, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else " (see `hopdyn list`)"
    raise ScenarioError(file, "", f"no such file, and not a shipped scenario{hint}")
