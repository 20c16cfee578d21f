"""Continuation of attractors across a parameter, on the pitchfork
``du/dt = mu u - u^3``: one attractor (0) for mu < 0, two (+-sqrt(mu)) with
half the starts each for mu > 0, matched as one continuing and one new
attractor; one compiled solve for the whole range."""

import numpy as np
import pytest

import hopdyn as hd


def pitchfork():
    # identity Lagrangian: dE/du = u + dE_syn/du; E_syn = -w u^2 + u^4/4 gives
    # du/dt = (2w - 1) u - u^3, so mu = 2w - 1 and w = (mu + 1)/2
    unit = np.eye(1)
    return hd.Network(
        {"u": hd.Neuron(1, hd.Identity())},
        [hd.Dense(("u", "u"), np.array([[0.5]])), hd.Polynomial(("u",), unit, n=4, scale=-0.25)],
    )


def test_pitchfork_one_attractor_then_two_matched_across_mu():
    from hopdyn.solvers import compile as C

    starts = {"u": np.linspace(-1.5, 1.5, 40).reshape(-1, 1) + 0.0123}  # symmetric, none exactly at 0
    mus = [-0.5, -0.2, 0.2, 0.5, 1.0]
    C._COMPILED.clear()
    with hd.CompileLog() as log:
        r = hd.continuation(
            pitchfork(),
            lambda n: n.synapses[0].weights,
            mus,
            starts,
            layer="u",
            transform=lambda mu: [[(mu + 1) / 2]],
            settings=hd.SolveSettings(method="tsit5", t1=400.0, dtype="float64"),
            patterns=None,
            cluster=0.01,
        )
    runs = [s for s in log.solves if s["function"] == "hopdyn.solvers.simulate._run"]
    assert len(runs) == 1, log.solves  # the parameter is an array: one program for every value
    assert r["values"] == mus
    ids = [a["id"] for a in r["attractors"]]
    assert len(ids) == 2
    first, second = r["attractors"]
    # the attractor at 0 continues into one branch; the other branch is new at mu = 0.2
    assert first["present"] == [True] * 5 and first["first"] == -0.5 and first["last"] == 1.0
    assert second["present"] == [False, False, True, True, True] and second["first"] == 0.2
    for k, mu in enumerate(mus):
        fr = [f for f in r["fractions"][k] if f is not None]
        if mu < 0:
            assert fr == [1.0]
            assert [x for x in r["energies"][k] if x is not None] == pytest.approx([0.0], abs=1e-9)
        else:
            assert fr == pytest.approx([0.5, 0.5])
            for f, (lo, hi) in zip(r["fractions"][k], r["intervals"][k]):
                assert lo <= f <= hi
            # energies of the two branches: -mu^2/4 each (E = -mu u^2/2 + u^4/4 + const at u^2 = mu)
            e = [x for x in r["energies"][k] if x is not None]
            assert e == pytest.approx([-(mu**2) / 4] * 2, abs=1e-6)


def test_continuation_refuses_a_parameter_that_is_not_an_array():
    with pytest.raises(hd.AnalysisError, match="parameter"):
        hd.continuation(pitchfork(), lambda n: n.synapses[5], [0.1], {"u": np.zeros((2, 1))}, layer="u")
