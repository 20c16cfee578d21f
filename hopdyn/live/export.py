"""``hopdyn export-html``: one self-contained HTML page of a finished run.

The page holds everything it shows — the scripts (Chart.js and the live page's
drawing code), the styles and the run's numbers — so it opens offline in any
browser, from a course page or a paper's supplement.  A slider moves through
the saved times of each member: each layer drawn as on the live page, the
energy with a marker, and the PCA trail up to that time.

The run folder is data, checked before use: its manifest must name a
``trajectory.npz`` that ``hopdyn run`` wrote from this very scenario (content,
overrides and hopdyn version) and whose checksum still matches, and the arrays
must fit the scenario's network.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from ..core.errors import HopdynError
from .spec import LiveSpec, significant

ROWS = 80
"""The most saved times per member the page keeps (evenly spaced over the saved rows, ends included)."""


def _rows(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, ROWS)).round().astype(int)) if n else np.zeros(0, int)


def run_data(spec: LiveSpec, traj) -> dict:
    """What the exported page shows: the spec's views, names and landmarks and,
    per member, the kept rows' times, energies, layer activations and PCA."""
    from ..solvers.trajectory import STATUSES

    members = []
    for m in traj.members():
        keep = _rows(len(np.asarray(m.ts)))
        xhat = {a: np.asarray(v)[keep].reshape(len(keep), -1) for a, v in m.xhat.items()}
        energy = np.asarray(m.energy, np.float64)[keep]
        members.append(
            {
                "t": significant(np.asarray(m.ts)[keep]),
                "energy": [float(f"{e:.8g}") for e in energy],
                "layers": {a: significant(v) for a, v in xhat.items()},
                "pca": [[round(float(c), 5) for c in spec.projection.place(v)] for v in xhat[spec.visible]],
                "status": STATUSES[int(np.asarray(m.status))],
            }
        )
    return {
        **spec.page(),
        "members": members,
    }


def page(data: dict) -> str:
    """The self-contained HTML of ``data``: the page template with the styles,
    scripts and numbers written in (``<`` escaped in the JSON, so no value can
    close a script element)."""
    from .app import PAGE

    text = (PAGE / "export.html").read_text()
    parts = {
        "/*STYLE*/": (PAGE / "live.css").read_text(),
        "/*CHART_JS*/": (PAGE / "vendor" / "chart.umd.min.js").read_text(),
        "/*DRAW_JS*/": (PAGE / "draw.js").read_text(),
        "/*EXPORT_JS*/": (PAGE / "export.js").read_text(),
        "/*DATA*/": json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c"),
    }
    for mark, content in parts.items():
        if mark != "/*DATA*/" and "</script" in content.lower():
            raise AssertionError(f"{mark} would close its script element")
    return re.sub(r"/\*(STYLE|CHART_JS|DRAW_JS|EXPORT_JS|DATA)\*/", lambda m: parts[m.group(0)], text)


def export_run(folder: str, scenario: str | None = None, out: str | None = None) -> str:
    """Write the page of the run in ``folder`` and return its path.

    **Arguments:**

    - ``folder``: a folder ``hopdyn run`` wrote
    - ``scenario``: the scenario file of the run (default: the one its manifest
      names, a shipped scenario or a path relative to the current folder)
    - ``out``: the page's path (default ``folder/run.html``, recorded in the
      folder's manifest)

    **Raises:** ``HopdynError`` naming what does not fit: no run there, a
    trajectory changed since or made from another version of the scenario.
    """
    from ..core.io import atomic_write
    from ..core.outputs import OutputFolder, read_manifest, regular
    from ..scenario.build import scenario_identity
    from ..scenario.loader import resolve
    from ..solvers.trajectory import load_trajectory
    from .spec import load_spec

    if not os.path.isdir(folder):
        raise HopdynError(f"{folder}: no such folder", ("RUN_FOLDER",))
    entry = read_manifest(folder).get("files", {}).get("trajectory.npz")
    if not isinstance(entry, dict) or entry.get("command") != "run":
        raise HopdynError(
            f"{folder}: no trajectory.npz that `hopdyn run` wrote (its manifest names none)", ("RUN_FOLDER",)
        )
    overrides = entry.get("overrides") if isinstance(entry.get("overrides"), list) else []
    overrides = [str(o) for o in overrides]
    name = scenario or str(entry.get("scenario", ""))
    path = resolve(name)
    identity = scenario_identity(path, overrides)
    target = out or os.path.join(folder, "run.html")
    inside = os.path.abspath(os.path.dirname(target)) == os.path.abspath(folder)
    with OutputFolder(folder, "export-html", identity) as outf:
        npz = outf.earlier("trajectory.npz", "run")
        if npz is None:
            raise HopdynError(
                f"{folder}/trajectory.npz was not written by `hopdyn run` of this version of {os.path.basename(path)} "
                "(edited or made from another file since): run it again, or pass --scenario with the file it used",
                ("RUN_FOLDER",),
            )
        spec = load_spec(path, overrides)
        try:
            traj = load_trajectory(npz, spec.built.network)
        except ValueError as e:
            raise HopdynError(f"{npz}: {e}", ("RUN_FOLDER",)) from None
        text = page(run_data(spec, traj))
        if inside:
            outf.write(os.path.basename(target), lambda p: atomic_write(p, lambda f: f.write(text.encode())))
            outf.commit()
    if not inside:
        if os.path.lexists(target) and not regular(target):
            raise HopdynError(f"{target} exists and is not a regular file", ("--out",))
        atomic_write(target, lambda f: f.write(text.encode()))
    return target
