"""Every Python code block of the README runs, in order, in one namespace (as
a reader pasting them would), and says what the README says it does."""

import contextlib
import io
import pathlib
import re
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_has_the_library_examples():
    text = "".join(python_blocks())
    for call in ("hd.simulate(", "hd.verify(", "hd.basins(", "hd.capacity(", "hd.load_scenario("):
        assert call in text, call


def test_every_readme_python_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in python_blocks():
            exec(compile(block, "README.md", "exec"), ns)  # noqa: S102
    printed = out.getvalue()
    assert "steady_state at t =" in printed
    # the verify example: a correct network passes, the basins example names the stored patterns
    assert ns["report"]["ok"] and ns["report"]["checks"]["lyapunov"]
    kinds = {a["kind"] for a in ns["res"].attractors}
    assert "pattern" in kinds and abs(sum(ns["res"].fractions.values()) - 1) < 1e-12
    assert ns["res"].retrieval(ns["source"], ns["level"])["accuracy"][0] == 1.0  # 10% flips: all retrieved
    assert ns["cap"]["retrieved"][0] == 1.0 and ns["run"].status_name == "steady_state"


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_examples_run(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(ROOT / "examples" / example), run_name="__main__")
    assert out.getvalue().strip(), f"{example} printed nothing"
