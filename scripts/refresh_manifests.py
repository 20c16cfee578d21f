"""Re-key the shipped outputs' manifests after a change of how a scenario's
identity is computed (not of what the scenario computes): every file a plain
command (no overrides) wrote under plots/<name>/ for scenario <name> gets the
identity hopdyn computes now.  Run only when the outputs were checked to be
unchanged (scripts/check_shipped.py); the file hashes are kept as they are.

    python scripts/refresh_manifests.py
"""

from __future__ import annotations

import json
import pathlib

from hopdyn.scenario.build import scenario_identity

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    for manifest in sorted((ROOT / "plots").glob("*/manifest.json")):
        folder = manifest.parent
        m = json.loads(manifest.read_text())
        entries = list(m.get("files", {}).values()) + ([m["last"]] if "last" in m else [])
        name = next((e.get("scenario") for e in entries if e.get("scenario")), None)
        source = ROOT / "scenarios" / f"{name}.yaml"
        if not source.is_file():
            source = next((p for p in folder.parent.glob("*/trained.yaml") if name and name.endswith("-trained")), None)
            if source is None or not name:
                continue
            source = folder.parent / name.removesuffix("-trained") / "trained.yaml"
        ident = scenario_identity(str(source), [])
        for e in entries:
            if e.get("scenario") == name and not e.get("overrides"):
                e.update(ident)
        manifest.write_text(json.dumps(m, indent=2) + "\n")
        print(f"{folder.name}: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
