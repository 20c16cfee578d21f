"""The layered package: imports point down, one registry of methods that the
schema follows, components usable from YAML by registration alone, settings
validated once with located errors."""

import ast
import dataclasses
import inspect
import pathlib
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest

import hopdyn as hd
from hopdyn.scenario.build import load_and_build
from hopdyn.scenario.loader import ScenarioError
from hopdyn.scenario.schema import scenario_model

ROOT = pathlib.Path(hd.__file__).parent
LAYERS = {
    "core": 0,
    "model": 1,
    "solvers": 2,
    "analysis": 3,
    "scenario": 4,
    "figures": 4,
    "live": 5,
    "bench": 6,
    "cli": 7,
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "hopdyn" else None


def _imports(path: pathlib.Path, package: str):
    """Every hopdyn module a file imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno


def test_every_import_points_down_the_layers():
    bad = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts == ("__init__.py",):
            continue  # the package's face re-exports every layer
        here = rel.parts[0].removesuffix(".py")
        assert here in LAYERS, f"{rel}: not in a known layer"
        package = "hopdyn." + ".".join(rel.parts[:-1]) if len(rel.parts) > 1 else "hopdyn"
        bad += _upward(rel, here, package)
    assert not bad, "\n".join(bad)


def _upward(rel, here: str, package: str) -> list[str]:
    """A file's imports that point up a layer, across one, or at the package face."""
    out = []
    for mod, line in _imports(ROOT / rel, package):
        if mod == "hopdyn":  # ``from .. import x`` / ``import hopdyn``: the face, above what it re-exports
            if LAYERS[here] <= _face_layer():
                out.append(f"{rel}:{line} imports the package face")
            continue
        there = _layer(mod)
        if there is None or there == "scenarios":
            continue
        if LAYERS.get(there, 9) > LAYERS[here] or (there != here and LAYERS[there] == LAYERS[here]):
            out.append(f"{rel}:{line} imports {mod}")
    return out


def _face_layer() -> int:
    """The highest layer the package face re-exports: only layers above it may import it."""
    return max(LAYERS[_layer(m)] for m, _ in _imports(ROOT / "__init__.py", "hopdyn") if _layer(m) in LAYERS)


def test_an_import_of_the_package_face_from_a_layer_fails_the_check(tmp_path, monkeypatch):
    """The check sees ``from .. import __version__`` (the face, two arrows up)."""
    fake = ROOT / "solvers" / "_face_probe.py"
    monkeypatch.setattr(pathlib.Path, "read_text", lambda self, *a, **k: (
        "from .. import __version__\nimport hopdyn\n" if self == fake else _read(self, *a, **k)))  # fmt: skip
    bad = _upward(fake.relative_to(ROOT), "solvers", "hopdyn.solvers")
    assert bad == [
        "solvers/_face_probe.py:1 imports the package face",
        "solvers/_face_probe.py:2 imports the package face",
    ]


_read = pathlib.Path.read_text


def test_no_module_imports_itself_through_others():
    """No import cycle between hopdyn's modules (imports inside functions count)."""
    names = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        names[name] = path
    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for mod, _ in _imports(path, package):
            deps |= {m for m in (mod, *(f"{mod}.{a}" for a in _imported_names(path, mod))) if m in names and m != name}
        graph[name] = deps
    graph.pop("hopdyn")  # the face re-exports every layer; nothing below imports it (checked above)
    seen, cycles = {}, []

    def visit(v, stack):
        seen[v] = "open"
        for w in graph.get(v, ()):
            if seen.get(w) == "open":
                cycles.append(stack[stack.index(w) :] + [w])
            elif w not in seen:
                visit(w, stack + [w])
        seen[v] = "done"

    for v in sorted(graph):
        if v not in seen:
            visit(v, [v])
    assert not cycles, cycles


def _imported_names(path, mod):
    """The names ``from mod import a, b`` brings (submodules are among them)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            yield from (a.name for a in node.names)


def test_the_analysis_never_imports_the_scenario_layer():
    for path in (ROOT / "analysis").glob("*.py"):
        assert "scenario" not in {(_layer(m) or "") for m, _ in _imports(path, "hopdyn.analysis")}, path


def test_the_schema_method_list_is_the_registry():
    schema = scenario_model().model_json_schema()
    enum = schema["$defs"]["SolverSpec"]["properties"]["method"]["enum"]
    assert enum == ["auto", *hd.METHODS]
    assert set(hd.METHODS) >= {"tsit5", "etd", "rkc", "async", "retrieval"}
    assert hd.get_method("sync").descent_guaranteed is False and hd.get_method("async").binary
    assert hd.get_method("retrieval").continuous is False and hd.get_method("euler").adaptive is False


def test_the_solver_section_defaults_are_the_settings_defaults():
    spec = scenario_model().model_json_schema()["$defs"]["SolverSpec"]["properties"]
    defaults = hd.SolveSettings()
    for f in dataclasses.fields(hd.SolveSettings):
        if f.name in spec and "default" in spec[f.name] and f.name not in ("steady_state", "save", "order"):
            assert spec[f.name]["default"] == getattr(defaults, f.name), f.name
    cap = scenario_model().model_json_schema()["$defs"]["CapacitySpec"]["properties"]
    sig = inspect.signature(hd.capacity).parameters
    assert cap["trials"]["default"] == sig["trials"].default and cap["gain"]["default"] == sig["gain"].default


def test_settings_are_validated_where_they_are_built():
    with pytest.raises(hd.SettingsError) as e:
        hd.SolveSettings(rtol=-1.0)
    assert e.value.location == ("rtol",) and str(e.value).startswith("rtol: ")
    with pytest.raises(hd.SettingsError, match=r"^t1: expected t1 > t0"):
        hd.SolveSettings(t0=5.0, t1=2.0)
    with pytest.raises(hd.SettingsError, match="^steady_state.atol: "):
        hd.SolveSettings(steady_state={"atol": -1})
    with pytest.raises(hd.SettingsError, match="^max_steps: expected a number"):
        hd.SolveSettings(max_steps=True)
    s = hd.SolveSettings(rtol=np.float32(1e-5), save=np.array([0.0, 1.0]))
    assert s.rtol == pytest.approx(1e-5) and s.save == (0.0, 1.0)
    assert dataclasses.replace(s, method="etd").method == "etd"


def test_errors_carry_their_location_and_the_scenario_adds_the_file(tmp_path):
    v = hd.Neuron(3, hd.Tanh())
    with pytest.raises(hd.NetworkError) as e:
        hd.Network({"v": v}, [hd.Bias(("v",), 0.0), hd.Dense(("v", "v"), np.ones((2, 2)))])
    assert e.value.location == ("synapses", 1, "weights")
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\npatterns: {W: {values: [[1, 2], [3, 4]]}}\n"
        "neurons: {v: {shape: [3], lagrangian: {type: tanh}}}\n"
        "synapses: [{type: bias, connects: [v], bias: 0.5}, {type: dense, connects: [v, v], weights: W}]\n"
    )
    with pytest.raises(ScenarioError) as e:
        load_and_build(str(path))
    assert str(e.value).startswith("s.yaml: synapses[1].weights: dense: shape (2, 2) does not match")
    path.write_text("name: s\nneurons: {v: {shape: [3], lagrangian: {type: tanh}}}\nsolver: {t0: 5, t1: 2}\n")
    with pytest.raises(ScenarioError, match=r"^s.yaml: solver.t1: expected t1 > t0"):
        load_and_build(str(path))


# ------------------------------------------------------------------ a component defined here
class Quartic(hd.AbstractSynapse):
    """``E = -scale/4 sum_mu (xi_mu . xhat)^4`` on one layer (defined in a test)."""

    kind: ClassVar[str] = "quartic_test"
    arity: ClassVar[int] = 1
    patterns: jnp.ndarray
    scale: jnp.ndarray

    def __init__(self, connects, patterns: hd.Pattern, scale: hd.Finite = 1.0):
        self.connects = tuple(connects)
        self.patterns = jnp.asarray(patterns, float)
        self.scale = jnp.asarray(scale, float)

    def __call__(self, x):
        return -self.scale / 4 * jnp.sum((self.patterns @ x) ** 4)


class Softsign(hd.AbstractLagrangian):
    """``L = sum (|x| - log(1 + |x|))``; activation ``x / (1 + |x|)`` (defined in a test)."""

    kind: ClassVar[str] = "softsign_test"

    def __call__(self, x):
        return jnp.sum(jnp.abs(x) - jnp.log1p(jnp.abs(x)))


@pytest.fixture
def registered():
    hd.register_synapse(Quartic)
    hd.register_lagrangian(Softsign)
    yield
    del hd.SYNAPSES["quartic_test"], hd.LAGRANGIANS["softsign_test"]


def test_a_component_defined_in_a_test_is_usable_from_yaml_by_registration(tmp_path, registered):
    path = tmp_path / "q.yaml"
    path.write_text(
        "name: q\npatterns: {Xi: {values: [[1, -1, 0.5], [0.2, 1, -1]]}}\n"
        "neurons: {v: {shape: [3], lagrangian: {type: softsign_test}}}\n"
        "synapses: [{type: quartic_test, connects: [v], patterns: Xi, scale: 0.3}]\n"
        "initial: {v: {values: [0.3, -0.2, 0.1]}}\n"
    )
    built = load_and_build(str(path))
    x = np.array([0.3, -0.2, 0.1])
    xi = np.array([[1, -1, 0.5], [0.2, 1, -1]])
    xhat = x / (1 + np.abs(x))
    # hand derivation: dx/dt = -dE/dxhat = scale * Xi^T (Xi xhat)^3 - x
    expected = 0.3 * xi.T @ (xi @ xhat) ** 3 - x
    got = np.asarray(built.network.vector_field({"v": jnp.asarray(x)})["v"])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    path.write_text(path.read_text().replace("scale: 0.3", "scale: .nan"))
    with pytest.raises(ScenarioError, match=r"synapses\[0\]\.scale"):
        load_and_build(str(path))
    assert "quartic_test" in str(scenario_model().model_json_schema())


def test_the_unregistered_component_is_refused(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("name: q\nneurons: {v: {shape: [3], lagrangian: {type: softsign_test}}}\n")
    with pytest.raises(ScenarioError, match="neurons.v.lagrangian"):
        load_and_build(str(path))


def test_the_tree_is_clean_under_the_configured_linter_and_formatter():
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    root = ROOT.parent
    paths = [str(root / p) for p in ("hopdyn", "tests", "examples", "scripts", "docs/notebooks")]
    lint = subprocess.run([ruff, "check", *paths], capture_output=True, text=True, cwd=root)
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([ruff, "format", "--check", *paths], capture_output=True, text=True, cwd=root)
    assert fmt.returncode == 0, fmt.stdout


def test_the_run_plots_the_schema_accepts_are_the_ones_the_figures_draw():
    import typing

    from hopdyn.figures.run import PLOTS
    from hopdyn.scenario.schema import OutputsBase as Outputs

    (item,) = typing.get_args(Outputs.model_fields["plots"].annotation)
    assert typing.get_args(item) == PLOTS


def test_a_command_passes_its_study_through():
    """The command line parses, calls and prints: no figure is chosen and no
    study is computed there (each study's figures come from its family)."""
    import re

    text = (ROOT / "cli.py").read_text()
    assert set(re.findall(r"(\w+)_figure\(", text)) <= {"write"}  # no figure drawn by name: only written
    for helper in ("basins_figures", "continuation_figures", "capacity_figures", "run_figures", "compare_figures"):
        assert helper in text, helper
    assert "run_report(" in text and "sample_overrides(" in text and "basins_answered(" in text
    assert '"seed-dam"' not in text and '"latency"' not in text  # bench parts: bench.suite's registry
    assert "if name" not in text and "args.command in" not in text  # verbs declare their options (VERBS)


def test_a_solver_is_one_registration(tmp_path):
    """The third of the five common changes: a method registered in a test
    (Diffrax's Heun) is usable by name from ``simulate`` and from a scenario
    file, and reaches the same steady state as Tsit5."""
    import diffrax as dfx

    from hopdyn.solvers.registry import METHODS, Method, register

    register(Method("heun_test", lambda net, p: dfx.Heun(), evals_per_step=2, evals_init=1, description="Heun"))
    try:
        path = tmp_path / "h.yaml"
        path.write_text(
            "name: h\npatterns: {Xi: {values: [[1, -1, 1, -1], [1, 1, -1, -1]]}}\n"
            "neurons: {s: {shape: [4], lagrangian: {type: tanh, beta: 4.0}}}\n"
            "synapses: [{type: hebbian, connects: [s], patterns: Xi}]\n"
            "initial: {s: {values: [0.5, -0.2, 0.4, -0.1]}}\nsolver: {method: heun_test, t1: 500}\n"
        )
        built = load_and_build(str(path))
        heun = hd.simulate(built.network, built.x0, built.settings)
        tsit5 = hd.simulate(built.network, built.x0, built.with_method("tsit5"))
        assert heun.method == "heun_test" and heun.status_name == "steady_state"
        np.testing.assert_allclose(np.asarray(heun.final_xhat["s"]), np.asarray(tsit5.final_xhat["s"]), atol=1e-4)
    finally:
        del METHODS["heun_test"]


def test_an_analysis_and_a_figure_are_one_function_and_one_registration(tmp_path):
    """The fourth and fifth of the five common changes, made here: an analysis
    (a function on a ``Network`` and a study's arrays: the spread of end
    states within each attractor) and a figure of it registered for the
    ``basins`` study; ``hopdyn basins`` writes it with the command line
    untouched, and its numbers hold what the mathematics says (the two
    attractors of the two-neuron network are mirror images: equal energies,
    and each end state of a converged start lies at its attractor)."""
    import json

    from matplotlib.figure import Figure

    from hopdyn.cli import main
    from hopdyn.figures.common import FIGURES

    def spread_by_attractor(network, arrays, layer):
        """Per attractor id: how many starts ended there, the largest distance of
        an end state from their mean, and the energy at that mean."""
        out = {}
        for lab in sorted(set(arrays["labels"].tolist()) - {-1}):
            ends = np.asarray(arrays[f"xhat_end/{layer}"])[arrays["labels"] == lab]
            centre = ends.mean(axis=0)
            # tanh(2 x) = xhat: the state whose activation is the mean end state
            x = {layer: jnp.arctanh(jnp.asarray(np.clip(centre, -0.999999, 0.999999))) / 2.0}
            out[int(lab)] = {
                "starts": len(ends),
                "spread": float(np.max(np.linalg.norm(ends - centre, axis=1))),
                "energy": float(network.energy(x)),
            }
        return out

    net = load_and_build("basins-two-neuron").network
    seen = {}

    def draw(report, arrays, title):
        seen.update(spread_by_attractor(net, arrays, report["layer"]))
        fig = Figure()
        fig.subplots().bar([str(k) for k in seen], [v["starts"] for v in seen.values()])
        return fig

    hd.register_figure("basins", "attractor_spread.png", draw, when=lambda report, arrays: bool(report["attractors"]))
    try:
        out = tmp_path / "b"
        code = main(
            ["basins", "basins-two-neuron", "--out", str(out), "-q", "--set", "basins.ensemble.grid.resolution=9"]
        )
        assert code == 0 and (out / "attractor_spread.png").stat().st_size > 1000
        assert "attractor_spread.png" in json.loads((out / "manifest.json").read_text())["files"]
    finally:
        del FIGURES["basins"]["attractor_spread.png"]
    a, b = sorted(seen.values(), key=lambda v: -v["starts"])[
        :2
    ]  # the two stable states, +-(a, a); the saddle has the anti-diagonal
    assert a["spread"] < 1e-3 and b["spread"] < 1e-3
    assert a["energy"] == pytest.approx(b["energy"], abs=1e-6)
    assert "attractor_spread" not in (ROOT / "cli.py").read_text()
