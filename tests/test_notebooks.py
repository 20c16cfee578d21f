"""The worked examples (docs/notebooks) run: each is executed in a fresh
kernel, as a reader would run it, at the small sizes it ships with.  An
error in any cell fails the test (nbclient raises with the cell's traceback)."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


def test_there_are_four_worked_examples():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs(path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from run_notebooks import execute

    nb = execute(path, timeout=600)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
