"""Learning rules side by side: for each rule (and each perceptron margin),
the fraction of stored patterns that are fixed points, retrieval from
corrupted patterns and the basin radius against the load (the corruptions of
a load share its pattern sets; each rule draws its own), with each rule's
published bound beside the measurement.
A scenario's ``rules:`` section is generated from ``compare_rules``'s
signature; the work is ``capacity``'s, once per rule, and each rule is one
piece of the study (``runner.pieces``): kept in a folder as it is done,
resumed from it, and shared by the processes of a distributed run."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ..core.errors import AnalysisError
from ..model.checks import checked_call
from ..model.params import function_arguments
from ..solvers.settings import SolveSettings
from .capacity import Flips, Gain, Loads, Overlap, Units, _distinct, capacity
from .runner import finish_work, json_pieces
from .stats import METHODS

RULES = r"rule_\d{2}\.npz"


def compare_rules(
    rules: Annotated[
        list[Literal["hebbian", "storkey", "pseudo_inverse", "perceptron"]],
        AfterValidator(_distinct),
        Field(min_length=1, max_length=8, description="the learning rules compared (each once)"),
    ],
    N: Annotated[Units, Field(description="number of units")],
    loads: Annotated[Loads, Field(description="K / N values, the same for every rule")],
    *,
    flips: Annotated[
        Flips,
        Field(
            description="fractions of flipped signs, increasing: retrieval at each, and the basin radius they give",
        ),
    ] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5),
    kappas: Annotated[
        list[Annotated[float, Field(ge=0, allow_inf_nan=False)]],
        Field(min_length=1, max_length=8, description="the perceptron's margins: one curve each"),
    ] = (0.0,),
    trials: Annotated[int, Field(ge=1, le=100_000, description="starts per load and corruption")] = 40,
    gain: Gain = 10.0,
    overlap: Overlap = 0.9,
    settings: SolveSettings | None = None,
    seed: int = 0,
    on_step=None,
    folder: str | None = None,
    resume: bool | None = None,
) -> dict | None:
    """Each rule's ``capacity`` from the stored patterns themselves (``fixed``:
    the fraction of patterns that are fixed points, i.e. come back exactly,
    with 95% Wilson intervals) and at each of ``flips`` (``by_flip``,
    ``radius``; the corruptions of one load share its pattern sets, each rule
    draws its own), with ``theory``: Amit–Gutfreund–Sompolinsky's 0.138
    for Hebb, Storkey's ``N / sqrt(2 ln N)``, the pseudo-inverse's 1 and
    Gardner's ``alpha_c(kappa)``.  ``fixed_up_to``: the largest load at which
    every tested pattern was a fixed point (from the smallest load on)."""
    variants = [(rule, k) for rule in rules for k in (kappas if rule == "perceptron" else (0.0,))]
    total = len(variants) * len(loads)

    def one_rule(i: int) -> dict:
        rule, kappa = variants[i]

        def step(done, _total):
            if on_step:
                on_step(i * len(loads) + done, total)

        cap = capacity(
            rule, N, list(loads), flip=0.0, flips=list(flips), trials=trials, gain=gain, kappa=kappa,
            overlap=overlap, settings=settings, seed=seed, on_step=step,
        )  # fmt: skip
        fixed_up_to = None
        for load, e in zip(cap["loads"], cap["exact"]):
            if e < 1.0:
                break
            fixed_up_to = load
        return {
            "label": rule if rule != "perceptron" else f"perceptron κ={kappa:g}",
            "family": rule,
            "kappa": kappa if rule == "perceptron" else None,
            "theory": cap.get("theory", {}),
            "loads": cap["loads"],
            "K": cap["K"],
            "fixed": cap["exact"],
            "fixed_interval": cap["exact_interval"],
            "fixed_up_to": fixed_up_to,
            **{k: cap[k] for k in ("by_flip", "by_flip_interval", "radius", "radius_interval", "radius_censored")},
        }

    out = json_pieces(
        len(variants),
        one_rule,
        name="rule_{:02d}.npz",
        pattern=RULES,
        folder=folder,
        resume=resume,
        identity=json.dumps([variants, N, list(loads), list(flips), trials, gain, overlap, repr(settings), seed]),
        what="rule",
        changed="the rule comparison or its settings changed since the interrupted run; run without resuming",
    )
    if out is None:
        return None  # another process of a distributed run: process 0 gathers the rules
    if folder is not None:
        finish_work(folder, RULES)
    return {
        "N": N,
        "flips": list(flips),
        "overlap_threshold": overlap,
        "trials": trials,
        "method": (settings or SolveSettings()).method,
        "intervals": {**METHODS, "radius": "where the Wilson bounds of retrieval cross 1/2 (pointwise)"},
        "rules": out,
    }


function_arguments(
    compare_rules,
    extra={
        "settings": "the ``SolveSettings`` of every solve (an ODE method or a discrete rule)",
        "seed": "draws the patterns and the flips (per rule and load, so a study is reproducible)",
        "on_step": "``on_step(done, total)`` reports progress",
        "folder": "where each rule's results are kept as it is done (``rule_<i>.npz``), for ``resume`` and for "
        "the processes of a distributed run, which share the rules",
        "resume": "``True`` continues an interrupted comparison from ``folder`` (see ``hd.basins``' chunking)",
    },
    after="""
    **Returns:**

    ``None`` on a process other than 0 of a distributed run (its rules are
    in ``folder``); otherwise the ``rules`` report of ``basins.json``: the settings, and per rule (a
    perceptron once per margin) its loads, the fixed-point fraction with its
    interval, retrieval at each flip with intervals, the basin radius with
    its interval and censoring, and the published bound.

    **Raises:**

    ``AnalysisError`` naming the argument.
    """,
)
compare_rules = checked_call(compare_rules, AnalysisError, skip=("settings", "seed", "on_step", "folder", "resume"))
