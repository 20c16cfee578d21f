"""Basin geometry (issue 32) against closed forms and a known fractal: a
straight boundary (entropy and dimension 1 by hand) and the graph of a
Weierstrass function, whose box-counting dimension is 2 + ln a / ln b."""

import math

import numpy as np
import pytest

import hopdyn as hd
from hopdyn.analysis.geometry import basin_entropy, basin_geometry, boundary_dimension, uncertainty_exponent


def straight(L=60, at=33):
    labels = np.zeros((L, L), int)
    labels[:, at:] = 1
    return labels


def weierstrass(a, b, L=512, terms=12):
    x = np.linspace(0, 1, L, endpoint=False)
    w = sum(a**n * np.cos(b**n * np.pi * x) for n in range(terms))
    y = np.linspace(w.min() - 0.05, w.max() + 0.05, L)
    return (y[:, None] > w[None, :]).astype(int)


def test_a_straight_boundary_has_the_entropy_worked_by_hand():
    """60 x 60 cells, basins split after column 33, boxes of 5: one box per
    row of boxes (12 of 144) straddles it with shares 3/5 and 2/5."""
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    e = basin_entropy(straight(), box=5)
    assert (e["boxes"], e["boundary_boxes"]) == (144, 12)
    assert e["boundary_basin_entropy"] == pytest.approx(h, rel=1e-12)
    assert e["basin_entropy"] == pytest.approx(12 * h / 144, rel=1e-12)
    assert not e["fractal_by_entropy"]  # below ln 2
    one = basin_entropy(np.zeros((20, 20), int))
    assert one["basin_entropy"] == 0.0 and one["boundary_boxes"] == 0


def test_a_straight_boundary_has_dimension_one():
    d = boundary_dimension(straight(L=256, at=129))
    assert d["dimension"] == pytest.approx(1.0, abs=1e-9)
    assert d["counts"] == [256 // s for s in d["sizes"]]  # one box per row of boxes
    u = uncertainty_exponent(straight(L=256, at=129))
    assert u["dimension"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("a,b", [(0.6, 3.0), (0.7, 3.0)])
def test_a_weierstrass_boundary_has_its_fractal_dimension(a, b):
    """Box counting and the uncertainty exponent on a 512 x 512 map estimate
    D = 2 + ln a / ln b from below (finite resolution), within 0.2."""
    D = 2 + math.log(a) / math.log(b)
    g = basin_geometry(weierstrass(a, b))
    for est in (g["box_counting"]["dimension"], g["uncertainty"]["dimension"]):
        assert D - 0.2 < est <= D + 0.02, (est, D)
        assert est > 1.3  # clearly not a smooth curve


def test_rougher_boundaries_measure_rougher():
    flat = boundary_dimension(straight(L=512, at=257))["dimension"]
    low = boundary_dimension(weierstrass(0.6, 3.0))["dimension"]
    high = boundary_dimension(weierstrass(0.75, 3.0))["dimension"]
    assert flat < low < high


def test_bad_maps_and_sizes_are_named():
    with pytest.raises(hd.AnalysisError) as e:
        basin_entropy(np.zeros(10))
    assert e.value.location == ("labels",)
    with pytest.raises(hd.AnalysisError) as e:
        basin_entropy(np.zeros((10, 10)), box=0)
    assert e.value.location == ("box",)
    with pytest.raises(hd.AnalysisError):
        basin_entropy(np.full((4, 4), 0.5))


def test_the_numbers_on_the_basins_page_are_these():
    """docs/basins.md quotes the Weierstrass estimates and the shipped map's."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "basins.md").read_text()
    got = []
    for a in (0.6, 0.7):
        g = basin_geometry(weierstrass(a, 3.0))
        got.append((round(g["box_counting"]["dimension"], 2), round(g["uncertainty"]["dimension"], 2)))
    (b6, u6), (b7, u7) = got
    assert f"box counting measures {b6:.2f} and {b7:.2f}" in page
    assert f"exponent {u6:.2f} and {u7:.2f}" in page
    shipped = json.loads((root / "plots" / "basins-two-neuron" / "basins.json").read_text())["geometry"]
    assert f"measured at {shipped['box_counting']['dimension']:.2f} by box" in page
    assert f"counting and {shipped['uncertainty']['dimension']:.2f} by the uncertainty" in page
