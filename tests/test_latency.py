"""Compile latency: the persistent compilation cache and the stored programs
(keyed on structure, never reused for another), fewer programs per command,
verify reading the run it follows, progress on stderr, a light ``import hopdyn``.

Times are never asserted (shared, noisy machines); what is asserted is what
was compiled, read and reused, and that the answers stay right."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import hopdyn as hd
from hopdyn.cli import main

TESTS = Path(__file__).parent
SHIPPED = TESTS.parent / "scenarios"

SOLVE = """
import json, sys
sys.path.insert(0, {tests!r})
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import hopdyn as hd
from helpers import seed000
net, x0, Xi = seed000({kind!r})
with hd.CompileLog() as log:
    tr = hd.simulate(net, x0, t1=5.0, save=(0.0, 5.0), steady_state=False, rtol=1e-9, atol=1e-11, dtype="float64")
print(json.dumps({{"hits": log.cache_hits, "programs": log.programs, "solves": log.solves,
                  "v": np.asarray(tr.final_state["v"]).tolist(), "m": np.asarray(tr.final_state["m"]).tolist()}}))
"""


def _env(cache) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    env["HOPDYN_COMPILATION_CACHE"] = str(cache)
    return env


def _solve_in_new_process(kind: str, cache) -> dict:
    code = SOLVE.format(tests=str(TESTS), kind=kind)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(cache), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _solve_programs(log_solves) -> list[str]:
    """How each solve program (``simulate``'s, not the stiffness estimate's) was had."""
    return [s["program"] for s in log_solves if s["function"] == "hopdyn.solvers.simulate._run"]


def _programs(cache) -> set[str]:
    return {p.name for p in Path(cache).rglob("*.stablehlo")}


def _scipy_end(kind: str) -> np.ndarray:
    from helpers import seed000, seed000_field

    _, x0, Xi = seed000(kind)
    rhs = lambda t, y: np.concatenate(seed000_field(kind, Xi, y[:30], y[30:]))  # noqa: E731
    sol = solve_ivp(rhs, (0.0, 5.0), np.concatenate([x0["v"], x0["m"]]), method="Radau", rtol=1e-11, atol=1e-13)
    return sol.y[:, -1]


def test_a_new_process_reads_the_cache_and_a_new_structure_compiles_afresh(tmp_path):
    cache = tmp_path / "cache"
    first = _solve_in_new_process("dam", cache)
    stored = _programs(cache)
    assert _solve_programs(first["solves"]) == ["traced and stored"], first
    # the same structure in a new process: the program and its compiled form are read, not made
    again = _solve_in_new_process("dam", cache)
    assert {s["program"] for s in again["solves"]} == {"read"} and again["hits"] >= 1
    assert _programs(cache) == stored
    assert again["v"] == first["v"] and again["m"] == first["m"]  # bit for bit
    # another structure (an identity memory layer instead of a softmax): nothing reused, a new program
    other = _solve_in_new_process("chn", cache)
    assert _solve_programs(other["solves"]) == ["traced and stored"]
    assert len(_programs(cache) - stored) >= 1
    for kind, got in (("dam", again), ("chn", other)):
        want = _scipy_end(kind)
        end = np.concatenate([got["v"], got["m"]])
        np.testing.assert_allclose(end, want, rtol=1e-6, atol=1e-8)


def test_the_cache_can_be_turned_off_and_lives_where_documented(tmp_path, monkeypatch):
    from hopdyn.solvers import compile as C

    monkeypatch.setenv("HOPDYN_COMPILATION_CACHE", "off")
    assert C.default_cache_dir() is None
    monkeypatch.setenv("HOPDYN_COMPILATION_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert C.default_cache_dir() == os.path.join(str(tmp_path), "hopdyn", hd.__version__, "jax-sealed")
    monkeypatch.setenv("HOPDYN_COMPILATION_CACHE", str(tmp_path / "mine"))
    assert C.default_cache_dir() == str(tmp_path / "mine")
    cache = tmp_path / "c"
    r = subprocess.run(
        [sys.executable, "-m", "hopdyn.cli", "run", "two-neuron-phase", "--out", str(tmp_path / "o"), "-q",
         "--no-compilation-cache"],
        capture_output=True, text=True, env=_env(cache), timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert not _programs(cache)
    assert json.loads((tmp_path / "o" / "result.json").read_text())["compilation"]["persistent_cache"] is False


def test_user_defined_structures_are_traced_every_time_not_stored():
    """A Lagrangian class of the user's own may change under the same name: its
    programs are never kept on disk (the compiled-code cache still applies)."""
    from hopdyn.solvers import programs

    class MyTanh(hd.Tanh):
        pass

    net = hd.Network({"s": hd.Neuron(3, MyTanh(1.0))}, [hd.Dense(("s", "s"), np.eye(3))])
    import equinox as eqx
    import jax

    dyn, static = eqx.partition((net,), eqx.is_array)
    leaves, treedef = jax.tree.flatten(dyn)
    assert programs.key(lambda: None, treedef, static, leaves) is None
    mine = hd.Network({"s": hd.Neuron(3, hd.Tanh(1.0))}, [hd.Dense(("s", "s"), np.eye(3))])
    dyn, static = eqx.partition((mine,), eqx.is_array)
    leaves, treedef = jax.tree.flatten(dyn)
    from hopdyn.solvers.simulate import _run

    k1 = programs.key(_run, treedef, static, leaves)
    assert k1 is not None
    # shapes are in the key
    wider = hd.Network({"s": hd.Neuron(4, hd.Tanh(1.0))}, [hd.Dense(("s", "s"), np.eye(4))])
    dyn, static = eqx.partition((wider,), eqx.is_array)
    leaves2, treedef2 = jax.tree.flatten(dyn)
    assert programs.key(_run, treedef2, static, leaves2) not in (None, k1)


def test_basins_chunks_share_one_compiled_solve(tmp_path):
    """Six chunks of a basin study: the solve is compiled once (the last chunk
    is padded to the same batch)."""
    net = hd.Network({"s": hd.Neuron(2, hd.Tanh(2.0))}, [hd.Dense(("s", "s"), np.array([[0.0, 1.0], [1.0, 0.0]]))])
    starts = {"s": np.random.default_rng(1).normal(size=(50, 2))}
    from hopdyn.solvers import compile as C

    C._COMPILED.clear()
    with hd.CompileLog() as log:
        b = hd.basins(
            net, starts, layer="s", chunking=hd.Chunking(9), settings=hd.SolveSettings(t1=50.0, dtype="float64")
        )
    assert sum(b.report["fractions"].values()) == pytest.approx(1.0)
    assert len(_solve_programs(log.solves)) == 1, log.solves


def test_capacity_loads_share_one_compiled_solve():
    """Five loads of a Hebbian capacity curve: one compiled solve (zero patterns
    and repeated starts pad the shapes), and the numbers of a load do not
    depend on the padding (the same load alone gives the same answer)."""
    from hopdyn.solvers import compile as C

    settings = hd.SolveSettings(method="tsit5", t1=30.0, rtol=1e-5, atol=1e-7, dtype="float64")
    C._COMPILED.clear()
    with hd.CompileLog() as log:
        curve = hd.capacity("hebbian", 60, [0.05, 0.1, 0.15, 0.2, 0.3], trials=8, settings=settings, seed=2)
    assert len(_solve_programs(log.solves)) == 1, log.solves
    alone = hd.capacity("hebbian", 60, [0.1], trials=8, settings=settings, seed=2)
    assert alone["retrieved"][0] == curve["retrieved"][1]
    assert alone["bit_error"][0] == pytest.approx(curve["bit_error"][1], abs=1e-12)


def test_verify_after_run_reads_the_trajectory_and_gives_the_same_report(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "dam-tutorial", "--out", str(out), "-q", "--no-plots"]) == 0
    assert main(["verify", "dam-tutorial", "--out", str(out), "-q"]) == 0
    reused = json.loads((out / "verify.json").read_text())
    assert reused["trajectory"] == "trajectory.npz of the earlier run"
    fresh_out = tmp_path / "fresh"
    assert main(["verify", "dam-tutorial", "--out", str(fresh_out), "-q"]) == 0
    fresh = json.loads((fresh_out / "verify.json").read_text())
    assert fresh["trajectory"] == "solved"
    strip = lambda r: {k: v for k, v in r.items() if k != "trajectory"}  # noqa: E731
    assert strip(reused) == strip(fresh)
    # run --verify: both in one go, the same report
    both = tmp_path / "both"
    assert main(["run", "dam-tutorial", "--out", str(both), "-q", "--no-plots", "--verify"]) == 0
    assert strip(json.loads((both / "verify.json").read_text())) == strip(fresh)
    assert "verify.json" in json.loads((both / "result.json").read_text())["files"]


def test_verify_solves_again_when_the_run_was_of_another_scenario(tmp_path):
    out = tmp_path / "o"
    assert main(["run", "dam-tutorial", "--out", str(out), "-q", "--no-plots"]) == 0
    # other overrides: another question, so the trajectory is not reused
    assert main(["verify", "dam-tutorial", "--out", str(out), "-q", "--set", "solver.rtol=1e-7"]) == 0
    assert json.loads((out / "verify.json").read_text())["trajectory"] == "solved"
    # a trajectory edited after the run is not reused either
    assert main(["run", "dam-tutorial", "--out", str(out), "-q", "--no-plots"]) == 0
    with np.load(out / "trajectory.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["energy"] = arrays["energy"] - 1.0
    np.savez_compressed(out / "trajectory.npz", **arrays)
    assert main(["verify", "dam-tutorial", "--out", str(out), "-q"]) == 0
    assert json.loads((out / "verify.json").read_text())["trajectory"] == "solved"


def test_trajectory_round_trips_through_npz(tmp_path):
    from helpers import seed000
    from hopdyn.core.io import write_npz
    from hopdyn.solvers.trajectory import to_arrays

    net, x0, _ = seed000("dam")
    batch = {k: np.stack([v, 0.5 * v]) for k, v in x0.items()}
    for start in (x0, batch):
        tr = hd.simulate(net, start, t1=10.0, dtype="float64")
        write_npz(str(tmp_path / "t.npz"), to_arrays(tr))
        back = hd.load_trajectory(str(tmp_path / "t.npz"))
        want = tr if tr.batch_size is not None else tr.truncated()
        for name in ("ts", "energy", "dEdt", "dEdt_scale", "valid", "status", "t_final", "n_accepted"):
            np.testing.assert_array_equal(np.asarray(getattr(back, name)), np.asarray(getattr(want, name)))
        np.testing.assert_array_equal(np.asarray(back.x["v"]), np.asarray(want.x["v"]))
        assert back.method == tr.method


def test_progress_is_one_plain_line_per_phase_off_a_terminal(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "hopdyn.cli", "run", "two-neuron-phase", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=_env(tmp_path / "cache"), timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert all(line.startswith("hopdyn: [") and " s] " in line for line in lines), lines
    said = " | ".join(lines)
    for phase in ("loaded", "compiling", "solving", "solved: steady_state", "plotting phase.png"):
        assert phase in said, said
    quiet = subprocess.run(
        [sys.executable, "-m", "hopdyn.cli", "run", "two-neuron-phase", "--out", str(tmp_path / "o"), "-q"],
        capture_output=True, text=True, env=_env(tmp_path / "cache"), timeout=600,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_progress_bar_counts_and_plain_lines_name_the_count():
    import io

    from hopdyn.core import progress

    buf = io.StringIO()
    with progress.Reporter(stream=buf, live=False):
        with progress.phase("compiling"):
            pass
        with progress.bar("chunks", 4) as b:
            for _ in range(4):
                b.advance()
        progress.note("done")
    lines = [line.split("] ", 1)[1] for line in buf.getvalue().splitlines()]
    # the rate behind the ETA is measured from the first report (set-up before it is not work)
    assert lines == ["compiling", "chunks: 0/4", "chunks: 1/4", "chunks: 2/4, ETA 0 s",
                     "chunks: 3/4, ETA 0 s", "chunks: 4/4", "done"]  # fmt: skip
    # nothing without a reporter
    with progress.phase("x"), progress.bar("y", 3) as b:
        b.advance()
    progress.note("z")


def test_progress_draws_with_rich_on_a_terminal():
    import io

    from hopdyn.core import progress

    buf = io.StringIO()
    with progress.Reporter(stream=buf, live=True):
        with progress.phase("compiling the solve"):
            pass
        with progress.bar("chunks", 2) as b:
            b.advance()
            b.advance()
    text = buf.getvalue()
    assert "compiling the solve" in text and "chunks" in text and "2/2" in text


def test_import_hopdyn_and_help_load_neither_jax_nor_matplotlib_nor_the_schema():
    code = (
        "import sys, hopdyn; from hopdyn.cli import parser; parser().format_help();"
        "print(sorted(m for m in ('jax', 'matplotlib', 'pydantic', 'diffrax', 'hopdyn.scenario.schema') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    # every public name still resolves, lazily
    for name in hd.__all__:
        assert getattr(hd, name) is not None
    assert set(hd.__all__) <= set(dir(hd))


def test_the_lazy_names_are_the_static_imports():
    """``hopdyn/__init__`` names every public object twice: lazily for speed,
    statically under TYPE_CHECKING for type checkers and the API docs."""
    import ast

    tree = ast.parse(Path(hd.__file__).read_text())
    static = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                for a in imp.names:
                    static[a.asname or a.name] = ("." * imp.level + imp.module, a.name)
    assert static == hd._LAZY
    assert sorted(hd.__all__) == sorted(hd._LAZY)


def test_bench_latency_measures_cold_warm_and_verify_against_the_bare_start_up(tmp_path):
    from hopdyn.bench.latency import latency, latency_table

    r = latency(["two-neuron-phase"], log=lambda *a: None)
    (row,) = r["scenarios"]
    assert row["exit"] == [0, 0, 0]
    assert row["verify_reused_run"] is True
    for k in ("cold", "warm", "verify_after_run"):
        assert row[k] > 0 and row["ratios"][k] == pytest.approx(row[k] / row["bare"])
    # the warm run read its programs (stiffness estimate, solve...) instead of tracing them
    assert {s["program"] for s in row["warm_compilation"]["solves"]} == {"read"}
    assert r["help"]["ratio"] == pytest.approx(r["help"]["seconds"] / r["help"]["bare"])
    assert set(r["met"]) == {"help", "cold", "warm", "verify_after_run"}
    table = latency_table(r)
    assert "two-neuron-phase" in table and "hopdyn --help" in table


def test_static_arrays_are_keyed_by_their_bytes_not_their_repr():
    """numpy truncates the repr of large arrays: two arrays that print alike
    must still give different keys."""
    from hopdyn.solvers.programs import _value

    a = np.zeros(5000)
    b = a.copy()
    b[2500] = 1.0
    assert repr(a) == repr(b)
    assert _value(a) != _value(b) and _value(a) == _value(a.copy())


def test_continuation_bench_quick_mode_reports_time_and_memory():
    from hopdyn.bench.continuation import continuation_bench, continuation_table

    r = continuation_bench(quick=True, log=lambda *a: None)
    for key, starts in (("full", 400), ("quarter", 100)):
        c = r[key]
        assert "error" not in c, c
        assert c["starts"] == starts and c["values"] == 3 and c["programs"] == 1 and c["peak_rss_mb"] > 0
    assert r["met"] is False  # quick mode never claims the target
    assert r["memory_ratio"] > 0 and "| full | 200 |" in continuation_table(r)
    b = r["bound"]  # what the machine allows: steps of one chunk at each value, XLA's cost of one step
    assert len(b["steps_per_chunk"]) == 3 and min(b["steps_per_chunk"]) > 0 and b["chunks_per_value"] == 4
    assert b["flops_per_step"] > 0 and b["bytes_per_step"] > 200 * 128 * 4  # at least the state, read once
    step = max(b["flops_per_step"] / (b["matmul_gflops"] * 1e9), b["bytes_per_step"] / (b["bandwidth_gb_per_s"] * 1e9))
    assert b["bound_seconds"] == pytest.approx(step * 4 * sum(b["steps_per_chunk"]), rel=0.01, abs=0.1)
    assert r["times_bound"] > 1 and r["met_bound"] is False  # quick mode never claims the target
    assert "Bound on this machine" in continuation_table(r)


def test_the_continuation_paragraph_states_the_bench_numbers():
    """docs/performance.md's continuation target: each number from bench.json."""
    import json
    from pathlib import Path

    from hopdyn.bench.continuation import MEMORY_FACTOR

    root = Path(__file__).resolve().parents[1]
    b = json.loads((root / "plots" / "bench" / "bench.json").read_text())["continuation"]
    page = " ".join((root / "docs" / "performance.md").read_text().split())
    full, quarter, bound = b["full"], b["quarter"], b["bound"]
    said = lambda met: "**met**" if met else "**not met**"  # noqa: E731
    chunk_steps = sum(bound["steps_per_chunk"]) * bound["chunks_per_value"]
    for text in (
        f"**{full['wall_seconds']:.0f} s** (target {b['target_seconds']:.0f} s: {said(b['met'])}",
        f"peak memory {full['peak_rss_mb']:,.0f} MB, against {quarter['wall_seconds']:.0f} s and "
        f"{quarter['peak_rss_mb']:,.0f} MB for 2,500 starts",
        f"(ratio {b['memory_ratio']:.2f} for 4x the starts; target {MEMORY_FACTOR:.2f}: {said(b['met_memory'])}",
        f"needs {bound['flops_per_step'] / 1e9:.3f} GFLOP and {bound['bytes_per_step'] / 1e6:.0f} MB",
        f"against {bound['matmul_gflops']:.1f} GFLOP/s",
        f"and {bound['bandwidth_gb_per_s']:.1f} GB/s",
        f"{bound['step_bound_ms']:.2f} ms, {bound['limited_by']}-bound",
        f"take {sum(bound['steps_per_chunk']):,} steps over the 20 values "
        f"({min(bound['steps_per_chunk'])} to {max(bound['steps_per_chunk'])} per chunk",
        f"× {bound['chunks_per_value']} chunks: **{bound['bound_seconds']:.0f} s**",
        f"The run takes **{b['times_bound']:.1f}x** that (target 3x: {said(b['met_bound'])})",
        f"hopdyn's solve takes {bound['hopdyn_ms_per_step']:.1f} ms per step, and "
        f"{bound['hopdyn_diffrax_step_ms_per_step']:.1f} ms with Diffrax's Tsit5 step in its place",
        f"in its place (`method: tsit5-diffrax`), "
        f"{bound['hopdyn_diffrax_step_ms_per_step'] / bound['hopdyn_ms_per_step']:.1f}x;",
        f"`SaveAt(t1=True)`) takes {bound['by_hand_ms_per_step']:.1f} ms",
        f"the compiled step alone takes {bound['diffrax_step_ms']:.1f} ms with Diffrax's step and "
        f"{bound['step_measured_ms']:.1f} ms with hopdyn's",
        f"hopdyn's whole lumped solve {bound['lumped_ms_per_step']:.1f} ms per step",
        f"spends {1e3 * full['wall_seconds'] / chunk_steps:.0f} ms per chunk step "
        f"({full['wall_seconds']:.0f} s over {chunk_steps:,} chunk steps)",
    ):
        assert text in page, text


def test_the_million_start_paragraph_states_the_bench_numbers():
    """docs/performance.md's 10^6-start measurement: its table and numbers from bench.json."""
    import json
    from pathlib import Path

    from hopdyn.bench.continuation import million_table

    root = Path(__file__).resolve().parents[1]
    m = json.loads((root / "plots" / "bench" / "bench.json").read_text())["ensemble-memory"]
    page = (root / "docs" / "performance.md").read_text()
    assert million_table(m) in page
    assert m["mode"] == "full" and m["fits_budget"] and m["rows"][-1]["samples"] == [1_000_000] * 2
    few, many = m["rows"]
    per_start = (many["peak_rss_mb"] - few["peak_rss_mb"]) * 2**20 / (many["starts"] - few["starts"]) / 1e3
    assert f"about {per_start:.1f} kB per start" in " ".join(page.split())
