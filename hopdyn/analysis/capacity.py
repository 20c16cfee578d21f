"""Capacity of associative memories: store K random +-1 patterns in N units,
start from corrupted copies, solve, and count what comes back, as the load
K / N^load_power grows.  Works from Python (``capacity``) as from a scenario's
``capacity:`` section, which is generated from this signature."""

from __future__ import annotations

import dataclasses
import json
from math import erfc, sqrt
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field

from ..core import patterns as P
from ..core.errors import AnalysisError
from ..model.checks import checked_call
from ..model.lagrangians import Tanh
from ..model.network import Network
from ..model.neurons import Neuron
from ..model.params import function_arguments
from ..model.synapses import Exponential, Hebbian, Polynomial
from ..solvers.registry import get_method
from ..solvers.settings import SolveSettings
from ..solvers.simulate import simulate
from .runner import finish_work, json_pieces
from .stats import METHODS, bootstrap_mean, radius_of, wilson_of
from .theory import theory_for

Units = Annotated[int, Field(ge=2, le=100_000)]
LOADS = r"load_\d{4}\.npz"


def _increasing(values):
    """A list whose items increase (corruption levels), for pydantic's ``AfterValidator``."""
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"should increase (got {list(values)})")
    return values


def _distinct(values):
    """A list that names each item once, for pydantic's ``AfterValidator``."""
    if len(set(values)) != len(values):
        raise ValueError(f"should name each item once (got {list(values)})")
    return values


Loads = Annotated[list[Annotated[float, Field(gt=0, allow_inf_nan=False)]], Field(min_length=1, max_length=100)]
Gain = Annotated[float, Field(gt=0, allow_inf_nan=False, description="beta of the tanh neurons")]
Overlap = Annotated[
    float, Field(ge=0, le=1, description="overlap of sign(end state) with the pattern counted as retrieved")
]
Flips = Annotated[
    list[Annotated[float, Field(ge=0, le=0.5)]],
    AfterValidator(_increasing),
    Field(min_length=2, max_length=20),
]
"""Increasing fractions of flipped signs (the checks shared by the schema and the functions)."""


def capacity_network(
    family: str, xi: np.ndarray, n: int = 3, beta: float = 1.0, gain: float = 10.0, kappa: float = 0.0
) -> Network:
    """The continuous network of a capacity family storing ``xi`` (K, N): tanh
    units of gain ``gain`` with a Hebbian, polynomial (degree ``n``) or
    log-sum-exp (``beta``) memory, or the weights of a learning rule
    (Storkey, pseudo-inverse, symmetric perceptron with margin ``kappa``).

    **Arguments:**

    - ``family``: ``hebbian``, ``polynomial``, ``exponential``, ``storkey``,
      ``pseudo_inverse`` or ``perceptron``
    - ``xi``: ``(K, N)`` +-1 patterns (zero rows are padding: they store nothing)
    - ``n``: polynomial degree
    - ``beta``: the exponential's inverse temperature
    - ``gain``: the tanh neurons' beta
    - ``kappa``: the perceptron's margin
    """
    from ..model.rules import Perceptron, PseudoInverse, Storkey

    N = xi.shape[1]
    if family == "hebbian":
        syn = Hebbian(("s",), xi)
    elif family == "storkey":
        syn = Storkey(("s",), xi)
    elif family == "pseudo_inverse":
        syn = PseudoInverse(("s",), xi)
    elif family == "perceptron":
        syn = Perceptron(("s",), xi, kappa=kappa)
    elif family == "polynomial":
        # field n * scale * sum_mu xi_mu (xi_mu . s)^(n-1) is ~ xi for a retrieved pattern
        syn = Polynomial(("s",), xi, n=n, scale=1.0 / (n * N ** (n - 1)))
    else:
        syn = Exponential(("s",), xi, beta=beta, logsumexp=True)
    return Network({"s": Neuron(N, Tanh(gain))}, [syn])


PADDED = ("hebbian", "polynomial", "storkey", "pseudo_inverse", "perceptron")
"""Families a zero pattern adds nothing to (the learning rules skip zero rows)."""


