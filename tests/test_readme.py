"""Every Python code block of the README and the docs pages runs (each page
in order, in one namespace, as a reader pasting them would) and says what
the page says it does; every number the README or the docs state about a
shipped output is that output's."""

import contextlib
import io
import pathlib
import re
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


def docs_text() -> str:
    """The README and every docs page, one after the other: a sentence a test
    checks may live in any of them (the README is the front door, the pages
    hold the details)."""
    return "\n\n".join((ROOT / page).read_text() for page in PAGES)


def python_blocks(page: str = "README.md") -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


def shown_outputs(page: str = "README.md") -> dict[str, str]:
    """Python blocks that a page follows with the output they print."""
    pairs = re.findall(r"```python\n(.*?)```\n\n```\n(.*?)```", (ROOT / page).read_text(), flags=re.S)
    return dict(pairs)


NUMBER = re.compile(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?")


def same_output(printed: str, shown: str, rtol: float = 1e-2) -> bool:
    """The same lines and words, numbers within ``rtol`` (the last digits of a
    float32 solve differ between CPUs)."""
    a, b = printed.strip().splitlines(), shown.strip().splitlines()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if NUMBER.sub("#", x).split() != NUMBER.sub("#", y).split():
            return False
        for u, v in zip(NUMBER.findall(x), NUMBER.findall(y)):
            if abs(float(u) - float(v)) > rtol * max(abs(float(v)), 1e-6):
                return False
    return True


def test_the_docs_have_the_library_examples():
    text = "".join(python_blocks("docs/python.md"))
    for call in ("hd.simulate(", "hd.verify(", "hd.basins(", "hd.capacity(", "hd.load_scenario("):
        assert call in text, call


RUNNER = """
import contextlib, io, json, sys
blocks = json.loads(sys.stdin.read())
ns, outs = {}, []
for block in blocks:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), ns)
    outs.append(out.getvalue())
facts = {}
if "report" in ns:  # docs/python.md's library examples
    facts = {
        "verify_ok": bool(ns["report"]["ok"] and ns["report"]["checks"]["lyapunov"]),
        "kinds": sorted({a["kind"] for a in ns["res"].attractors}),
        "fractions_sum": sum(ns["res"].fractions.values()),
        "retrieved_at_10pct": ns["res"].retrieval(ns["source"], ns["level"])["accuracy"][0],
        "capacity_first": ns["cap"]["retrieved"][0],
        "scenario_status": ns["run"].status_name,
    }
print(json.dumps({"outputs": outs, "facts": facts}))
"""


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)])
def test_every_python_block_runs(page, tmp_path):
    """In a fresh interpreter (JAX's defaults, as a reader has them), in order,
    in one namespace per page; shown outputs must match what the blocks print."""
    import json
    import os
    import subprocess
    import sys

    blocks, shown = python_blocks(page), shown_outputs(page)
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    env.pop("JAX_ENABLE_X64", None)
    run = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    for block, printed in zip(blocks, got["outputs"]):
        if block in shown:
            assert same_output(printed, shown[block]), (printed, shown[block])
    if page == "README.md":
        assert shown, "the README shows the output of its quickstart"
        assert "steady_state at t =" in "".join(got["outputs"])
    if page == "docs/python.md":
        f = got["facts"]
        # the verify example: a correct network passes; the basins example names the stored patterns
        assert f["verify_ok"] and "pattern" in f["kinds"] and abs(f["fractions_sum"] - 1) < 1e-12
        assert f["retrieved_at_10pct"] == 1.0  # 10% flips: all retrieved
        assert f["capacity_first"] == 1.0 and f["scenario_status"] == "steady_state"


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_examples_run(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(ROOT / "examples" / example), run_name="__main__")
    assert out.getvalue().strip(), f"{example} printed nothing"


