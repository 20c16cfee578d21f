"""The up-front resource estimate of a scenario: the memory each command
will hold at once (pattern arrays, including decompressed files; the solve's
state, saved rows and stored sweeps; ensembles and their chunks; capacity
pattern matrices; dense Jacobians of verify), computed from the validated
file before anything is drawn, read or allocated, and checked against the
memory budget (``core.budget``).  A refusal names the key that drives the
estimate."""

from __future__ import annotations

import os

import numpy as np

from ..core import patterns as P
from ..core.budget import ROW_COPIES, WORK_COPIES, budget, require, solve_bytes
from ..core.errors import HopdynError
from ..solvers.registry import get_method
from .loader import ScenarioError


def pattern_shape(spec, base: str) -> tuple[int, ...] | None:
    """The shape a pattern source will have, without making it (``None``:
    not known before reading, e.g. a CSV file)."""
    if spec.random is not None:
        return tuple(spec.random.shape)
    if spec.onehot is not None:
        return (spec.onehot, spec.onehot)
    if spec.images is not None:
        return (len(spec.images.names), spec.images.size**2)
    if spec.values is not None:
        return np.shape(np.asarray(spec.values, dtype=object)) or (1,)
    header = P.file_array_header(os.path.join(base, spec.file), spec.key)
    return None if header is None else header[0]


def _key(spec) -> str:
    return next(k for k in ("random", "file", "values", "images", "onehot") if getattr(spec, k) is not None)


def check(sc, file: str, base: str, command: str = "run", samples: int | None = None) -> dict:
    """Raise a one-line ``ScenarioError`` (exit 2) when what ``command`` will hold
    exceeds the budget; return the estimates (bytes by key) otherwise."""
    try:
        return _check(sc, file, base, command)
    except HopdynError as e:
        if isinstance(e, ScenarioError):
            raise
        raise ScenarioError(file, e.location, e.message) from None


def _check(sc, file: str, base: str, command: str) -> dict:
    out: dict[str, int] = {}
    itemsize = 8 if sc.dtype == "float64" else 4
    shapes: dict[str, tuple | None] = {}
    for name, spec in sc.patterns.items():
        where = ("patterns", name, _key(spec)) + (("shape",) if spec.random is not None else ())
        try:
            shape = pattern_shape(spec, base)
        except P.PatternError as e:
            raise ScenarioError(file, where, str(e)) from None
        shapes[name] = shape
        if shape is not None:
            nbytes = 2 * 8 * int(np.prod(shape, dtype=np.float64))  # float64, and its scaled copy
            require(nbytes, f"pattern {name!r} of shape {list(shape)}", where)
            out[".".join(where)] = nbytes
    sizes = {n: int(np.prod(s.shape, dtype=np.float64)) for n, s in sc.neurons.items()}
    state = sum(sizes.values())
    largest = max(sizes, key=sizes.get)
    batch, batch_key = 1, None
    for name, spec in sc.initial.items():
        b = None
        if spec.random is not None and spec.random.batch:
            b, key = spec.random.batch, ("initial", name, "random", "batch")
        elif spec.pattern is not None and isinstance(spec.index, list):
            b, key = len(spec.index), ("initial", name, "index")
        elif spec.pattern is not None and spec.index == "all":
            rows = shapes.get(spec.pattern)
            b, key = (rows[0] if rows else None), ("initial", name, "index")
        if b and b > batch:
            batch, batch_key = b, key
    s = sc.solver
    method = get_method(s.method)
    discrete = method is not None and not method.continuous
    rows = (s.max_sweeps + 1) if discrete else (len(s.save.ts) + 1 if s.save.ts is not None else (s.save.n or 200) + 1)
    nbytes = solve_bytes(state, batch, rows, itemsize)
    key = (
        batch_key
        if batch > 1 and batch >= rows
        else (("solver", "max_sweeps") if discrete else ("solver", "save", "ts" if s.save.ts else "n"))
    )
    if batch == 1 and rows <= WORK_COPIES // ROW_COPIES:
        key = ("neurons", largest, "shape")
    what = f"the solve (a state of {state} values x batch {batch} x {rows} {'sweeps' if discrete else 'saved rows'})"
    if command in ("run", "verify"):
        require(nbytes, what, key)
        out["solve"] = nbytes
    if method is not None and method.binary:
        n = max(sizes.values())
        require(3 * 8 * n * n, f"the weight matrix of {n} binary units", ("neurons", largest, "shape"))
    for i, syn in enumerate(sc.synapses):
        if getattr(syn, "unlearn", None) is not None:
            n = sizes[syn.connects[0]]
            require(3 * 8 * n * n, f"unlearning's weight matrix of {n} units", ("synapses", i, "unlearn"))
    if command == "verify":
        n = state
        require(8 * 8 * n * n, f"verify's dense Jacobian of {n} variables", ("neurons", largest, "shape"))
    if command == "basins" and sc.basins is not None:
        out.update(_basins(sc, sizes, state, itemsize))
    if command == "basins" and sc.capacity is not None:
        out.update(_capacity(sc.capacity, itemsize))
    if command == "basins" and sc.rules is not None:
        out.update(_capacity(sc.rules, itemsize, "rules"))
    return out


