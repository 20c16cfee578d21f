"""Attractor basins: ensembles of initial states, chunked batched solves that
can resume, attractor labels named in the language of associative memory,
basin fractions, retrieval curves and capacity sweeps.

The interface follows Attractors.jl: an integer label per initial state (-1
for a trajectory that did not reach a steady state) and ``{label: fraction}``
summing to 1.  Labels are assigned once, after every chunk is solved, so they
do not depend on how the ensemble was chunked or interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable

import numpy as np

from . import _patterns as P
from ._io import write_json, write_npz
from ._scenario import Built, ScenarioError
from ._solve import STATUSES, simulate

STEADY = STATUSES.index("steady_state")
KIND_ORDER = ("pattern", "negated", "mixture", "metastable", "other")
MEMORY_BUDGET = 256 * 2**20  # bytes of solver state per chunk


# ------------------------------------------------------------------ ensembles
def basin_target(built: Built) -> tuple[str, str | None, np.ndarray | None]:
    """(layer, pattern name, patterns) of the basins section, with the layer and
    patterns inferred like ``verify`` does when not given."""
    from ._verify import stored_patterns

    sc = built.scenario
    spec = sc.basins
    inferred = stored_patterns(built) if spec.patterns is not False else None
    layer = spec.layer or (inferred[0] if inferred else sc.outputs.layer or next(iter(sc.neurons)))
    if layer not in sc.neurons:
        raise ScenarioError(built.file, "basins.layer", f"unknown neuron {layer!r} (neurons: {', '.join(sc.neurons)})")
    size = int(np.prod(sc.neurons[layer].shape))
    if isinstance(spec.patterns, str):
        if spec.patterns not in built.patterns:
            raise ScenarioError(built.file, "basins.patterns", f"unknown pattern {spec.patterns!r}")
        p = built.patterns[spec.patterns]
        if p.ndim < 2 or int(np.prod(p.shape[1:])) != size:
            raise ScenarioError(built.file, "basins.patterns",
                                f"rows of {spec.patterns!r} (shape {list(p.shape)}) do not fit layer {layer!r} of {size} units")
        return layer, spec.patterns, p.reshape(len(p), -1)
    if inferred and inferred[0] == layer:
        return layer, inferred[1], inferred[2].reshape(len(inferred[2]), -1)
    return layer, None, None


def _grid_point(pt, patterns, size, file, i) -> np.ndarray:
    if pt.origin:
        return np.zeros(size)
    if pt.values is not None:
        v = np.asarray(pt.values, np.float64)
        if v.size != size:
            raise ScenarioError(file, f"basins.ensemble.grid.through[{i}].values", f"expected {size} values, got {v.size}")
        return v
    if patterns is None or pt.pattern >= len(patterns):
        n = 0 if patterns is None else len(patterns)
        raise ScenarioError(file, f"basins.ensemble.grid.through[{i}].pattern", f"pattern index {pt.pattern} out of range ({n} patterns)")
    return -patterns[pt.pattern] if pt.negated else patterns[pt.pattern].copy()


def make_ensemble(built: Built, layer: str, patterns) -> tuple[np.ndarray, dict, tuple | None]:
    """Initial internal states of ``layer`` ``(M, *shape)``, per-start metadata
    (``group``: 0 corruption, 1 random, 2 grid; ``source`` pattern; ``level``;
    grid coordinates ``grid_a``/``grid_b``, NaN elsewhere) and the grid's plane
    ``(p0, p1, p2)`` (None without a grid)."""
    sc = built.scenario
    ens = sc.basins.ensemble
    plane = None
    shape = tuple(sc.neurons[layer].shape)
    size = int(np.prod(shape))
    starts, meta = [], {"group": [], "source": [], "level": [], "grid_a": [], "grid_b": []}

    def add(x, group, source=-1, level=np.nan, a=np.nan, b=np.nan):
        n = len(x)
        starts.append(x)
        meta["group"] += [group] * n
        meta["source"] += list(np.broadcast_to(source, n))
        meta["level"] += [level] * n
        meta["grid_a"] += list(np.broadcast_to(a, n))
        meta["grid_b"] += list(np.broadcast_to(b, n))

    if ens.corruption is not None:
        c = ens.corruption
        if patterns is None:
            raise ScenarioError(built.file, "basins.ensemble.corruption", "needs stored patterns (basins.patterns)")
        idx = list(range(len(patterns))) if c.patterns == "all" else c.patterns
        bad = [i for i in idx if i >= len(patterns)]
        if bad:
            raise ScenarioError(built.file, "basins.ensemble.corruption.patterns", f"index {bad[0]} out of range ({len(patterns)} patterns)")
        gen = P.rng(sc.seed, "basins:corruption")
        for level in c.levels:
            if c.kind in ("flip", "mask") and level > 1:
                raise ScenarioError(built.file, "basins.ensemble.corruption.levels", f"{c.kind} levels are fractions in [0, 1], got {level}")
            src = np.asarray([idx[k % len(idx)] for k in range(c.samples)])
            x = P.corrupt(patterns[src], gen, **{c.kind: float(level)})
            add(x, 0, src, float(level))
    if ens.random is not None:
        r = ens.random
        x = P.random_patterns(P.rng(sc.seed, "basins:random"), r.distribution, (r.samples, size), r.low, r.high, r.mean, r.std)
        add(x, 1)
    if ens.grid is not None:
        g = ens.grid
        p0, p1, p2 = plane = tuple(_grid_point(pt, patterns, size, built.file, i) for i, pt in enumerate(g.through))
        ticks = np.linspace(g.extent[0], g.extent[1], g.resolution)
        aa, bb = np.meshgrid(ticks, ticks, indexing="xy")
        a, b = aa.ravel(), bb.ravel()
        x = p0[None] + a[:, None] * (p1 - p0)[None] + b[:, None] * (p2 - p0)[None]
        add(x, 2, -1, np.nan, a, b)
    x0 = np.concatenate(starts).reshape((-1,) + shape)
    meta = {k: np.asarray(v, np.float64 if k in ("level", "grid_a", "grid_b") else np.int64) for k, v in meta.items()}
    return x0, meta, plane


# ------------------------------------------------------------------ chunked solving
def chunk_size(built: Built, total: int) -> int:
    if built.scenario.basins.chunk:
        return int(min(built.scenario.basins.chunk, total))
    state = sum(int(np.prod(s.shape)) for s in built.scenario.neurons.values())
    per_member = 8 * state * 40  # stages, error estimate, controller and saved rows, with margin
    return int(max(1, min(4096, total, MEMORY_BUDGET // per_member)))


def fingerprint(built: Built, x0: np.ndarray, chunk: int) -> str:
    h = hashlib.sha256()
    h.update(built.scenario.model_dump_json().encode())
    h.update(np.ascontiguousarray(x0).tobytes())
    h.update(str(chunk).encode())
    return h.hexdigest()


def solve_ensemble(built: Built, layer: str, x0: np.ndarray, partial: str, resume: bool,
                   on_chunk: Callable[[int, int], None] | None = None, wait_seconds: float = 86400.0) -> dict[str, np.ndarray]:
    """Solve every start in chunks of one compiled, batched solve each; each
    chunk's end states go to ``partial/chunk_<i>.npz`` as soon as it is done, so
    ``resume=True`` continues an interrupted run where it stopped."""
    total = len(x0)
    chunk = chunk_size(built, total)
    n_chunks = -(-total // chunk)
    fp = fingerprint(built, x0, chunk)
    manifest = os.path.join(partial, "manifest.json")
    import jax

    lead = jax.process_index() == 0  # under jax.distributed, process 0 prepares the folder
    if not lead:
        _wait_for_files([manifest], wait_seconds)
    if (resume or not lead) and os.path.isfile(manifest):
        with open(manifest) as f:
            old = json.load(f)
        if old.get("fingerprint") != fp:
            raise ScenarioError(built.file, "--resume", "the scenario or ensemble changed since the interrupted run; run without --resume")
    else:
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial, exist_ok=True)
        write_json(manifest, {"fingerprint": fp, "chunk": chunk, "total": total, "chunks": n_chunks})
    base = {n: (np.asarray(v)[0] if np.ndim(v) > len(built.scenario.neurons[n].shape) else np.asarray(v))
            for n, v in built.x0.items()}
    solver = dict(built.solver, save=2)
    from ._sharding import my_chunks

    for i in my_chunks(n_chunks):
        path = os.path.join(partial, f"chunk_{i:05d}.npz")
        if os.path.isfile(path):
            if on_chunk:
                on_chunk(i + 1, n_chunks)
            continue
        part = x0[i * chunk:(i + 1) * chunk]
        n = len(part)
        if n < chunk:  # pad to the compiled batch size; the padding is dropped below
            part = np.concatenate([part, np.repeat(part[-1:], chunk - n, axis=0)])
        start = {k: np.broadcast_to(v, (chunk,) + v.shape) for k, v in base.items() if k != layer}
        start[layer] = part
        # a fresh seed per chunk: asynchronous rules draw other update orders
        tr = simulate(built.network, start, **dict(solver, seed=solver.get("seed", 0) + i))
        arrays = {"status": np.asarray(tr.status)[:n], "t_final": np.asarray(tr.t_final)[:n],
                  "energy_end": np.asarray(tr.final_energy)[:n]}
        for k, v in tr.final_state.items():
            arrays[f"x_end/{k}"] = np.asarray(v)[:n]
        write_npz(path, arrays)
        if on_chunk:
            on_chunk(i + 1, n_chunks)
    if not lead:
        return None  # process 0 gathers the chunks
    _wait_for_files([os.path.join(partial, f"chunk_{i:05d}.npz") for i in range(n_chunks)], wait_seconds)
    parts = [np.load(os.path.join(partial, f"chunk_{i:05d}.npz")) for i in range(n_chunks)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0].files}


def _wait_for_files(paths: list[str], seconds: float) -> None:
    """Wait until every file exists (other processes write them), or fail."""
    import time

    from ._errors import HopdynError

    deadline = time.monotonic() + seconds
    while True:
        missing = [p for p in paths if not os.path.isfile(p)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise HopdynError(f"basins: {len(missing)} chunk files never appeared (first: {missing[0]}); "
                              "did every process of the distributed run start?")
        time.sleep(1.0)


# ------------------------------------------------------------------ labelling
def classify_end_state(a: np.ndarray, patterns: np.ndarray | None, overlap: float, mixtures: int):
    """The name of one end state (activations ``a``): ``("pattern", j)``,
    ``("negated", j)``, ``("mixture", ((j, sign), ...))`` for
    ``sign(sum_j sign_j xi_j)`` over an odd number of patterns,
    ``("metastable", (j, ...))`` for the average of several patterns, or None."""
    if patterns is None:
        return None
    cos = P.cosine_similarity(a, patterns)
    j = int(np.argmax(np.abs(cos)))
    if abs(cos[j]) >= overlap:
        return ("pattern", j) if cos[j] > 0 else ("negated", j)
    order = np.argsort(-np.abs(cos))
    for k in range(3, min(mixtures, len(patterns)) + 1, 2):
        top = order[:k]
        signs = np.sign(cos[top])
        cand = np.sign(signs @ patterns[top])
        if float(P.cosine_similarity(a, cand[None])[0]) >= overlap:
            return ("mixture", tuple(sorted((int(t), int(s)) for t, s in zip(top, signs))))
    pos = np.argsort(-cos)
    for k in range(2, len(patterns) + 1):
        cand = patterns[pos[:k]].mean(axis=0)
        if float(P.cosine_similarity(a, cand[None])[0]) >= overlap:
            return ("metastable", tuple(sorted(int(t) for t in pos[:k])))
    return None


def label_end_states(act: np.ndarray, status: np.ndarray, patterns, overlap: float, cluster: float, mixtures: int):
    """Integer labels (-1: no steady state) and the attractor keys they stand for.
    End states that match no stored pattern are clustered: an end state joins
    the first cluster whose founding state lies within RMS distance ``cluster``."""
    keys, centres, names = [], [], []
    for i, a in enumerate(act):
        if status[i] != STEADY:
            names.append(None)
            continue
        key = classify_end_state(a, patterns, overlap, mixtures)
        if key is None:
            d = [np.sqrt(np.mean((a - c) ** 2)) for c in centres]
            k = next((j for j, dj in enumerate(d) if dj <= cluster), None)
            if k is None:
                centres.append(a)
                k = len(centres) - 1
            key = ("other", k)
        names.append(key)
    # Named attractors in pattern order; 'other' ones in the order first met.
    distinct = sorted({k for k in names if k is not None}, key=lambda k: (KIND_ORDER.index(k[0]), k[1]))
    index = {k: n for n, k in enumerate(distinct)}
    labels = np.array([index[k] if k is not None else -1 for k in names], np.int64)
    return labels, distinct


def attractor_table(keys, labels, energies, x_end, network, classify: int = 32, method: str = "tsit5") -> list[dict]:
    """One entry per attractor: label, kind, patterns, count, energy, and the
    stability of a representative end state (the first 32 attractors): of the
    ODE's fixed point, or against single flips for binary rules."""
    from ._discrete import BINARY_METHODS, flip_stability, free_layers
    from ._verify import fixed_point

    if method in BINARY_METHODS:
        layer = free_layers(network)[0]
        net64 = network.astype("float64")
        fixed_point = lambda net, x: flip_stability(net64, x, layer)  # noqa: E731

    out = []
    for lab, key in enumerate(keys):
        members = np.flatnonzero(labels == lab)
        e = energies[members]
        entry = {"label": lab, "kind": key[0], "count": int(len(members)), "energy": float(np.mean(e)),
                 "energy_spread": float(np.max(e) - np.min(e)), "representative": int(members[0])}
        if key[0] in ("pattern", "negated"):
            entry["pattern"] = key[1]
        elif key[0] == "mixture":
            entry["patterns"] = [j for j, _ in key[1]]
            entry["signs"] = [s for _, s in key[1]]
        elif key[0] == "metastable":
            entry["patterns"] = list(key[1])
        if lab < classify:
            fp = fixed_point(network, {k: v[members[0]] for k, v in x_end.items()})
            entry["stability"] = fp["kind"]
            entry["unstable_directions"] = fp.get("unstable_directions", fp.get("unstable_units"))
        out.append(entry)
    return out