def test_the_output_comparison_can_fail():
    assert same_output("t = 15.64 E = -1260.27\n", "t = 15.6 E = -1260.2708")
    assert not same_output("t = 14.10 E = -1260.27\n", "t = 15.6 E = -1260.2708")  # the drift the README had
    assert not same_output("horizon at t = 15.6\n", "steady_state at t = 15.6")
    assert not same_output("a\nb\n", "a")


def test_readme_numbers_of_the_dam_tutorial_are_the_shipped_ones():
    import json

    text = docs_text()
    m = re.search(r"DAM: t ≈ (\d+), E −([\d.]+) → −([\d.]+)", text)
    r = json.loads((ROOT / "plots" / "dam-tutorial" / "result.json").read_text())
    assert m and round(r["t_final"]) == int(m.group(1))
    assert (
        abs(r["energy"]["initial"] + float(m.group(2))) < 0.01 and abs(r["energy"]["final"] + float(m.group(3))) < 0.01
    )
    assert r["lyapunov"]["max_dEdt"] < 0  # "dE/dt negative at every saved time"


def test_readme_numbers_of_the_ramsauer_continuation_are_the_shipped_ones():
    import json

    import numpy as np

    text = docs_text()
    m = re.search(
        r"average of all\npatterns up to `beta` = ([\d.]+); from ([\d.]+) to ([\d.]+) at the average of its\n"
        r"cluster \(three metastable states\); from ([\d.]+) on at single patterns",
        text,
    )
    assert m, "the docs'  sentence on the ramsauer-regimes transitions moved"
    r = json.loads((ROOT / "plots" / "ramsauer-regimes" / "continuation.json").read_text())
    (a, b), (c, d) = r["events"][0]["between"], r["events"][1]["between"]
    assert [float(x) for x in m.groups()] == [round(a, 3), round(b, 3), round(c, 2), round(d, 2)]
    lin = re.search(r"covariance \(([\d.]+)\) and of each cluster's \(([\d.]+)–([\d.]+)\)", text)
    from hopdyn.scenario.build import load_and_build

    X = np.asarray(load_and_build(str(ROOT / "scenarios" / "ramsauer-regimes.yaml")).patterns["X"], np.float64)

    def critical(P):
        k = len(P)
        return 1 / np.linalg.eigvalsh(P.T @ (np.eye(k) / k - np.ones((k, k)) / k**2) @ P).max()

    b2 = [critical(X[4 * i : 4 * i + 4]) for i in range(3)]
    assert lin and [float(x) for x in lin.groups()] == [round(critical(X), 3), round(min(b2), 2), round(max(b2), 2)]
    assert a < critical(X) < b and c < min(b2) and max(b2) < d


def test_readme_numbers_of_the_census_are_the_shipped_ones():
    import json

    text = docs_text()
    m = re.search(
        r"at K = 2 every start reaches a pattern\nor its ghost \(([\d.]+)% / ([\d.]+)%\); three-pattern mixtures take ([\d.]+)% "
        r"at K = 4 and\nare gone by K = (\d+); other spurious states grow from ([\d.]+)% at K = 4 to ([\d.]+)% at\n"
        r"K = (\d+) and take every start from K = (\d+)",
        text,
    )
    assert m, "the docs'  census sentence moved"
    r = json.loads((ROOT / "plots" / "classical-census" / "continuation.json").read_text())
    census = dict(zip(r["values"], r["census"]))
    g = m.groups()
    pct = lambda x: round(100 * x, 1)  # noqa: E731
    assert [float(g[0]), float(g[1])] == [pct(census[2]["pattern"]), pct(census[2]["negated"])]
    assert float(g[2]) == pct(census[4]["mixture"]) and census[int(g[3])]["mixture"] == 0
    assert float(g[4]) == pct(census[4]["other"]) and float(g[5]) == pct(census[int(g[6])]["other"])
    assert min(k for k in census if census[k]["other"] == 1.0) == int(g[7]) and r["recompiles"] is True


