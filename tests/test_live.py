"""The live page's engine without a browser (issue 31): the roles read from a
scenario, frames against plain solves, controls checked with the schema's
constraints, no recompiling per control, and export-html's checks.

References are independent of the session: a single ``hd.simulate`` over the
same model time (the frames chunk it), the stored glyphs of the scenario, and
the schema's own bounds."""

import json
import os
import re

import numpy as np
import pytest

import hopdyn as hd
from hopdyn.cli import main
from hopdyn.live.session import ControlError, Controls, LiveSession
from hopdyn.live.spec import load_spec


class Clock:
    """A wall clock the test moves by hand (the label's six seconds)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def generate():
    return load_spec("image-label-generate")


def corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_the_seed_network_has_its_roles(generate):
    s = generate
    assert (s.visible, s.label, s.memory) == ("x", "y", "z")
    assert s.modes == ("generate", "classify") and s.first_mode == "generate"
    assert s.names == tuple("ABCDEFGHIJ") and s.label_scale == 10.0
    kinds = {v.name: (v.kind, v.shape) for v in s.views}
    assert kinds == {"x": ("image", (16, 16)), "y": ("bars", (1, 10)), "z": ("bars", (1, 10))}
    # the landmarks are the stored glyphs projected on their own two leading principal axes
    X = s.images - s.images.mean(axis=0)
    _, sv, _ = np.linalg.svd(X, full_matrices=False)
    placed = np.array(s.projection.landmarks)
    np.testing.assert_allclose(np.sum(placed**2), np.sum(sv[:2] ** 2), rtol=1e-4)
    c = load_spec("image-label-classify")  # no image_shape in its outputs: the glyphs say 16 x 16
    assert (c.visible, c.label, c.first_mode) == ("x", "y", "classify") and c.views[0].kind == "image"


def test_a_network_without_labels_runs_free(tmp_path):
    s = load_spec("two-neuron-phase")
    assert s.modes == ("free",) and s.label is None
    session = LiveSession(s)
    frames = [session.step() for _ in range(5)]
    assert all(f["label"] is None for f in frames)
    with pytest.raises(ControlError, match="label"):
        session.apply({"label": 0})


def test_frames_follow_one_continuous_solve_and_the_energy_falls(generate):
    """Frames of speed dt chain solves of length dt: after n frames the state
    is a single solve of length n dt from the same start (to the solver's
    tolerance), and the energy never rises from frame to frame."""
    session = LiveSession(generate, Controls(speed=0.01, switch_every=0), clock=Clock())
    first = session.frame()
    energies = [first["energy"]] + [session.step()["energy"] for _ in range(30)]
    built = generate.built
    x0 = {a: np.asarray(v)[0] for a, v in built.x0.items()}
    plain = hd.simulate(built.network, x0, built.settings, t1=0.3, steady_state=False, method=session.settings.method)
    assert session.t == pytest.approx(0.3)
    np.testing.assert_allclose(session.state["x"], np.asarray(plain.final_state["x"]), atol=2e-4)
    assert energies[-1] == pytest.approx(float(plain.final_energy), rel=1e-4)
    rises = np.diff(energies)
    assert np.all(rises <= 1e-5 * np.abs(energies[1:])), rises.max()
    f = session.frame()
    assert not f["lyapunov"]["rose"] and len(json.dumps(f)) < 8192  # frames of a few KB


def test_switching_the_label_regenerates_that_glyph(generate):
    clock = Clock()
    session = LiveSession(generate, Controls(speed=0.25), clock=clock)
    for _ in range(20):  # five time constants of the image layer
        session.step()
    assert corr(session.xhat["x"], generate.images[0]) > 0.99
    session.apply({"label": 6})
    before = corr(session.xhat["x"], generate.images[6]) if session.xhat else None
    for _ in range(20):
        session.step()
    assert corr(session.xhat["x"], generate.images[6]) > 0.99 > (before or 0)
    # the seed's six seconds: generate mode moves to the next label by itself
    clock.now += 6.0
    f = session.step()
    assert f["switched"] and f["label"] == 7


def test_classify_reads_the_label_of_a_corrupted_glyph(generate):
    session = LiveSession(generate, Controls(speed=0.1), clock=Clock(), seed=3)
    session.apply({"mode": "classify"})
    for k in (2, 5, 9):
        session.apply({"label": k})
        session.apply({"corrupt": {"flip": 0.2}})  # 20% of the pixels inverted, as image-label-classify
        assert corr(session.state["x"], generate.images[k]) < 0.8
        for _ in range(30):
            f = session.step()
        assert int(np.argmax(f["layers"]["y"])) == k and max(f["layers"]["y"]) > 0.9


@pytest.mark.parametrize(
    "message,where",
    [
        ({"beta": -1.0}, "beta: should be > 0"),
        ({"beta": "big"}, "beta: should be a number"),
        ({"speed": 0}, "speed: should be greater than 0"),
        ({"speed": 1e9}, "speed: should be less than or equal to 100"),
        ({"label": 10}, "label: expected an integer from 0 to 9"),
        ({"label": True}, "label: expected an integer"),
        ({"mode": "dream"}, "mode: expected one of generate, classify"),
        ({"corrupt": {"flip": 1.5}}, "corrupt: flip: should be less than or equal to 1"),
        ({"corrupt": {"path": "/etc/passwd"}}, "corrupt: path: Extra inputs are not permitted"),
        ({"reset": "yes"}, "reset: expected true"),
        ({"pause": 3}, "pause: "),
        ({"__init__": 1}, "__init__: unknown control"),
        ({"exec": "import os"}, "exec: unknown control"),
        ([1, 2], "expected an object of controls"),
        (None, "expected an object of controls"),
    ],
)
def test_bad_controls_are_refused_by_name_and_change_nothing(generate, message, where):
    session = LiveSession(generate, clock=Clock())
    session.step()
    before = {a: v.copy() for a, v in session.state.items()}
    controls, beta, mode, label = session.controls, session.beta, session.mode, session.label
    with pytest.raises(ControlError) as e:
        session.apply(message)
    assert where in str(e.value), str(e.value)
    assert (session.controls, session.beta, session.mode, session.label) == (controls, beta, mode, label)
    for a, v in before.items():
        np.testing.assert_array_equal(session.state[a], v)


def test_controls_do_not_recompile(generate):
    """beta, speed, mode and label are arrays in the one compiled frame."""
    from hopdyn.solvers import compile as C

    session = LiveSession(generate, clock=Clock())
    session.step()
    session.apply({"mode": "classify"})
    session.step()
    with C.CompileLog() as log:
        for message in (
            {"beta": 3.0},
            {"speed": 0.02},
            {"mode": "generate"},
            {"label": 4},
            {"corrupt": {"noise": 0.1}},
        ):
            session.apply(message)
            session.step()
    assert log.solves == [], log.solves
    assert float(np.asarray(session.network.neurons["z"].lagrangian.beta)) == 3.0


def test_serve_refuses_a_bad_scenario_before_listening(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nneurons: {v: {shape: [3], lagrangian: {type: tanh, beta: -1}}}\n")
    assert main(["serve", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.yaml" in err[0] and "beta" in err[0], err
    assert main(["serve", "basins-classical", "--port", "0"]) == 2  # a discrete rule
    err = capsys.readouterr().err
    assert "solver.method" in err and "discrete rule" in err


def test_serve_says_when_the_port_is_taken(capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["serve", "--port", str(s.getsockname()[1])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--port" in err[0] and "cannot listen" in err[0], err


# ------------------------------------------------------------------ export-html
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "generate"
    assert main(["run", "image-label-generate", "--out", str(out), "-q", "--no-plots"]) == 0
    return out


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def test_export_html_embeds_the_run_and_needs_nothing_else(run_folder, capsys):
    assert main(["export-html", str(run_folder)]) == 0
    page = (run_folder / "run.html").read_text()
    assert len(page.encode()) < 2_000_000  # docs/live.md: under 2 MB for the seed's ten members
    assert not re.search(
        r"<script[^>]+src=|<link[^>]+href=\"(?!data:)", page
    )  # nothing fetched: scripts and styles inside
    data = _embedded(page)
    with np.load(run_folder / "trajectory.npz") as z:
        energy, valid, t = z["energy"], z["valid"], z["t"]
        xhat = z["xhat/x"]
    assert len(data["members"]) == energy.shape[0] == 10
    for i, m in enumerate(data["members"]):
        rows = np.flatnonzero(valid[i])
        ts = t[i, rows]
        keep = [int(np.argmin(np.abs(ts - tm))) for tm in m["t"]]
        np.testing.assert_allclose(m["energy"], energy[i, rows][keep], rtol=1e-6)
        np.testing.assert_allclose(m["layers"]["x"][-1], xhat[i, rows[-1]], atol=5e-4 * np.abs(xhat).max())
    manifest = json.loads((run_folder / "manifest.json").read_text())
    assert manifest["files"]["run.html"]["command"] == "export-html"


def test_export_html_refuses_a_changed_trajectory_or_scenario(run_folder, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    with open(copy / "trajectory.npz", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    assert main(["export-html", str(copy)]) == 2
    assert "was not written by `hopdyn run`" in capsys.readouterr().err
    # the run from another version of the scenario: an edited copy under the same name
    from hopdyn.scenario.loader import resolve

    edited = tmp_path / "image-label-generate.yaml"
    edited.write_text(open(resolve("image-label-generate")).read().replace("scale: 50.0", "scale: 40.0"))
    assert main(["export-html", str(run_folder), "--scenario", str(edited), "--out", str(tmp_path / "p.html")]) == 2
    assert not (tmp_path / "p.html").exists()
    assert main(["export-html", str(tmp_path / "nothing")]) == 2


def test_export_html_escapes_what_could_close_its_script(run_folder, tmp_path):
    from hopdyn.live.export import page

    html = page({"scenario": "x</script><script>alert(1)</script>", "members": []})
    data = _embedded(html)
    assert data["scenario"].startswith("x</script>") and html.count("<script>alert") == 0


def test_serve_starts_streams_and_stops_on_ctrl_c(tmp_path):
    """The command as a user runs it: a URL on the first line, frames over the
    WebSocket, exit 0 on Ctrl-C."""
    import asyncio

    import websockets

    from hopdyn.bench.live import start_server, stop_server

    env = {**os.environ, "HOPDYN_COMPILATION_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    proc, url, _ = start_server(env)
    try:

        async def watch():
            async with websockets.connect(url.replace("http", "ws") + "live") as ws:
                got = [json.loads(await ws.recv()) for _ in range(12)]
                await ws.send(json.dumps({"beta": -2}))
                while "error" not in (m := json.loads(await ws.recv())):
                    pass
                after = json.loads(await ws.recv())
                return got, m, after

        got, error, after = asyncio.run(asyncio.wait_for(watch(), 60))
        assert "hello" in got[0] and got[0]["hello"]["scenario"] == "image-label-generate"
        frames = [g["frame"] for g in got[1:]]
        assert frames == sorted(frames) and frames[-1] >= 10
        assert "beta" in error["error"] and after["frame"] >= frames[-1]  # the stream goes on
        # another site's page may not drive the network
        from websockets.exceptions import InvalidStatus

        async def foreign():
            async with websockets.connect(url.replace("http", "ws") + "live", origin="http://evil.example"):
                pass

        with pytest.raises((InvalidStatus, websockets.exceptions.ConnectionClosed, OSError)):
            asyncio.run(foreign())
    finally:
        code, _ = stop_server(proc)
    assert code == 0
    assert "stopped" in proc.stdout.read()
    assert "Traceback" not in proc.stderr.read()
