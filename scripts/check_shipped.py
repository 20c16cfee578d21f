"""Rerun every shipped scenario and compare its numbers with the outputs
shipped under plots/ (result.json of `hopdyn run`, basins.json and continuation.json of
`hopdyn basins`): statuses, checks, labels and counts exactly; floating-point numbers
to a relative tolerance (0 asks for bit-for-bit equality, which holds on the
machine that wrote them).  Wall-clock seconds and file lists are not compared.

    python scripts/check_shipped.py [--rtol 1e-4] [--only NAME,...] [--out DIR]

Exit 0 when everything matches; otherwise one line per difference, exit 1.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP = {"wall_seconds", "compile_seconds", "files", "solve_seconds", "compilation"}


def differences(a, b, rtol: float, path: str = "") -> list[str]:
    """Where two JSON values differ beyond ``rtol`` (numbers) or at all (the rest)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in SKIP:
                continue
            if k not in b:
                out.append(f"{path}.{k}: shipped, missing now")
            elif k not in a:
                continue  # a key added since: the format is extended, never broken
            else:
                out += differences(a[k], b[k], rtol, f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items shipped, {len(b)} now"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, rtol, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=rtol * 1e-3):
                return []
        return [f"{path}: shipped {a!r}, now {b!r}"]
    return [] if a == b else [f"{path}: shipped {a!r}, now {b!r}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rtol", type=float, default=0.0)
    p.add_argument("--only", help="comma-separated scenario names")
    p.add_argument("--out", help="where the new outputs go (default: a temporary folder)")
    p.add_argument(
        "--against-git",
        metavar="REV",
        help="rerun nothing: compare the outputs now under plots/ with those committed at REV",
    )
    args = p.parse_args(argv)
    if args.against_git:
        return against_git(args.against_git, args.rtol)
    import yaml

    from hopdyn.cli import main as hopdyn

    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="hopdyn-shipped-"))
    names = sorted(f.stem for f in (ROOT / "scenarios").glob("*.yaml"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    problems = []
    for name in names:
        data = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text())
        verbs = [("run", ["result.json"])] + (
            [("basins", ["basins.json", "continuation.json"])]
            if "basins" in data or "capacity" in data or "rules" in data
            else []
        )
        for verb, files in verbs:
            shipped = [ROOT / "plots" / name / f for f in files if (ROOT / "plots" / name / f).is_file()]
            if not shipped:
                continue
            extra = ["--no-plots"] if verb == "run" else []
            hopdyn([verb, name, "--out", str(out / name), "-q", *extra])
            diff = []
            for path in shipped:
                new = json.loads((out / name / path.name).read_text())
                diff += differences(json.loads(path.read_text()), new, args.rtol, f"{name}/{path.name}")
            problems += diff
            print(f"{name} {verb}: {'same' if not diff else f'{len(diff)} differences'}", flush=True)
    for d in problems:
        print(d)
    return 1 if problems else 0


def against_git(rev: str, rtol: float) -> int:
    """Compare plots/*/{result,basins}.json now with the versions committed at ``rev``."""
    import subprocess

    problems, n = [], 0
    for path in sorted((ROOT / "plots").glob("*/*.json")):
        if path.name not in ("result.json", "basins.json", "continuation.json"):
            continue
        rel = path.relative_to(ROOT).as_posix()
        old = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=ROOT, capture_output=True, text=True)
        if old.returncode != 0:
            continue
        n += 1
        problems += differences(json.loads(old.stdout), json.loads(path.read_text()), rtol, rel)
    for d in problems:
        print(d)
    print(f"{n} files compared with {rev}: {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
