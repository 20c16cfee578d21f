"""Names for end states: which description in the language of associative
memory explains a state best.

A state is compared with every description hopdyn knows of the stored
patterns ``xi_1..xi_K``, by the cosine between the state and the description:

- ``("pattern", j)``: ``xi_j``; ``("negated", j)``: ``-xi_j`` (a mirror image);
- ``("mixture", ((j, s), ...))``: ``sign(sum_j s_j xi_j)`` over the 3, 5, ...
  (up to ``mixtures``) patterns most similar in ``|cosine|``, each with the
  sign of its cosine (the odd spurious mixtures of the Hopfield model);
- ``("metastable", (j, ...))``: the average of the ``k`` patterns most similar
  to the state, for every ``k`` from 2 to K (the metastable states of modern
  networks: the average of a cluster, or of all patterns at small beta).

The description with the largest cosine names the state, provided the cosine
reaches ``overlap`` (otherwise the state is ``other``, clustered with nearby
unnamed states).  Descriptions whose cosines lie within ``margin`` of the best
are ties, decided for the one with fewer patterns (a single pattern before
any mixture or average), because a difference that small is no evidence: a
steady state is only known to within its stopping test, and the default
``1e-4`` lies above what that test leaves in a cosine (``rtol = 1e-6`` on the
vector field, relaxation rates above ``1e-2``) while every description a test
or shipped study tells apart differs by more than ``1e-3``.

So a state is a single pattern only when that pattern explains it at least as
well as every average and mixture: the average of a tight cluster (cosine
0.96-0.98 with its nearest member, 0.9999 with the cluster's average) is named
as that average, not as its nearest member, whatever ``overlap`` is.

This is the one place attractors are named: ``basins``, ``continuation`` (and
its census by kind), ``verify``'s table of end states and the figures use it.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import numpy as np
from pydantic import Field

from ..core.errors import AnalysisError
from ..model.params import Doc, dataclass_arguments

KINDS = ("pattern", "negated", "mixture", "metastable", "other")
MARGIN = 1e-4
BLOCK = 1024  # states compared at once (bounds memory: BLOCK x mixtures x n)


@dataclasses.dataclass(frozen=True)
class Naming:
    """How end states are named (the thresholds of a ``basins:`` section),
    checked where it is made (``AnalysisError`` naming the field)."""

    overlap: Annotated[
        float, Field(ge=0, le=1), Doc("the least cosine with which the best description names a state")
    ] = 0.95
    cluster: Annotated[float, Field(gt=0), Doc("RMS distance below which two unnamed end states are one attractor")] = (
        0.05
    )
    mixtures: Annotated[int, Field(ge=1, le=9), Doc("the largest odd number of patterns in a sign mixture")] = 5
    binarize: Annotated[bool, Doc("compare sign(activation)")] = False
    margin: Annotated[
        float, Field(ge=0, lt=1), Doc("cosines closer than this are ties, decided for fewer patterns")
    ] = MARGIN

    def __post_init__(self):
        from ..model.checks import check_fields

        check_fields(self, AnalysisError)


def _norms(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", v, v))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _describe_block(a: np.ndarray, p: np.ndarray, gram: np.ndarray, mixtures: int, margin: float):
    """Best (key, cosine) for each row of ``a`` (float64, ``(B, n)``)."""
    B, K = len(a), len(p)
    na, npat = _norms(a), np.sqrt(np.diag(gram))
    dots = a @ p.T
    cos = _ratio(dots, na[:, None] * npat[None, :])
    rows = np.arange(B)
    # candidates: (scores (B,), patterns used (int), kind rank, how to name them)
    scores, sizes, ranks, makers = [], [], [], []

    j = np.argmax(np.abs(cos), axis=1)
    scores.append(np.abs(cos[rows, j]))
    sizes.append(1)
    ranks.append(0)
    makers.append(lambda m, j=j: ("pattern" if cos[m, j[m]] > 0 else "negated", int(j[m])))

    by_abs = np.argsort(-np.abs(cos), axis=1, kind="stable")
    for k in range(3, min(mixtures, K) + 1, 2):
        top = by_abs[:, :k]
        signs = np.sign(cos[rows[:, None], top])
        cand = np.sign(np.einsum("bk,bkn->bn", signs, p[top]))
        scores.append(_ratio(np.einsum("bn,bn->b", a, cand), na * _norms(cand)))
        sizes.append(k)
        ranks.append(2)

        def mix(m, top=top, signs=signs):
            return ("mixture", tuple(sorted((int(t), int(s)) for t, s in zip(top[m], signs[m]))))

        makers.append(mix)

    if K >= 2:  # the average of the k most similar patterns, every k (cosine ignores the 1/k)
        order = np.argsort(-cos, axis=1, kind="stable")
        num = np.cumsum(np.take_along_axis(dots, order, axis=1), axis=1)
        sq = np.zeros((B, K))
        run = np.zeros((B, K))  # (sum of the patterns taken so far) . xi_j, for every j
        total = np.zeros(B)
        for i in range(K):
            q = order[:, i]
            total = total + 2 * run[rows, q] + gram[q, q]
            sq[:, i] = total
            run += gram[q]
        avg = _ratio(num, na[:, None] * np.sqrt(np.maximum(sq, 0)))[:, 1:]  # k = 2..K
        for i in range(K - 1):
            scores.append(avg[:, i])
            sizes.append(i + 2)
            ranks.append(3)
            makers.append(lambda m, k=i + 2: ("metastable", tuple(sorted(int(t) for t in order[m, :k]))))

    s = np.stack(scores, axis=1)
    best = s.max(axis=1)
    simplest = np.asarray(sizes) * 8 + np.asarray(ranks)
    pick = np.argmin(np.where(s >= best[:, None] - margin, simplest[None, :], np.iinfo(np.int64).max), axis=1)
    return [makers[c](m) for m, c in enumerate(pick)], s[rows, pick]


def describe(states, patterns, mixtures: int = 5, margin: float = MARGIN) -> tuple[list, np.ndarray]:
    """The best description of each state and its cosine.

    **Arguments:**

    - ``states``: ``(M, n)`` activations (or one state ``(n,)``)
    - ``patterns``: ``(K, n)`` stored patterns
    - ``mixtures``: the largest odd sign mixture tried
    - ``margin``: cosines closer than this are ties, decided for fewer patterns

    **Returns:**

    ``(keys, cosines)``: per state the key of the description with the largest
    cosine (``("pattern", j)``, ``("negated", j)``, ``("mixture", ((j, sign), ...))``
    or ``("metastable", (j, ...))``) and that cosine.
    """
    a = np.asarray(states, np.float64)
    one = a.ndim == 1
    a = a.reshape(1 if one else len(a), -1)
    p = np.asarray(patterns, np.float64).reshape(len(patterns), -1)
    gram = p @ p.T
    keys, cos = [], []
    for i in range(0, len(a), BLOCK):
        k, c = _describe_block(a[i : i + BLOCK], p, gram, mixtures, margin)
        keys += k
        cos.append(c)
    cos = np.concatenate(cos) if cos else np.zeros(0)
    return (keys[0], float(cos[0])) if one else (keys, cos)


def name_states(act, patterns, overlap: float = 0.95, mixtures: int = 5, margin: float = MARGIN) -> list:
    """Per state the key of its best description, or ``None`` where even the
    best reaches a cosine below ``overlap`` (and with no patterns)."""
    if patterns is None or len(act) == 0:
        return [None] * len(act)
    keys, cos = describe(act, patterns, mixtures, margin)
    return [k if c >= overlap else None for k, c in zip(keys, cos)]


class Labeller:
    """``label_attractors`` one chunk of end states at a time, in start order,
    so an ensemble is labelled as its chunks arrive and only the chunk in hand
    is held: ``add`` names each steady state of a chunk (``describe``) and
    clusters the unnamed ones against the founders met so far; ``labels``
    turns the per-start indices ``add`` returned into the integer labels
    ``label_attractors`` gives the whole ensemble at once (the same labels,
    since naming is per state and clustering goes in start order either way).

    **Arguments:** as ``label_attractors`` (``patterns``, ``overlap``,
    ``cluster``, ``mixtures``, ``margin``).
    """

    def __init__(self, patterns=None, overlap=0.95, cluster=0.05, mixtures=5, margin=MARGIN):
        self.patterns, self.overlap, self.cluster = patterns, overlap, cluster
        self.mixtures, self.margin = mixtures, margin
        self.found: list = []  # attractor keys in the order first met
        self._index: dict = {}
        self._centres: list[np.ndarray] = []

    def add(self, act, status) -> np.ndarray:
        """Per start of this chunk, the index in ``found`` of its attractor (-1: no steady state).

        **Arguments:**

        - ``act``: ``(B, n)`` end activations of the chunk's starts
        - ``status``: their status codes (0: steady state)
        """
        from ..solvers.trajectory import STATUSES

        steady = np.asarray(status) == STATUSES.index("steady_state")
        act = np.asarray(act, np.float64).reshape(len(act), -1)
        it = iter(name_states(act[steady], self.patterns, self.overlap, self.mixtures, self.margin))
        out = np.full(len(act), -1, np.int64)
        for i in np.flatnonzero(steady):
            key = next(it)
            if key is None:
                a = act[i]
                k = next(
                    (j for j, c in enumerate(self._centres) if np.sqrt(np.mean((a - c) ** 2)) <= self.cluster), None
                )
                if k is None:
                    self._centres.append(a.copy())
                    k = len(self._centres) - 1
                key = ("other", k)
            if key not in self._index:
                self._index[key] = len(self.found)
                self.found.append(key)
            out[i] = self._index[key]
        return out

    def labels(self, found_ids) -> tuple[np.ndarray, list]:
        """``(labels, keys)`` from the indices ``add`` returned (concatenated in
        start order): named attractors in pattern order, ``other`` ones in the
        order first met, -1 where no steady state was reached."""
        distinct = sorted(self.found, key=lambda k: (KINDS.index(k[0]), k[1]))
        where = {k: n for n, k in enumerate(distinct)}
        order = np.array([where[k] for k in self.found] + [-1], np.int64)  # index -1 stays -1
        return order[np.asarray(found_ids, np.int64)], distinct


def label_attractors(
    act: np.ndarray,
    status: np.ndarray,
    patterns=None,
    overlap: float = 0.95,
    cluster: float = 0.05,
    mixtures: int = 5,
    margin: float = MARGIN,
):
    """Integer labels (-1: no steady state) and the attractor keys they stand for.
    Each steady end state is named by its best description (``describe``); end
    states that no description matches to ``overlap`` are clustered: an end
    state joins the first cluster whose founding state lies within RMS
    distance ``cluster``.  (``Labeller`` does the same a chunk at a time.)

    **Arguments:**

    - ``act``: ``(M, n)`` end activations
    - ``status``: each start's status code (0: steady state)
    - ``patterns``: ``(K, n)`` stored patterns that name attractors (or ``None``)
    - ``overlap``: the least cosine with which a description names a state
    - ``cluster``: the RMS distance that joins an unnamed cluster
    - ``mixtures``: the largest odd sign mixture tried
    - ``margin``: cosines closer than this are ties, decided for fewer patterns
    """
    labeller = Labeller(patterns, overlap, cluster, mixtures, margin)
    return labeller.labels(labeller.add(act, status))


def entry_fields(key) -> dict:
    """The fields an attractor entry (``basins.json``) gives its key:
    ``pattern``, or ``patterns`` (and ``signs`` for a mixture)."""
    kind, what = key
    if kind in ("pattern", "negated"):
        return {"pattern": what}
    if kind == "mixture":
        return {"patterns": [j for j, _ in what], "signs": [s for _, s in what]}
    if kind == "metastable":
        return {"patterns": list(what)}
    return {}


def identity(att: dict):
    """The key of a named attractor entry (``None`` for an unnamed one): what
    continuation matches attractors by across parameter values."""
    kind = att["kind"]
    if kind in ("pattern", "negated"):
        return kind, att["pattern"]
    if kind == "mixture":
        return kind, tuple(att["patterns"]), tuple(att["signs"])
    if kind == "metastable":
        return kind, tuple(sorted(att["patterns"]))
    return None


dataclass_arguments(Naming)


def _runs(indices) -> str:
    """``[0, 1, 2, 3, 7, 9, 10]`` -> ``0..3,7,9,10`` (runs of three or more joined)."""
    out, ix = [], sorted(int(i) for i in indices)
    i = 0
    while i < len(ix):
        j = i
        while j + 1 < len(ix) and ix[j + 1] == ix[j] + 1:
            j += 1
        out += [f"{ix[i]}..{ix[j]}"] if j - i >= 2 else [str(v) for v in ix[i : j + 1]]
        i = j + 1
    return ",".join(out)


def attractor_name(att: dict, patterns: str | None = None, label: int | None = None) -> str:
    """A short text name of an attractor entry: ``X[3]``, ``−X[3]``,
    ``X[0]−X[2]+X[4]``, ``avg of X[0..3]`` (every member named), or
    ``other 2`` (its label, or ``label``) for an unnamed one.

    **Arguments:**

    - ``att``: an attractor entry (``kind`` and ``pattern``/``patterns``/``signs``)
    - ``patterns``: the name of the stored patterns (default ``pattern``)
    - ``label``: the number an unnamed attractor is called by (default its ``label``)
    """
    p = patterns or "pattern"
    kind = att["kind"]
    if kind == "pattern":
        return f"{p}[{att['pattern']}]"
    if kind == "negated":
        return f"−{p}[{att['pattern']}]"
    if kind == "mixture":
        text = "".join(("+" if s > 0 else "−") + f"{p}[{j}]" for j, s in zip(att["patterns"], att["signs"]))
        return "mix " + text.lstrip("+")
    if kind == "metastable":
        return f"avg of {p}[{_runs(att['patterns'])}]"
    return f"other {att.get('label', '') if label is None else label}".strip()
