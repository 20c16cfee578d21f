"""Capacity theory as functions (``hd.theory``): the published curves hopdyn's
capacity studies are compared with.

- ``one_step_error(N, K)``: a Hebbian network's bit flips after one update
  from a stored pattern, ``Phi(-sqrt((N-1)/(K-1)))`` (signal ``(N-1)/N``
  against crosstalk of variance ``(K-1)(N-1)/N^2``, zero diagonal);
- ``mceliece(N)``: McEliece et al. (1987): ``N/(2 ln N)`` patterns, each a
  fixed point with probability -> 1, or ``N/(4 ln N)`` for all at once;
- ``ags_overlap(alpha)`` and ``AGS_CRITICAL_LOAD``: Amit, Gutfreund and
  Sompolinsky (1987), the replica-symmetric retrieval overlap at zero
  temperature and the load ``alpha_c ~ 0.138`` where retrieval disappears;
- ``storkey_capacity(N)``: Storkey (1997), ``N / sqrt(2 ln N)``;
- ``polynomial_capacity(N, n)``: Krotov & Hopfield (2016),
  ``N^(n-1) / (2 (2n-3)!! ln N)`` for ``F(s) = s^n``;
- ``exponential_capacity(N, rho)``: Demircigil et al. (2017),
  ``exp(N I(1-2 rho)/2)`` from starts with a fraction ``rho`` of errors
  (``2^(N/2)`` at ``rho = 0``);
- ``gardner_capacity(kappa)``: Gardner (1988), ``1 / int_{-kappa}^inf Dt (t+kappa)^2``
  (2 at ``kappa = 0``), the most patterns per neuron a perceptron rule can
  make stable with margin ``kappa``;
- ``PSEUDO_INVERSE_CAPACITY``: every pattern a fixed point of the projection
  rule up to ``K = N`` (load 1).

Plain Python and numpy: no JAX, nothing compiled.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import AnalysisError

PSEUDO_INVERSE_CAPACITY = 1.0
"""Kanter & Sompolinsky (1987): the projection rule keeps every pattern a fixed point below load 1."""


def _check(name: str, value, low: float, inclusive: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise AnalysisError(f"expected a number, got {value!r}", (name,)) from None
    if not math.isfinite(v) or (v < low if inclusive else v <= low):
        raise AnalysisError(f"expected a finite number {'>=' if inclusive else '>'} {low:g}, got {value!r}", (name,))
    return v


def normal_cdf(x: float) -> float:
    """``Phi(x)``, the standard normal distribution function."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def one_step_error(N: int, K: int) -> float:
    """The probability that one update flips a bit of a stored pattern of a
    Hebbian network of ``N`` units and ``K`` random +-1 patterns (zero
    diagonal): ``Phi(-sqrt((N-1)/(K-1)))``; 0 for one pattern."""
    N, K = _check("N", N, 2), _check("K", K, 1)
    return 0.0 if K == 1 else normal_cdf(-math.sqrt((N - 1) / (K - 1)))


def mceliece(N: int, every_pattern: bool = False) -> float:
    """McEliece et al. (1987): the most patterns with each (``every_pattern=False``,
    ``N/(2 ln N)``) or all (``N/(4 ln N)``) of them fixed points as ``N`` grows."""
    N = _check("N", N, 2)
    return N / ((4.0 if every_pattern else 2.0) * math.log(N))


def _ags_residual(y: float, alpha: float) -> float:
    # m = erf(y), y = m / sqrt(2 alpha r), r = (1 - C)^-2, C = sqrt(2/(pi alpha r)) exp(-m^2/(2 alpha r))
    # reduce to erf(y) = y (sqrt(2 alpha) + (2/sqrt(pi)) exp(-y^2)).
    return math.erf(y) - y * (math.sqrt(2.0 * alpha) + 2.0 / math.sqrt(math.pi) * math.exp(-y * y))


def _ags_root(alpha: float) -> float | None:
    """The largest ``y > 0`` solving the reduced equations, or ``None``."""
    ys = np.linspace(1e-3, 8.0, 4000)
    f = np.array([_ags_residual(y, alpha) for y in ys])
    crossings = np.flatnonzero(np.sign(f[:-1]) != np.sign(f[1:]))
    if not len(crossings):
        return None
    i = crossings[-1]
    lo, hi = ys[i], ys[i + 1]
    flo = f[i]
    for _ in range(80):  # bisection to machine precision
        mid = 0.5 * (lo + hi)
        fm = _ags_residual(mid, alpha)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ags_overlap(alpha: float) -> float:
    """Amit, Gutfreund and Sompolinsky (1987): the retrieval overlap ``m`` of
    a Hebbian network at zero temperature and load ``alpha = K/N``
    (replica-symmetric); 0 above ``AGS_CRITICAL_LOAD``, where only the
    spin-glass solution is left."""
    alpha = _check("alpha", alpha, 0.0, inclusive=False)
    y = _ags_root(alpha)
    return 0.0 if y is None else math.erf(y)