def fractions(labels: np.ndarray) -> dict[str, float]:
    """``{label: fraction}`` over every label present, -1 included; sums to 1."""
    values, counts = np.unique(labels, return_counts=True)
    total = counts.sum()
    return {str(int(v)): float(c / total) for v, c in zip(values, counts)}


def retrieval_curve(labels, keys, meta) -> dict | None:
    """Per corruption level: the fraction of starts that ended at the pattern they
    were corrupted from."""
    group = meta["group"]
    if not np.any(group == 0):
        return None
    ok = np.array([lab >= 0 and keys[lab][0] == "pattern" and keys[lab][1] == src
                   for lab, src in zip(labels, meta["source"])])
    levels = np.unique(meta["level"][group == 0])
    acc = [float(np.mean(ok[(group == 0) & (meta["level"] == lv)])) for lv in levels]
    return {"corruption": levels.tolist(), "accuracy": acc}


# ------------------------------------------------------------------ the whole analysis
def run_basins(built: Built, out: str, resume: bool = False, on_chunk=None) -> tuple[dict, dict]:
    """Ensemble, solve, label: the ``basins.json`` report and ``basins.npz`` arrays."""
    import jax

    spec = built.scenario.basins
    layer, pname, patterns = basin_target(built)
    x0, meta, plane = make_ensemble(built, layer, patterns)
    res = solve_ensemble(built, layer, x0, os.path.join(out, "basins.partial"), resume, on_chunk)
    if res is None:  # not process 0 of a distributed run: its chunks are written
        return None, None
    x_end = {k[len("x_end/"):]: v for k, v in res.items() if k.startswith("x_end/")}
    from ._discrete import BINARY_METHODS

    method = built.solver["method"]
    net64 = built.network.astype("float64")
    if method in BINARY_METHODS:  # the end states are the units' +-1 values
        act = np.asarray(x_end[layer], np.float64).reshape(len(x0), -1)
    else:
        act = np.asarray(jax.vmap(lambda x: net64.neurons[layer].activation(x))(np.asarray(x_end[layer], np.float64)))
        act = act.reshape(len(act), -1)
    cmp = np.sign(act) if spec.binarize else act
    labels, keys = label_end_states(cmp, res["status"], patterns, spec.overlap, spec.cluster, spec.mixtures)
    attractors = attractor_table(keys, labels, res["energy_end"].astype(np.float64), x_end, built.network,
                                 method=method)
    report = {
        "scenario": built.scenario.name,
        "samples": int(len(x0)),
        "layer": layer,
        "patterns": pname,
        "attractors": attractors,
        "fractions": fractions(labels),
        "undecided": int(np.sum(labels < 0)),
        "retrieval": retrieval_curve(labels, keys, meta),
        "chunks": {"size": chunk_size(built, len(x0)), "count": -(-len(x0) // chunk_size(built, len(x0)))},
    }
    arrays = {f"x0/{layer}": x0, f"xhat_end/{layer}": act, "labels": labels, "t_final": res["t_final"],
              "status": res["status"], "energy_end": res["energy_end"], **meta}
    arrays.update({f"x_end/{k}": v for k, v in x_end.items()})
    if plane is not None:
        # where each attractor sits on the grid's plane (least squares), for the basin map
        p0, p1, p2 = plane
        basis = np.stack([p1 - p0, p2 - p0], axis=1)
        for att in attractors:
            x = np.asarray(x_end[layer][att["representative"]], np.float64).ravel()
            coef, *_ = np.linalg.lstsq(basis, x - p0, rcond=None)
            att["plane_coordinates"] = coef.tolist()
            # distance from the plane, relative to the attractor's distance from p0
            att["plane_residual"] = float(np.linalg.norm(basis @ coef - (x - p0)) / (np.linalg.norm(x - p0) + 1e-300))
    shutil.rmtree(os.path.join(out, "basins.partial"), ignore_errors=True)
    return report, arrays


# ------------------------------------------------------------------ capacity
def capacity_network(family: str, xi: np.ndarray, spec):
    """The continuous network of a capacity family storing ``xi`` (K, N)."""
    from ._lagrangians import Tanh
    from ._network import Network
    from ._neurons import Neuron
    from ._synapses import Exponential, Hebbian, Polynomial

    N = xi.shape[1]
    if family == "hebbian":
        syn = Hebbian(("s",), xi)
    elif family == "polynomial":
        # field n * scale * sum_mu xi_mu (xi_mu . s)^(n-1) is ~ xi for a retrieved pattern
        syn = Polynomial(("s",), xi, n=spec.n, scale=1.0 / (spec.n * N ** (spec.n - 1)))
    else:
        syn = Exponential(("s",), xi, beta=spec.beta, logsumexp=True)
    return Network({"s": Neuron(N, Tanh(spec.gain))}, [syn])


def _crossing(loads, errors, target):
    """The load at which the bit-error rate crosses ``target``: Phi^-1(error)
    interpolated linearly in log(load) between the bracketing points."""
    from statistics import NormalDist

    pts = [(np.log(lo), NormalDist().inv_cdf(e)) for lo, e in zip(loads, errors) if 0 < e < 0.5]
    z = NormalDist().inv_cdf(target)
    for (a0, z0), (a1, z1) in zip(pts, pts[1:]):
        if (z0 - z) * (z1 - z) <= 0 and z1 != z0:
            return float(np.exp(a0 + (z - z0) * (a1 - a0) / (z1 - z0)))
    return None


def nearest_ceiling(starts: np.ndarray, xi: np.ndarray, idx: np.ndarray) -> float:
    """The success rate of the nearest-neighbour decoder (Hamming distance, ties
    broken at random) on these corrupted starts: the mean over starts of
    ``1 / #nearest`` when their own pattern is among the nearest, else 0."""
    d = (starts[:, None, :] != xi[None]).sum(-1)
    own = d[np.arange(len(idx)), idx]
    best = d.min(axis=1)
    ties = np.sum(d == best[:, None], axis=1)
    return float(np.mean(np.where(own == best, 1.0 / ties, 0.0)))


def _capacity_series(built: Built, spec, N: int, key_n: str, method: str, step) -> dict:
    from math import erfc, sqrt

    out = {k: [] for k in ("loads", "K", "retrieved", "exact", "mean_overlap", "bit_error", "nearest_ceiling")}
    for load in spec.loads:
        K = max(1, int(round(load * N**spec.load_power)))
        xi = P.random_patterns(P.rng(built.scenario.seed, f"capacity:{spec.family}:{key_n}{K}"), "binary", (K, N))
        trials = min(spec.trials, K)
        x0 = P.corrupt(xi[:trials], P.rng(built.scenario.seed, f"capacity:flip:{key_n}{K}"), flip=spec.flip)
        net = capacity_network(spec.family, xi, spec)
        tr = simulate(net, {"s": x0}, **dict(built.solver, method=method, save=2))
        end = np.sign(np.asarray(tr.final_state["s"], np.float64))
        m = np.sum(end * xi[:trials], axis=1) / N
        out["loads"].append(K / N**spec.load_power)
        out["K"].append(K)
        out["retrieved"].append(float(np.mean(m >= spec.overlap)))
        out["exact"].append(float(np.mean(np.all(end == xi[:trials], axis=1))))
        out["mean_overlap"].append(float(np.mean(m)))
        out["bit_error"].append(float(np.mean(end != xi[:trials])))
        if spec.flip > 0 and trials * K * N <= 2e9:
            out["nearest_ceiling"].append(nearest_ceiling(x0, xi, np.arange(trials)))
        step()
    if not out["nearest_ceiling"]:
        del out["nearest_ceiling"]
    one_update = method == "sync" and built.solver.get("max_sweeps") == 1 and spec.flip == 0
    if spec.family == "hebbian" and spec.load_power == 1 and one_update:
        # signal-to-noise: one synchronous update flips a bit with probability Phi(-sqrt(N/K))
        out["one_step_theory"] = [0.5 * erfc(sqrt(N / K) / sqrt(2)) for K in out["K"]]
    out["critical_load"] = _crossing(out["loads"], out["bit_error"], spec.error_rate)
    return out


def capacity_sweep(built: Built, on_step=None) -> dict:
    """For each N and load: store K random +-1 patterns, start from ``trials`` of
    them with a fraction ``flip`` of signs flipped, run the scenario's solver
    (an ODE method or a discrete rule), and measure the fraction retrieved
    (overlap of sign(end state) with the pattern >= ``overlap``), the fraction
    repaired exactly, the bit-error rate and, for flipped starts, the
    nearest-neighbour ceiling.  ``critical_load`` is where the bit-error rate
    crosses ``error_rate``; with several N, ``scaling_exponent`` is the slope of
    log K_c against log N.  ``outputs.compare`` repeats the sweep with another
    method on the same patterns."""
    spec = built.scenario.capacity
    Ns = spec.N if isinstance(spec.N, list) else [spec.N]
    methods = [built.solver["method"]] + ([built.scenario.outputs.compare] if built.scenario.outputs.compare else [])
    total, done = len(Ns) * len(spec.loads) * len(methods), [0]

    def step():
        done[0] += 1
        if on_step:
            on_step(done[0], total)

    def sweep(method):
        series = [_capacity_series(built, spec, N, "" if not isinstance(spec.N, list) else f"{N}:", method, step)
                  for N in Ns]
        if not isinstance(spec.N, list):
            return {"method": method, "N": spec.N, **series[0]}
        res = {"method": method, "N": Ns, "series": series}
        kc = [s["critical_load"] for s in series]
        if len(Ns) >= 2 and all(k is not None for k in kc):
            Kc = [k * N**spec.load_power for k, N in zip(kc, Ns)]
            res["critical_K"] = Kc
            res["scaling_exponent"] = float(np.polyfit(np.log(Ns), np.log(Kc), 1)[0])
        return res

    report = {"family": spec.family, "flip": spec.flip, "overlap_threshold": spec.overlap,
              "error_rate": spec.error_rate, "load_power": spec.load_power, **sweep(methods[0])}
    if len(methods) > 1:
        report["compare"] = sweep(methods[1])
    return report
