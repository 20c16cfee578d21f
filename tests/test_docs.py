"""The documentation ships with the project and cannot drift: the scenario
reference is generated from the schema (and checked), every schema field is
described, the contract's examples load, the site builds in strict mode, the
README's fresh-clone walkthrough runs, and `hopdyn init`/`list` work."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from hopdyn.cli import main, templates
from hopdyn.scenario.build import load_and_build
from hopdyn.scenario.loader import validate
from hopdyn.scenario.schema import scenario_model

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_scenario_reference_is_generated_from_the_schema():
    rc = subprocess.call([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"])
    assert rc == 0, "docs/scenario-reference.md is stale: python scripts/gen_docs.py"


def test_every_schema_field_has_a_description():
    schema = scenario_model().model_json_schema()
    missing = [
        f"{name}.{key}"
        for name, d in [("Scenario", schema), *schema["$defs"].items()]
        for key, spec in d.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert not missing, missing


def test_the_contracts_examples_are_accepted():
    """Every YAML example in the contract is a valid scenario (extend, never break)."""
    text = (ROOT / "docs" / "scenario-format.md").read_text()
    examples = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if re.search(r"^name:", b, re.M)]
    assert examples
    for block in examples:
        validate(yaml.safe_load(block), "scenario-format.md")


def test_the_docs_name_what_the_readme_links():
    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link
    for name in ("SCENARIO_FORMAT.md", "VALIDATION.md"):
        assert name not in readme  # the contract and the results are in docs/, which ships


def test_the_readme_is_the_front_door():
    """Under 15 KB; the details live in docs pages, every one of which the
    site's navigation lists and whose relative links all resolve."""
    assert len((ROOT / "README.md").read_bytes()) < 15_000
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert f" {page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / link).exists(), f"{page.name}: {link}"


def test_the_site_builds_in_strict_mode(tmp_path):
    mkdocs = shutil.which("mkdocs") or os.path.join(os.path.dirname(sys.executable), "mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run(
        [mkdocs, "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "hopdyn.simulate" in api and "Integrate" in api  # docstrings rendered


def test_the_fresh_clone_walkthrough_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n# walkthrough.*?\n(.*?)```", readme, flags=re.S).group(1)
    assert block in (ROOT / "docs" / "getting-started.md").read_text()  # the docs show the same steps
    lines = [ln for ln in block.splitlines() if ln.strip() and "pip install" not in ln]
    assert [ln.split()[0] for ln in lines] == ["hopdyn", "sed", "hopdyn", "hopdyn", "hopdyn", "hopdyn"]
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        MPLBACKEND="Agg",
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    for line in lines:
        run = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, (line, run.stderr[-2000:])
    assert "beta: 6.0" in (tmp_path / "my-net.yaml").read_text()
    for f in ("result.json", "verify.json", "basins.json", "manifest.json"):
        assert (tmp_path / "plots" / "my-net" / f).is_file(), f


@pytest.mark.parametrize("template", templates())
def test_every_template_is_a_valid_commented_scenario(template, tmp_path, capsys):
    target = tmp_path / f"mine-{template}.yaml"
    assert main(["init", str(target), "--template", template, "-q"]) == 0
    text = target.read_text()
    assert text.startswith("#") and f"name: mine-{template}" in text
    built = load_and_build(str(target))
    assert built.network.names
    assert main(["init", str(target), "--template", template]) == 2  # no silent overwrite
    assert "exists" in capsys.readouterr().err


def test_list_names_the_verbs_and_keeps_whole_descriptions(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("basins-classical "))
    assert "run, verify, basins" in row
    assert "..." not in out
    data = yaml.safe_load((ROOT / "scenarios" / "basins-classical.yaml").read_text())
    last_word = " ".join(str(data["description"]).split()).split()[-1]
    assert last_word in out  # the description is not cut