def test_readme_capacity_table_is_the_shipped_one():
    import json

    text = docs_text()
    head = re.search(r"\| K/N \|([^\n]+)\|\n\| ---[^\n]+\n\| retrieved \(classical\) \|([^\n]+)\|", text)
    assert head, "the docs'  capacity table moved"
    loads = [float(x) for x in head.group(1).split("|")]
    shown = [float(x) for x in head.group(2).split("|")]
    r = json.loads((ROOT / "plots" / "capacity-classical" / "basins.json").read_text())["capacity"]
    got = dict(zip([round(x, 3) for x in r["loads"]], r["retrieved"]))
    assert shown == [round(got[round(lo, 3)], 2) for lo in loads]
    assert set(r["starts"]) == {100}  # "100 starts per load"


def test_readme_classical_collapse_is_the_shipped_one():
    import json

    text = docs_text()
    m = re.search(r"retrieved \(overlap ≥ 0\.9\): ([^|]+?) \(ODE: ([^)]+)\)", text)
    assert m, "the docs'  item-3 row moved"
    pairs = [p.split(" at ") for p in m.group(1).split(", ")]
    r = json.loads((ROOT / "plots" / "capacity-classical-async" / "basins.json").read_text())["capacity"]
    by_load = dict(zip([round(x, 2) for x in r["loads"]], r["retrieved"]))
    ode = dict(zip([round(x, 2) for x in r["compare"]["loads"]], r["compare"]["retrieved"]))
    assert [float(v) for v, _ in pairs] == [round(by_load[float(lo)], 2) for _, lo in pairs]
    assert [float(v) for v in m.group(2).split(", ")] == [round(ode[float(lo)], 2) for _, lo in pairs]


def test_readme_items_4_and_6_are_the_shipped_ones():
    import json

    text = docs_text()
    m = re.search(r"K at 1% bit errors: (\d+), (\d+), (\d+) — slope \*\*([\d.]+)\*\*", text)
    r = json.loads((ROOT / "plots" / "dense-capacity-scaling" / "basins.json").read_text())["capacity"]
    assert m and [int(x) for x in m.groups()[:3]] == [round(k) for k in r["critical_K"]]
    assert float(m.group(4)) == round(r["scaling_exponent"], 2)
    m = re.search(
        r"every tested pattern a fixed point up to K = (\d+) \((\d+) starts, from (\d+) pattern sets there\); (\d+)% at K = (\d+)",
        text,
    )
    r = json.loads((ROOT / "plots" / "mceliece-capacity" / "basins.json").read_text())["capacity"]
    exact = dict(zip(r["K"], r["exact"]))
    k, starts, sets, pct, k2 = (int(x) for x in m.groups())
    assert max(K for K in r["K"] if all(exact[j] == 1.0 for j in r["K"] if j <= K)) == k
    assert r["starts"][r["K"].index(k)] == starts and r["realisations"][r["K"].index(k)] == sets
    assert round(100 * exact[k2]) == pct


def test_readme_one_step_error_is_the_shipped_one():
    import json

    text = docs_text()
    m = re.search(r"bit-error rate ([\d. /]+) at K/N = ([\d. /]+) \| `Phi\(-sqrt\(N/K\)\)` = ([\d. /]+) \|", text)
    assert m, "the docs'  item-2 row moved"
    got, loads, theory = ([float(x) for x in g.split(" / ")] for g in m.groups())
    r = json.loads((ROOT / "plots" / "one-step-error" / "basins.json").read_text())["capacity"]
    at = {round(lo, 3): i for i, lo in enumerate(r["loads"])}
    assert got == [round(r["bit_error"][at[lo]], 4) for lo in loads]
    assert theory == [round(r["one_step_theory"][at[lo]], 4) for lo in loads]
    m = re.search(
        r"0\.138 is (\d+)% below `Phi\(-sqrt\(N/K\)\)` at N = 1000 \(([\d.]+), 95% interval\n  ([\d.]+)–([\d.]+)", text
    )
    i = at[0.138]
    assert m and int(m.group(1)) == round(100 * (1 - r["bit_error"][i] / r["one_step_theory"][i]))
    assert [float(x) for x in m.groups()[1:]] == [round(r["bit_error"][i], 4)] + [
        round(x, 4) for x in r["bit_error_interval"][i]
    ]


