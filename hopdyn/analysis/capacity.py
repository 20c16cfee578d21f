"""Capacity of associative memories: store K random +-1 patterns in N units,
start from corrupted copies, solve, and count what comes back, as the load
K / N^load_power grows.  Works from Python (``capacity``) as from a scenario's
``capacity:`` section, which is generated from this signature."""

from __future__ import annotations

import dataclasses
from math import erfc, sqrt
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from ..core import patterns as P
from ..model.lagrangians import Tanh
from ..model.network import Network
from ..model.neurons import Neuron
from ..model.synapses import Exponential, Hebbian, Polynomial
from ..solvers.registry import get_method
from ..solvers.settings import SolveSettings
from ..solvers.simulate import simulate
from .stats import METHODS, bootstrap_mean, wilson_of

Units = Annotated[int, Field(ge=2, le=100_000)]


def capacity_network(family: str, xi: np.ndarray, n: int = 3, beta: float = 1.0, gain: float = 10.0) -> Network:
    """The continuous network of a capacity family storing ``xi`` (K, N): tanh
    units of gain ``gain`` with a Hebbian, polynomial (degree ``n``) or
    log-sum-exp (``beta``) memory."""
    N = xi.shape[1]
    if family == "hebbian":
        syn = Hebbian(("s",), xi)
    elif family == "polynomial":
        # field n * scale * sum_mu xi_mu (xi_mu . s)^(n-1) is ~ xi for a retrieved pattern
        syn = Polynomial(("s",), xi, n=n, scale=1.0 / (n * N ** (n - 1)))
    else:
        syn = Exponential(("s",), xi, beta=beta, logsumexp=True)
    return Network({"s": Neuron(N, Tanh(gain))}, [syn])


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
    rows = max(Ks) if continuous and family in ("hebbian", "polynomial") else 0
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
    family: Annotated[Literal["hebbian", "polynomial", "exponential"], Field(description="the memory's energy")],
    N: Annotated[Units | list[Units], Field(description="number of units, or a list of them for a scaling series")],
    loads: Annotated[
        list[Annotated[float, Field(gt=0, allow_inf_nan=False)]],
        Field(min_length=1, max_length=100, description="K / N^load_power values"),
    ],
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
    trials: Annotated[int, Field(ge=1, le=100_000, description="patterns tested per K (at most K)")] = 100,
    n: Annotated[int, Field(ge=2, le=16, description="polynomial degree")] = 3,
    beta: Annotated[
        float,
        Field(gt=0, allow_inf_nan=False, description="exponential: inverse temperature of the log-sum-exp energy"),
    ] = 1.0,
    gain: Annotated[float, Field(gt=0, allow_inf_nan=False, description="beta of the tanh neurons")] = 10.0,
    overlap: Annotated[
        float, Field(ge=0, le=1, description="overlap of sign(end state) with the pattern counted as retrieved")
    ] = 0.9,
    settings: SolveSettings | None = None,
    seed: int = 0,
    on_step=None,
) -> dict:
    """For each N and load: store K random +-1 patterns, start from ``trials`` of
    them with a fraction ``flip`` of signs flipped, solve with ``settings`` (an
    ODE method or a discrete rule), and measure the fraction retrieved (overlap
    of sign(end state) with the pattern >= ``overlap``), the fraction repaired
    exactly, the bit-error rate and, for flipped starts, the nearest-neighbour
    ceiling.  ``critical_load`` is where the bit-error rate crosses
    ``error_rate``; with several N, ``scaling_exponent`` is the slope of
    log K_c against log N.  ``on_step(done, total)`` reports progress."""
    settings = dataclasses.replace(settings or SolveSettings(), save=2)
    Ns = N if isinstance(N, list) else [N]
    total, done = len(Ns) * len(loads), [0]

    def series(units: int, key_n: str) -> dict:
        keys = ("loads", "K", "starts", "retrieved", "exact", "mean_overlap", "bit_error", "nearest_ceiling")
        out = {k: [] for k in (*keys, "retrieved_interval", "exact_interval", "bit_error_interval")}
        Ks = [max(1, int(round(load * units**load_power))) for load in loads]
        method = get_method(settings.method)
        rows, batch = padded_shapes(family, Ks, trials, continuous=method is None or method.continuous)
        for K in Ks:
            xi = P.random_patterns(P.rng(seed, f"capacity:{family}:{key_n}{K}"), "binary", (K, units))
            tested = min(trials, K)
            x0 = P.corrupt(xi[:tested], P.rng(seed, f"capacity:flip:{key_n}{K}"), flip=flip)
            # one compiled solve for every load: zero patterns and repeated starts pad the shapes
            stored = np.concatenate([xi, np.zeros((max(rows, K) - K, units), xi.dtype)])
            starts = np.concatenate([x0, np.repeat(x0[:1], batch - tested, axis=0)])
            net = capacity_network(family, stored, n=n, beta=beta, gain=gain)
            tr = simulate(net, {"s": starts}, settings)
            end = np.sign(np.asarray(tr.final_state["s"], np.float64))[:tested]
            m = np.sum(end * xi[:tested], axis=1) / units
            out["loads"].append(K / units**load_power)
            out["K"].append(K)
            retrieved, exact = m >= overlap, np.all(end == xi[:tested], axis=1)
            errors = np.mean(end != xi[:tested], axis=1)  # per start: bits of a start are not independent
            out["starts"].append(int(tested))
            out["retrieved"].append(float(np.mean(retrieved)))
            out["retrieved_interval"].append(wilson_of(retrieved))
            out["exact"].append(float(np.mean(exact)))
            out["exact_interval"].append(wilson_of(exact))
            out["mean_overlap"].append(float(np.mean(m)))
            out["bit_error"].append(float(np.mean(end != xi[:tested])))
            out["bit_error_interval"].append(bootstrap_mean(errors, seed=seed))
            if flip > 0 and tested * K * units <= 2e9:
                out["nearest_ceiling"].append(nearest_ceiling(x0, xi, np.arange(tested)))
            done[0] += 1
            if on_step:
                on_step(done[0], total)
        if not out["nearest_ceiling"]:
            del out["nearest_ceiling"]
        one_update = settings.method == "sync" and settings.max_sweeps == 1 and flip == 0
        if family == "hebbian" and load_power == 1 and one_update:
            # signal-to-noise: one synchronous update flips a bit with probability Phi(-sqrt(N/K))
            out["one_step_theory"] = [0.5 * erfc(sqrt(units / K) / sqrt(2)) for K in out["K"]]
        out["critical_load"] = _crossing(out["loads"], out["bit_error"], error_rate)
        return out

    head = {
        "intervals": METHODS,
        "family": family,
        "flip": flip,
        "overlap_threshold": overlap,
        "error_rate": error_rate,
        "load_power": load_power,
        "method": settings.method,
    }
    if not isinstance(N, list):
        return {**head, "N": N, **series(N, "")}
    runs = [series(units, f"{units}:") for units in Ns]
    res = {**head, "N": Ns, "series": runs}
    kc = [s["critical_load"] for s in runs]
    if len(Ns) >= 2 and all(k is not None for k in kc):
        Kc = [k * units**load_power for k, units in zip(kc, Ns)]
        res["critical_K"] = Kc
        res["scaling_exponent"] = float(np.polyfit(np.log(Ns), np.log(Kc), 1)[0])
    return res
