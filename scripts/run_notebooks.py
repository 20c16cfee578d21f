"""Execute the worked examples (docs/notebooks/*.ipynb) in place, so the docs
site shows their current outputs; the test suite executes them again without
saving (tests/test_notebooks.py).

    python scripts/run_notebooks.py            # every notebook
    python scripts/run_notebooks.py 02         # the ones whose name contains 02
"""

from __future__ import annotations

import os
import pathlib
import sys

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDER = ROOT / "docs" / "notebooks"


def execute(path: pathlib.Path, timeout: int = 600) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed in a fresh kernel (CPU, Agg backend)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return nb


def main(argv: list[str]) -> int:
    for path in sorted(FOLDER.glob("*.ipynb")):
        if argv and not any(a in path.name for a in argv):
            continue
        print(f"executing {path.relative_to(ROOT)}")
        nbformat.write(execute(path), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
