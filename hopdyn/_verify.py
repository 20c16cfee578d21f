"""Checks of a solved trajectory: energy descent (the Lyapunov property) and
retrieval readouts against stored patterns."""

from __future__ import annotations

import numpy as np

from ._solve import Trajectory


def energy_descent(members: list[Trajectory], tolerance: float = 1e-6) -> dict:
    """The Lyapunov check over the valid rows of each member.

    - ``max_dEdt``: the largest exact ``dE/dt`` (a JVP of the energy along the
      vector field) at a saved time; it must not exceed ``tolerance``.
    - ``max_rise``: the largest increase between consecutive saved energies; it
      must not exceed ``tolerance`` plus the rounding of the energies
      (``16 eps |E|``, which in float32 is 1e-4 at ``|E| = 1000``).
    Also reports where (member, time) the worst ``dE/dt`` occurred.
    """
    worst, where, rise, rise_tol = -np.inf, None, -np.inf, tolerance
    for i, m in enumerate(members):
        d = np.asarray(m.dEdt, np.float64)
        E = np.asarray(m.energy, np.float64)
        ts = np.asarray(m.ts, np.float64)
        if d.size and d.max() > worst:
            j = int(np.argmax(d))
            worst, where = float(d[j]), {"member": i, "t": float(ts[j])}
        if E.size > 1:
            rise = max(rise, float(np.max(np.diff(E))))
            eps = float(np.finfo(np.asarray(m.energy).dtype).eps)
            rise_tol = max(rise_tol, tolerance + 16 * eps * float(np.abs(E).max()))
    ok = bool(worst <= tolerance and rise <= rise_tol)
    return {
        "ok": ok,
        "max_dEdt": worst if np.isfinite(worst) else None,
        "tolerance": tolerance,
        "where": where,
        "max_rise": rise if np.isfinite(rise) else None,
        "rise_tolerance": rise_tol,
    }


def readout(finals: np.ndarray, patterns: np.ndarray, expect: list[int] | None = None) -> dict:
    """Compare final activations (``(B, n)``) with stored patterns (``(K, n)``):
    the nearest pattern of each member (largest cosine similarity), and the
    mean absolute error to the expected (or nearest) pattern as a fraction of
    the patterns' value range ("pixel error")."""
    p = patterns.reshape(len(patterns), -1).astype(np.float64)
    x = finals.reshape(len(finals), -1).astype(np.float64)
    sim = (x @ p.T) / (np.linalg.norm(x, axis=1, keepdims=True) * np.linalg.norm(p, axis=1)[None, :] + 1e-30)
    nearest = np.argmax(sim, axis=1)
    target = np.asarray(expect) if expect is not None else nearest
    span = float(p.max() - p.min()) or 1.0
    err = np.mean(np.abs(x - p[target]), axis=1) / span
    out = {"nearest": nearest.tolist(), "similarity": sim[np.arange(len(x)), nearest].tolist(), "pixel_error": err.tolist(),
           "max_pixel_error": float(err.max())}
    if expect is not None:
        out["expected"] = list(map(int, expect))
        out["correct"] = int(np.sum(nearest == target))
        out["accuracy"] = float(np.mean(nearest == target))
    return out