def padded_shapes(family: str, Ks: list[int], trials: int, continuous: bool = True) -> tuple[int, int]:
    """Pattern rows and batch size of the one program a capacity series
    compiles.  A zero pattern adds nothing to a Hebbian or polynomial energy's
    gradient (``(0 . s)^(n-1) 0 = 0``), so ODE solves of those pad every load to
    the largest K (the numbers are those of each load alone: tests compare).  A
    log-sum-exp memory is not padded (a zero row would take a share of the
    softmax), and neither are binary rules: their local fields are sums of
    integers whose ties at zero rounding decides, and the weights of a padded
    memory round differently (2 bits in 200,000 moved in a float32 one-step
    study), so those compile once per K.  Starts pad to the largest batch."""
    rows = max(Ks) if continuous and family in PADDED else 0
    return rows, max(min(trials, K) for K in Ks)


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


def _curve_crossing(loads_low, low, loads_high, high) -> float | None:
    """The load where the retrieval curve of the larger N (``high``) falls below
    that of the smaller (``low``): the sign change of ``high - low`` from + to
    -, both curves linear between their tested loads (which differ where K
    was rounded) on the union of them; of several (noise), the one where the
    curves are nearest 1/2."""
    grid = np.union1d(loads_low, loads_high)
    grid = grid[(grid >= max(loads_low[0], loads_high[0])) & (grid <= min(loads_low[-1], loads_high[-1]))]
    lo = np.interp(grid, loads_low, low)
    d = np.interp(grid, loads_high, high) - lo
    best, where = None, np.inf
    for i in range(len(grid) - 1):
        if d[i] > 0 and d[i + 1] <= 0:
            a = grid[i] + d[i] * (grid[i + 1] - grid[i]) / (d[i] - d[i + 1])
            level = np.interp(a, grid, lo)
            if abs(level - 0.5) < where:
                best, where = float(a), abs(level - 0.5)
    return best


def finite_size(series: list[dict], Ns: list[int], seed: int = 0, resamples: int = 2000) -> dict:
    """The critical load from where the retrieval curves of growing N cross:
    ``crossings`` of each consecutive pair, and ``estimate``, that of the two
    largest N (the least finite-size shift), with a 95% interval from a
    parametric bootstrap (each point's retrieved count redrawn from its
    binomial, the crossing found again; ``no_crossing``: the share of
    resamples whose curves did not cross, left out of the interval)."""
    loads = [np.asarray(s["loads"], np.float64) for s in series]
    curves = [np.asarray(s["retrieved"], np.float64) for s in series]
    starts = [np.asarray(s["starts"], np.int64) for s in series]
    crossings = [_curve_crossing(la, a, lb, b) for la, a, lb, b in zip(loads, curves, loads[1:], curves[1:])]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        a, b = (rng.binomial(n, p) / n for n, p in zip(starts[-2:], curves[-2:]))
        boot.append(_curve_crossing(loads[-2], a, loads[-1], b))
    found = np.array([x for x in boot if x is not None])
    interval = [float(np.percentile(found, 2.5)), float(np.percentile(found, 97.5))] if found.size else None
    return {
        "N": Ns,
        "crossings": [{"N": [m, n], "load": c} for m, n, c in zip(Ns, Ns[1:], crossings)],
        "estimate": crossings[-1],
        "interval": interval,
        "no_crossing": float(1 - found.size / resamples),
        "method": "crossing of the retrieved fractions of the two largest N (linear between loads); "
        "95% parametric bootstrap",
    }


def nearest_ceiling(starts: np.ndarray, xi: np.ndarray, idx: np.ndarray) -> float:
    """The success rate of the nearest-neighbour decoder (Hamming distance, ties
    broken at random) on these corrupted starts: the mean over starts of
    ``1 / #nearest`` when their own pattern is among the nearest, else 0."""
    d = (starts[:, None, :] != xi[None]).sum(-1)
    own = d[np.arange(len(idx)), idx]
    best = d.min(axis=1)
    ties = np.sum(d == best[:, None], axis=1)
    return float(np.mean(np.where(own == best, 1.0 / ties, 0.0)))