def _basins(sc, sizes: dict, state: int, itemsize: int) -> dict:
    b = sc.basins
    layer = b.layer if b.layer in sizes else max(sizes, key=sizes.get)
    size = sizes[layer]
    ens = b.ensemble
    parts = []
    if ens.corruption is not None:
        parts.append(
            (len(ens.corruption.levels) * ens.corruption.samples, ("basins", "ensemble", "corruption", "samples"))
        )
    if ens.random is not None:
        parts.append((ens.random.samples, ("basins", "ensemble", "random", "samples")))
    if ens.grid is not None:
        parts.append((ens.grid.resolution**2, ("basins", "ensemble", "grid", "resolution")))
    total = sum(m for m, _ in parts)
    key = max(parts)[1]
    # per start its label, status, time, energy and metadata, and the starts (float64); a basins
    # study also keeps every end state and activation and its starts (basins.npz), a continuation
    # does not, and draws its random starts a chunk at a time
    sweep = sc.continuation is not None
    kept = 0 if sweep else 3 * state
    held = total - (ens.random.samples if sweep and ens.random is not None else 0)
    nbytes = 8 * (total * (kept + 16) + held * size)
    require(nbytes, f"an ensemble of {total} starts of {size} values", key)
    chunk = b.chunk or 1
    require(solve_bytes(state, chunk, 3, itemsize), f"a chunk of {chunk} trajectories", ("basins", "chunk"))
    return {"ensemble": nbytes}


def _capacity(cap, itemsize: int, section: str = "capacity") -> dict:
    """The largest load of a ``capacity:`` sweep or a ``rules:`` comparison
    (whose weights are ``N x N``, and whose corrupted starts need the
    nearest-neighbour table when a flip is positive)."""
    worst, where = 0, (section, "loads")
    power = getattr(cap, "load_power", 1.0)
    flipped = getattr(cap, "flip", 0.0) > 0 or bool(getattr(cap, "flips", None))
    for N in cap.N if isinstance(cap.N, list) else [cap.N]:
        for load in cap.loads:
            K = max(1, int(round(load * N**power)))
            trials = min(cap.trials, K)
            nbytes = (
                3 * 8 * max(K, N) * N
                + 8 * trials * N * 4
                + solve_bytes(N, trials, 3, itemsize)
                + itemsize * trials * K * 4
            )
            if flipped and trials * K * N <= 2e9:
                nbytes += trials * K * N  # the nearest-neighbour ceiling's distance table (bytes)
            if nbytes > worst:
                worst, where = nbytes, ((section, "N") if N * N > K * trials else (section, "loads"))
    require(worst, f"the {section} study's largest load (its pattern matrices and solves)", where)
    return {section: worst, "budget": budget()}