def _ags_critical_load() -> float:
    lo, hi = 0.10, 0.16
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _ags_root(mid) is not None else (lo, mid)
    return 0.5 * (lo + hi)


AGS_CRITICAL_LOAD = _ags_critical_load()
"""The load where the retrieval solution of ``ags_overlap`` disappears (0.1379)."""


def storkey_capacity(N: int) -> float:
    """Storkey (1997): the absolute capacity of his rule, ``N / sqrt(2 ln N)``
    patterns (Hebb's: ``N / (2 ln N)``, ``mceliece``)."""
    N = _check("N", N, 2)
    return N / math.sqrt(2.0 * math.log(N))


def _double_factorial(k: int) -> int:
    return math.prod(range(k, 0, -2)) if k > 0 else 1


def polynomial_capacity(N: int, n: int) -> float:
    """Krotov & Hopfield (2016): ``N^(n-1) / (2 (2n-3)!! ln N)`` patterns for the
    energy ``-sum_mu F(xi_mu . s)`` with ``F(s) = s^n`` (``n = 2``: McEliece's
    ``N/(2 ln N)``)."""
    N = _check("N", N, 2)
    n = int(_check("n", n, 2))
    return N ** (n - 1) / (2.0 * _double_factorial(2 * n - 3) * math.log(N))


def exponential_capacity(N: int, rho: float = 0.0) -> float:
    """Demircigil et al. (2017): ``exp(N I(1 - 2 rho) / 2)`` patterns retrieved
    by the exponential energy from starts with a fraction ``rho`` (< 1/2) of
    errors, ``I(x) = ((1+x) ln(1+x) + (1-x) ln(1-x))/2``."""
    N = _check("N", N, 1)
    rho = _check("rho", rho, 0.0)
    if rho >= 0.5:
        raise AnalysisError(f"expected rho < 0.5, got {rho}", ("rho",))
    x = 1.0 - 2.0 * rho
    info = 0.5 * ((1 + x) * math.log(1 + x) + ((1 - x) * math.log(1 - x) if x < 1 else 0.0))
    return math.exp(N * info / 2.0)


def gardner_capacity(kappa: float = 0.0) -> float:
    """Gardner (1988): ``alpha_c(kappa) = 1 / int_{-kappa}^inf Dt (t + kappa)^2``,
    in closed form ``1 / ((1 + kappa^2) Phi(kappa) + kappa phi(kappa))``."""
    kappa = _check("kappa", kappa, 0.0)
    phi = math.exp(-0.5 * kappa * kappa) / math.sqrt(2 * math.pi)
    return 1.0 / ((1 + kappa * kappa) * normal_cdf(kappa) + kappa * phi)


def theory_for(family: str, N: int, load_power: float = 1.0, **rule) -> dict:
    """The published numbers a capacity study of ``family`` at ``N`` units is
    compared with (empty when there are none): the critical load of its
    x-axis (``K/N^load_power``) and where it comes from."""
    if family == "hebbian" and load_power == 1:
        return {
            "critical_load": AGS_CRITICAL_LOAD,
            "source": "Amit, Gutfreund & Sompolinsky 1987",
            "mceliece_load": mceliece(N) / N,
        }
    if family == "polynomial":
        n = int(rule.get("n", 2))
        return {
            "critical_load": polynomial_capacity(N, n) / N**load_power,
            "source": f"Krotov & Hopfield 2016 (n = {n})",
        }
    if family == "exponential":
        rho = float(rule.get("flip", 0.0))
        if rho >= 0.5:
            return {}
        return {
            "critical_load": exponential_capacity(N, rho) / N**load_power,
            "source": f"Demircigil et al. 2017 (exp(N I(1 - 2 rho) / 2), rho = {rho:g})",
        }
    if family == "storkey" and load_power == 1:
        return {"critical_load": storkey_capacity(N) / N, "source": "Storkey 1997 (N / sqrt(2 ln N))"}
    if family == "pseudo_inverse":
        return {"critical_load": PSEUDO_INVERSE_CAPACITY, "source": "Kanter & Sompolinsky 1987 (fixed points)"}
    if family == "perceptron":
        kappa = float(rule.get("kappa", 0.0))
        return {
            "critical_load": gardner_capacity(kappa),
            "source": f"Gardner 1988 (kappa = {kappa:g}; fixed points, the most any rule can store)",
        }
    return {}