def test_readme_finite_size_estimate_is_the_shipped_one_and_meets_the_target():
    import json

    text = docs_text()
    m = re.search(
        r"crossing of N = (\d+) and (\d+) at\n\*\*([\d.]+)\*\* \(95% interval ([\d.]+)–([\d.]+)\).*?The smaller pairs cross at ([\d.]+) and ([\d.]+)",
        text,
        flags=re.S,
    )
    assert m, "the docs'  finite-size sentence moved"
    fs = json.loads((ROOT / "plots" / "capacity-finite-size" / "basins.json").read_text())["capacity"]["finite_size"]
    assert [int(m.group(1)), int(m.group(2))] == fs["N"][-2:]
    assert [float(x) for x in m.groups()[2:5]] == [round(fs["estimate"], 3)] + [round(x, 3) for x in fs["interval"]]
    assert [float(x) for x in m.groups()[5:]] == [round(c["load"], 3) for c in fs["crossings"][:2]]
    assert abs(fs["estimate"] - 0.138) <= 0.01  # the target


def test_the_live_page_numbers_are_the_bench_ones():
    """docs/live.md's table is bench.json's (regenerated by `hopdyn bench --cases live`)."""
    import json

    from hopdyn.bench.live import live_table

    bench = json.loads((ROOT / "plots" / "bench" / "bench.json").read_text())
    assert live_table(bench["live"]) in (ROOT / "docs" / "live.md").read_text()
    assert all(bench["live"]["met"].values())
    c, u = bench["live"]["capped"], bench["live"]["uncapped"]
    readme = (ROOT / "README.md").read_text()
    said = (
        f"streams {c['fps']:.1f} frames a second (the\ndefault cap; {u['fps']:.1f} uncapped), "
        f"the first {c['first_frame_s']:.3f} s after the page opens, {c['frame_bytes_mean'] / 1024:.1f} KB\neach"
    )
    assert said in readme


def test_readme_learning_numbers_are_the_shipped_ones():
    """The gradient and training tables are bench.json's, the digits numbers
    plots/digits-train's (regenerated by `hopdyn bench --cases gradient,training`
    and `hopdyn train digits-train`)."""
    import json

    from hopdyn.bench.gradient import gradient_table
    from hopdyn.bench.training import training_table

    text = docs_text()
    bench = json.loads((ROOT / "plots" / "bench" / "bench.json").read_text())
    assert gradient_table(bench["gradient"]) in text
    assert training_table(bench["training"]) in text
    tr = json.loads((ROOT / "plots" / "digits-train" / "training.json").read_text())
    assert f"Held-out accuracy **{tr['test_accuracy']:.2%}**" in text
    assert f"**{tr['knn_test_accuracy']['accuracy']:.2%}** for 3-nearest neighbours" in text
    assert bench["training"]["rows"][0]["test_accuracy"] == tr["test_accuracy"]  # the same deterministic training


def test_readme_diffrax_by_hand_table_is_the_shipped_one():
    import json

    from hopdyn.bench.suite import table as bench_table

    text = docs_text()
    b = json.loads((ROOT / "plots" / "bench-batch64" / "bench.json").read_text())
    assert bench_table(b) in text
    d = {c["name"]: c["baselines"]["diffrax"] for c in b["cases"]}
    assert f"**{d['dense-stiff']['ratio']:.0f}x** faster on the stiff memory" in text
    assert f"**{d['dense']['ratio']:.1f}x** on the soft memory" in text
    assert all(x["same_end_states"] == 1.0 for x in d.values())


def test_readme_transforms_table_is_the_shipped_one():
    import json

    from hopdyn.bench.transforms import transforms_table

    text = docs_text()
    r = json.loads((ROOT / "plots" / "bench" / "bench.json").read_text())["transforms"]
    assert transforms_table(r) in text
    assert r["max_abs_difference"] <= 1e-5  # the same end states
