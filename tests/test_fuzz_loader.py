"""Property-based fuzzing of the scenario loader: whatever the input, loading
either succeeds or raises ScenarioError (never another exception)."""

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hopdyn.scenario.build import build
from hopdyn.scenario.loader import ScenarioError, parse_yaml, validate

BASE = yaml.safe_load("""\
name: tiny
seed: 3
patterns:
  Xi: {random: {distribution: binary, shape: [3, 4]}}
  L: {onehot: 3}
neurons:
  v: {shape: [4], lagrangian: {type: tanh, beta: 2.0}, tau: 1.0}
  m: {shape: [3], lagrangian: {type: softmax, beta: 1.0}, tau: 0.5}
synapses:
  - {type: dense, connects: [m, v], weights: Xi, scale: 1.0}
  - {type: hebbian, connects: [v], patterns: Xi}
initial:
  v: {pattern: Xi, index: [0, 1], corrupt: {flip: 0.25}}
clamp: {m: {first: 1}}
solver: {method: tsit5, t1: 10.0, save: {n: 5}}
checks: {lyapunov: {tolerance: 1.0e-6}, converged: false}
outputs: {plots: [energy], layer: v, readout: {layer: v, patterns: Xi}}
""")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["v", "m", "Xi", "L", "dense", "tanh", "uniform", "all", "-1", "1e-3"]),
)
values = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=12,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutate(data, path, op, value):
    data = copy.deepcopy(data)
    if not path:
        return value if op == "replace" else data
    parent = data
    for p in path[:-1]:
        parent = parent[p]
    key = path[-1]
    if op == "replace":
        parent[key] = value
    elif op == "delete":
        del parent[key]
    elif op == "add" and isinstance(parent, dict):
        parent[f"{key}_extra"] = value
    return data


def _load(data):
    try:
        sc = validate(data, "fuzz.yaml") if isinstance(data, dict) else validate({"x": data}, "fuzz.yaml")
        build(sc, "fuzz.yaml")
    except ScenarioError as e:
        assert "\n" not in str(e)
        assert str(e).startswith("fuzz.yaml")


def test_base_is_valid():
    built = build(validate(BASE, "fuzz.yaml"), "fuzz.yaml")
    assert built.network.names == ("v", "m") and built.batch == 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_scenarios_fail_cleanly(data):
    paths = list(_paths(BASE))
    n = data.draw(st.integers(1, 3))
    mutated = BASE
    for _ in range(n):
        paths = list(_paths(mutated)) if isinstance(mutated, (dict, list)) else [()]
        path = data.draw(st.sampled_from(paths))
        op = data.draw(st.sampled_from(["replace", "delete", "add"]))
        mutated = _mutate(mutated, path, op, data.draw(values))
    _load(mutated)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_arbitrary_text_fails_cleanly(text):
    try:
        data = parse_yaml(text, "fuzz.yaml")
    except ScenarioError as e:
        assert "\n" not in str(e)
        return
    _load(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(yaml.safe_dump(BASE))), max_size=400))
def test_shuffled_yaml_characters_fail_cleanly(chars):
    try:
        data = parse_yaml("".join(chars), "fuzz.yaml")
    except ScenarioError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.yaml")
        return
    _load(data)


def _same_type(value, data):
    if isinstance(value, bool):
        return data.draw(st.booleans())
    if isinstance(value, int):
        return data.draw(st.integers(0, 12))
    if isinstance(value, float):
        return data.draw(st.floats(0.0, 5.0))
    if isinstance(value, str):
        return data.draw(st.sampled_from(["v", "m", "Xi", "L", "q", "all", value]))
    return value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_same_type_mutations_fail_cleanly(data):
    """Leaves replaced by values of their own type pass the schema more often and
    exercise the consistency checks (unknown names, shapes, indices)."""
    mutated = copy.deepcopy(BASE)
    leaves = [p for p in _paths(mutated) if p and not isinstance(_get(mutated, p), (dict, list))]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(leaves))
        mutated = _mutate(mutated, path, "replace", _same_type(_get(mutated, path), data))
    _load(mutated)


def _get(node, path):
    for p in path:
        node = node[p]
    return node
