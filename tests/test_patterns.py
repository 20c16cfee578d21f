"""Pattern sources and corruptions."""

import numpy as np
import pytest

from hopdyn.core import patterns as P


def test_random_draws_are_reproducible_and_independent_per_purpose():
    a = P.random_patterns(P.rng(5, "pattern:Xi"), "normal", (3, 4))
    b = P.random_patterns(P.rng(5, "pattern:Xi"), "normal", (3, 4))
    c = P.random_patterns(P.rng(5, "pattern:Other"), "normal", (3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    u = P.random_patterns(P.rng(0, "u"), "uniform", (2000,), low=2.0, high=3.0)
    assert u.min() >= 2.0 and u.max() < 3.0 and abs(u.mean() - 2.5) < 0.03
    s = P.random_patterns(P.rng(0, "b"), "binary", (4000,))
    assert set(np.unique(s)) == {-1.0, 1.0} and abs(s.mean()) < 0.05


def test_flip_mask_and_noise_corruptions():
    x = np.where(np.arange(200) % 3 == 0, 1.0, -1.0)
    gen = P.rng(1, "c")
    flipped = P.corrupt(x, gen, flip=0.2)
    assert np.sum(flipped != x) == 40 and np.all(np.abs(flipped) == 1)  # exactly 20%, sign flips
    masked = P.corrupt(x, gen, mask=0.25)
    assert np.sum(masked == 0) == 50
    noisy = P.corrupt(np.zeros(20000), gen, noise=0.3)
    assert abs(noisy.std() - 0.3) < 0.01
    gray = np.linspace(0, 1, 11)
    g = P.corrupt(gray[None], gen, flip=1.0)[0]
    np.testing.assert_allclose(g, 1 - gray)  # gray data flips as v -> lo + hi - v
    with pytest.raises(P.PatternError):
        P.corrupt(x, gen, flip=1.5)


def test_glyphs_are_distinct_binary_images():
    g = P.render_glyphs(list("ABC") + ["42"], 16)
    assert g.shape == (4, 256) and set(np.unique(g)) == {-1.0, 1.0}
    ink = (g > 0).mean(axis=1)
    assert np.all((ink > 0.03) & (ink < 0.5))
    assert len({tuple(r) for r in g}) == 4
    gray = P.render_glyphs(["A"], 24, "gray")
    assert gray.shape == (1, 576) and gray.min() >= 0 and gray.max() <= 1


@pytest.mark.parametrize("name", sorted(P.SAMPLE_IMAGES))
def test_matplotlib_sample_images(name):
    img = P.sample_images([name], 20)
    assert img.shape == (1, 400) and img.min() >= 0.0 and img.max() <= 1.0 and img.std() > 0.05


def test_files(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(P.load_file(str(tmp_path / "a.npy")), np.arange(6.0).reshape(2, 3))
    (tmp_path / "b.csv").write_text("1,2\n3,4\n")
    np.testing.assert_array_equal(P.load_file(str(tmp_path / "b.csv")), [[1, 2], [3, 4]])
    (tmp_path / "c.npy").write_bytes(b"not numpy")
    with pytest.raises(P.PatternError, match="could not read"):
        P.load_file(str(tmp_path / "c.npy"))
    (tmp_path / "d.txt").write_text("1 2 3")
    with pytest.raises(P.PatternError, match="unsupported file type"):
        P.load_file(str(tmp_path / "d.txt"))
    with pytest.raises(P.PatternError, match="file not found"):
        P.load_file(str(tmp_path / "missing.npy"))
