"""Generate docs/scenario-reference.md from the scenario schema, so the
reference cannot drift from what the loader accepts, and docs/api.md from the
package's one list of public names (every name, grouped by where it lives).

    python scripts/gen_docs.py          # write it
    python scripts/gen_docs.py --check  # exit 1 if the committed file differs (the tests run this)
"""

from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "scenario-reference.md"

HEAD = """# Scenario reference

Every key a scenario file may hold, generated from the schema the loader
validates against (`python scripts/gen_docs.py`; `hopdyn schema` prints the
same as JSON Schema). Unknown keys are errors. The original contract, which
this extends without breaking, is in [the scenario format](scenario-format.md).

Lagrangian and synapse types are generated from their classes' signatures:
registering a new class (`hd.register_synapse`) adds its section here.
"""


def _type(node: dict, defs: dict) -> str:
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in node or "oneOf" in node:
        return " or ".join(_type(o, defs) for o in node.get("anyOf") or node.get("oneOf"))
    if "enum" in node:
        return " or ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    t = node.get("type")
    if t == "array":
        if "prefixItems" in node:
            return "[" + ", ".join(_type(i, defs) for i in node["prefixItems"]) + "]"
        return f"list of {_type(node.get('items', {}), defs)}" if node.get("items") else "list"
    if t == "object":
        inner = node.get("additionalProperties") or next(iter(node.get("patternProperties", {}).values()), None)
        return f"mapping of name to {_type(inner, defs)}" if isinstance(inner, dict) else "mapping"
    bounds = [
        f"{op} {node[k]}"
        for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if k in node
    ]
    return (t or "any") + (f" ({', '.join(bounds)})" if bounds else "")


def _default(spec: dict) -> str:
    if "default" not in spec:
        return "required"
    if isinstance(spec["default"], dict) and spec["default"]:
        return "its section's defaults"
    return f"`{json.dumps(spec['default'])}`"


def _table(model: dict, defs: dict) -> list[str]:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key, spec in model.get("properties", {}).items():
        desc = " ".join(spec.get("description", "").split()).replace("|", "\\|").replace("<", "&lt;")
        rows.append(f"| `{key}` | {_type(spec, defs)} | {_default(spec)} | {desc} |")
    return rows


def render() -> str:
    from hopdyn.scenario.schema import scenario_model

    schema = scenario_model().model_json_schema()
    defs = schema["$defs"]
    out = [HEAD, "## Scenario", "", " ".join((schema.get("description") or "").split()), "", *_table(schema, defs), ""]
    for name in sorted(defs):
        d = defs[name]
        out += [f"## {name}", "", " ".join((d.get("description") or "").split()), "", *_table(d, defs), ""]
    return "\n".join(out).rstrip() + "\n"


API = ROOT / "docs" / "api.md"
API_SECTIONS = (
    ("Networks and neurons", (".model.network", ".model.neurons")),
    ("Lagrangians", (".model.lagrangians",)),
    ("Synapses", (".model.synapses",)),
    ("Parameter kinds and registries", (".model.params",)),
    (
        "Solving",
        (
            ".solvers.simulate",
            ".solvers.settings",
            ".solvers.trajectory",
            ".solvers.registry",
            ".solvers.etd",
            ".solvers.rkc",
        ),
    ),
    ("Steady states and learning", (".solvers.equilibrium", ".analysis.training")),
    ("Discrete-time rules", (".solvers.discrete",)),
    (
        "Analysis",
        (
            ".analysis.verify",
            ".analysis.basins",
            ".analysis.naming",
            ".analysis.runner",
            ".analysis.ensembles",
            ".analysis.capacity",
            ".analysis.continuation",
        ),
    ),
    ("Scenarios", (".scenario.build", ".scenario.studies", ".scenario.loader")),
    ("Compilation and progress", (".solvers.compile", ".core.progress")),
    ("Errors, limits and files", (".core.errors", ".core.budget", ".core.outputs")),
)


def render_api() -> str:
    sys.path.insert(0, str(ROOT))
    import hopdyn

    out = [
        "# Python API",
        "",
        "Everything is importable from `hopdyn` (conventionally `import hopdyn as hd`). This page is generated from",
        "the package's one list of public names (`python scripts/gen_docs.py`); each entry is the object's own",
        "docstring.",
        "",
    ]
    placed = set()
    for title, modules in API_SECTIONS:
        names = [n for n, (m, _) in hopdyn._LAZY.items() if m in modules]
        if not names:
            continue
        out += [f"## {title}", ""] + [f"::: hopdyn.{n}" for n in names] + [""]
        placed.update(names)
    rest = [n for n in hopdyn._LAZY if n not in placed]
    if rest:
        out += ["## Other", ""] + [f"::: hopdyn.{n}" for n in rest] + [""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for target, text in ((TARGET, render()), (API, render_api())):
        if "--check" in argv:
            if not target.is_file() or target.read_text() != text:
                stale.append(target)
        else:
            target.write_text(text)
    for target in stale:
        print(f"{target.relative_to(ROOT)} is out of date: run python scripts/gen_docs.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