def capacity(
    family: Annotated[
        Literal["hebbian", "polynomial", "exponential", "storkey", "pseudo_inverse", "perceptron"],
        Field(description="the memory's energy, or the learning rule of its weights"),
    ],
    N: Annotated[Units | list[Units], Field(description="number of units, or a list of them for a scaling series")],
    loads: Annotated[Loads, Field(description="K / N^load_power values")],
    *,
    load_power: Annotated[
        float,
        Field(
            gt=0, allow_inf_nan=False, description="loads are K / N^load_power (2 for the N^2 scaling of x^3 memories)"
        ),
    ] = 1.0,
    error_rate: Annotated[
        float, Field(gt=0, lt=0.5, description="bit-error rate that defines the critical load")
    ] = 0.01,
    flip: Annotated[float, Field(ge=0, le=1, description="fraction of signs flipped in each start")] = 0.1,
    trials: Annotated[
        int,
        Field(ge=1, le=100_000, description="starts per load; beyond K, fresh pattern sets are drawn (realisations)"),
    ] = 100,
    n: Annotated[int, Field(ge=2, le=16, description="polynomial degree")] = 3,
    beta: Annotated[
        float,
        Field(gt=0, allow_inf_nan=False, description="exponential: inverse temperature of the log-sum-exp energy"),
    ] = 1.0,
    gain: Gain = 10.0,
    kappa: Annotated[
        float, Field(ge=0, allow_inf_nan=False, description="perceptron: the margin every stability must exceed")
    ] = 0.0,
    overlap: Overlap = 0.9,
    flips: Annotated[
        Flips | None,
        Field(
            description="fractions of flipped signs, increasing, at which retrieval is measured again on the same "
            "patterns: the basin radius is where retrieval falls to one half",
        ),
    ] = None,
    settings: SolveSettings | None = None,
    seed: int = 0,
    on_step=None,
    folder: str | None = None,
    resume: bool | None = None,
) -> dict | None:
    """For each N and load: store K random +-1 patterns, start from ``trials`` of
    them with a fraction ``flip`` of signs flipped (when ``trials`` exceeds K,
    from every pattern of ``ceil(trials / K)`` independently drawn pattern sets,
    ``realisations``; the first set is the one a single set would be), solve
    with ``settings`` (an ODE method or a discrete rule), and measure over all
    starts, with 95% intervals, the fraction retrieved (overlap
    of sign(end state) with the pattern >= ``overlap``), the fraction repaired
    exactly, the bit-error rate and, for flipped starts, the nearest-neighbour
    ceiling; ``*_sets_sd``: the standard deviation of the per-set means (the
    spread across pattern sets).  ``critical_load`` is where the bit-error rate crosses
    ``error_rate``; with several N, ``scaling_exponent`` is the slope of
    log K_c against log N and ``finite_size`` the critical load where the
    retrieval curves cross (``finite_size``).  With ``flips``, retrieval is
    measured at each of those corruptions too (``by_flip``, Wilson intervals)
    and ``radius`` is the basin radius it gives: the largest corruption
    retrieved with probability >= 1/2, as ``basins`` measures it per pattern
    (``stats.radius_of``; ``None`` below the smallest flip, ``radius_censored``
    when retrieved at every flip).
    ``on_step(done, total)`` reports progress."""
    if settings is not None and not isinstance(settings, SolveSettings):
        raise AnalysisError(f"should be a SolveSettings (got {type(settings).__name__})", ("settings",))
    settings = dataclasses.replace(settings or SolveSettings(), save=2)
    Ns = N if isinstance(N, list) else [N]
    total = len(Ns) * len(loads)

    networks: dict = {}

    def solve(K: int, frac: float, units: int, key_n: str, rows: int, batch: int, flip_tag: str):
        """End states of ``trials`` starts at load K with ``frac`` of signs
        flipped (pattern sets keyed by family and K, flips by ``flip_tag``, so
        every corruption level corrupts the same patterns)."""
        ends, stored_rows, ceilings = [], [], []
        r = 0
        while sum(len(e) for e in ends) < trials:
            tag = "" if r == 0 else f":set{r}"
            xi = P.random_patterns(P.rng(seed, f"capacity:{family}:{key_n}{K}{tag}"), "binary", (K, units))
            tested = min(trials - sum(len(e) for e in ends), K)
            x0 = P.corrupt(xi[:tested], P.rng(seed, f"capacity:flip{flip_tag}:{key_n}{K}{tag}"), flip=frac)
            # one compiled solve for every load and set: zero patterns and repeated starts pad the shapes
            stored = np.concatenate([xi, np.zeros((max(rows, K) - K, units), xi.dtype)])
            starts = np.concatenate([x0, np.repeat(x0[:1], batch - tested, axis=0)])
            key = (units, K, r)  # the corruption levels of a load share its networks (a learning rule's weights)
            if key not in networks:
                if any(k[:2] != key[:2] for k in networks):
                    networks.clear()  # one load's sets at a time
                networks[key] = capacity_network(family, stored, n=n, beta=beta, gain=gain, kappa=kappa)
            net = networks[key]
            tr = simulate(net, {"s": starts}, settings)
            ends.append(np.sign(np.asarray(tr.final_state["s"], np.float64))[:tested])
            stored_rows.append(xi[:tested])
            if frac > 0 and tested * K * units <= 2e9:
                ceilings.append(nearest_ceiling(x0, xi, np.arange(tested)) * tested)
            r += 1
        end = np.concatenate(ends)
        sets = np.repeat(np.arange(r), [len(e) for e in ends])
        ceiling = float(sum(ceilings) / len(end)) if len(ceilings) == r else None
        return end, np.concatenate(stored_rows), sets, r, ceiling

    def one_load(units: int, key_n: str, K: int, rows: int, batch: int) -> dict:
        """Everything measured at one load: one value per key of the report's lists."""
        end, target, sets, r, ceiling = solve(K, flip, units, key_n, rows, batch, "")
        m = np.sum(end * target, axis=1) / units
        retrieved, exact = m >= overlap, np.all(end == target, axis=1)
        errors = np.mean(end != target, axis=1)  # per start: bits of a start are not independent
        got = {
            "loads": K / units**load_power,
            "K": K,
            "starts": int(len(end)),
            "realisations": r,
            "retrieved": float(np.mean(retrieved)),
            "retrieved_interval": wilson_of(retrieved),
            "exact": float(np.mean(exact)),
            "exact_interval": wilson_of(exact),
            "mean_overlap": float(np.mean(m)),
            "bit_error": float(np.mean(end != target)),
            "bit_error_interval": bootstrap_mean(errors, seed=seed),
            "nearest_ceiling": ceiling,
        }
        # the spread across pattern sets (standard deviation of the per-set means)
        for name, v in (("retrieved", retrieved), ("bit_error", errors)):
            means = [float(np.mean(v[sets == j])) for j in range(r)]
            got[f"{name}_sets_sd"] = float(np.std(means, ddof=1)) if r > 1 else None
        if flips:  # retrieval against corruption on the same patterns, and the basin radius it gives
            curve = []
            for f in flips:
                e2, t2, *_ = solve(K, f, units, key_n, rows, batch, f"{f!r}")
                curve.append(np.sum(e2 * t2, axis=1) / units >= overlap)
            got["by_flip"] = [float(np.mean(c)) for c in curve]
            got["by_flip_interval"] = [wilson_of(c) for c in curve]
            got["radius"], got["radius_interval"], got["radius_censored"] = radius_of(flips, curve)
        return got

    def series(units: int, entries: list[dict]) -> dict:
        out = {k: [e[k] for e in entries] for k in entries[0] if k != "nearest_ceiling"}
        ceilings = [e["nearest_ceiling"] for e in entries if e["nearest_ceiling"] is not None]
        if ceilings:
            out["nearest_ceiling"] = ceilings
        one_update = settings.method == "sync" and settings.max_sweeps == 1 and flip == 0
        if family == "hebbian" and load_power == 1 and one_update:
            # signal-to-noise: one synchronous update flips a bit with probability Phi(-sqrt(N/K))
            out["one_step_theory"] = [0.5 * erfc(sqrt(units / K) / sqrt(2)) for K in out["K"]]
        out["critical_load"] = _crossing(out["loads"], out["bit_error"], error_rate)
        known = theory_for(family, units, load_power, kappa=kappa, n=n, flip=flip) if isinstance(N, list) else {}
        if known:  # each N of a series beside its own bound
            out["theory"] = known
        return out

    method = get_method(settings.method)
    jobs = []  # (units, key, K, pattern rows, batch): the shapes of one compiled program per N
    for units in Ns:
        Ks = [max(1, int(round(load * units**load_power))) for load in loads]
        rows, batch = padded_shapes(family, Ks, trials, continuous=method is None or method.continuous)
        jobs += [(units, f"{units}:" if isinstance(N, list) else "", K, rows, batch) for K in Ks]

    def step(d: int, _total: int) -> None:
        if on_step:
            on_step(d, total)

    entries = json_pieces(
        len(jobs),
        lambda j: one_load(*jobs[j]),
        name="load_{:04d}.npz",
        pattern=LOADS,
        folder=folder,
        resume=resume,
        identity=json.dumps([family, Ns, list(loads), load_power, flip, trials, n, beta, gain, kappa, overlap,
                             flips, repr(settings), seed]),
        on_piece=step,
        what="load",
        changed="the capacity sweep or its settings changed since the interrupted run; run without resuming",
    )  # fmt: skip
    if entries is None:
        return None  # another process of a distributed run: process 0 merges the loads
    if folder is not None:
        finish_work(folder, LOADS)
    per = len(loads)
    runs = [series(units, entries[i * per : (i + 1) * per]) for i, units in enumerate(Ns)]

    head = {
        "intervals": METHODS,
        "family": family,
        "flip": flip,
        "overlap_threshold": overlap,
        "error_rate": error_rate,
        "load_power": load_power,
        "method": settings.method,
    }
    known = theory_for(family, max(Ns), load_power, kappa=kappa, n=n, flip=flip)
    if known:  # what theory says beside what was measured
        head["theory"] = known
    if not isinstance(N, list):
        return {**head, "N": N, **runs[0]}
    res = {**head, "N": Ns, "series": runs}
    if len(Ns) >= 2:
        res["finite_size"] = finite_size(runs, Ns, seed)
    kc = [s["critical_load"] for s in runs]
    if len(Ns) >= 2 and all(k is not None for k in kc):
        Kc = [k * units**load_power for k, units in zip(kc, Ns)]
        res["critical_K"] = Kc
        res["scaling_exponent"] = float(np.polyfit(np.log(Ns), np.log(Kc), 1)[0])
    return res


function_arguments(
    capacity,
    extra={
        "settings": "the ``SolveSettings`` of every solve (an ODE method or a discrete rule)",
        "seed": "draws the patterns and the flips (per purpose, so a study is reproducible)",
        "on_step": "``on_step(done, total)`` reports progress",
        "folder": "where each load's results are kept as it is done (``load_<i>.npz``), for ``resume`` and for "
        "the processes of a distributed run, which share the loads",
        "resume": "``True`` continues an interrupted sweep from ``folder`` (see ``hd.basins``' chunking)",
    },
    after="""
    **Returns:**

    ``None`` on a process other than 0 of a distributed run (its loads are
    in ``folder``); otherwise the ``capacity`` report of ``basins.json``: per N, loads, K, the fractions
    retrieved and repaired with 95% intervals, bit-error rates, the critical
    load, and with several N the scaling exponent and the finite-size estimate.

    **Raises:**

    ``AnalysisError`` naming the argument (an unknown family, loads or sizes
    out of range).
    """,
)
capacity = checked_call(capacity, AnalysisError, skip=("settings", "seed", "on_step", "folder", "resume"))
