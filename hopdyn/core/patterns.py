"""Pattern sources (random draws, files, literal values, rendered glyphs, the
sample images that ship with matplotlib, one-hot labels) and corruptions
(sign flips, Gaussian noise, masking).

Everything here is plain numpy: patterns are data, made once before any solve.
Random draws use ``rng(seed, purpose)``, a generator seeded by the scenario
seed *and* a name, so adding a pattern never changes the numbers of another.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from collections.abc import Sequence

import numpy as np


class PatternError(ValueError):
    """A pattern could not be made; the message says why (the scenario layer adds the key)."""


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose (a pattern name, an initial state...), reproducible
    from the scenario seed."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode())])


def random_patterns(
    gen: np.random.Generator,
    distribution: str,
    shape: Sequence[int],
    low=0.0,
    high=1.0,
    mean=0.0,
    std=1.0,
    clusters: int | None = None,
    spread: float = 0.1,
    norm: float | None = None,
) -> np.ndarray:
    """``uniform`` on ``[low, high)``, ``normal(mean, std)``, or ``binary`` (+-1 with equal odds).

    With ``clusters = c`` the rows form ``c`` contiguous groups: ``c`` centres are
    drawn from the distribution and each row is its centre plus ``N(0, spread^2)``
    offsets (binary: each sign of the centre flipped with probability ``spread``).
    ``norm`` rescales every row to that Euclidean norm."""
    shape = tuple(int(s) for s in shape)
    if clusters is not None:
        if not 1 <= clusters <= shape[0]:
            raise PatternError(f"clusters must be between 1 and the number of rows {shape[0]}, got {clusters}")
        centres = random_patterns(gen, distribution, (clusters,) + shape[1:], low, high, mean, std)
        rows = centres[np.arange(shape[0]) * clusters // shape[0]]
        if distribution == "binary":
            out = np.where(gen.random(shape) < spread, -rows, rows)
        else:
            out = rows + gen.normal(0.0, spread, shape)
        return _renorm(out, norm)
    return _renorm(_draw(gen, distribution, shape, low, high, mean, std), norm)


DISTRIBUTIONS = ("uniform", "normal", "binary")  # what random_patterns and DrawnRows draw


class LazyRows:
    """A read-only array of float64 rows read a slice at a time, so an
    ensemble costs the memory of the chunk being solved rather than the whole
    ensemble's.  Subclasses give ``shape``, ``rows(start, stop)``,
    ``identity()`` (what decides the numbers, compared by a resumed study
    instead of hashing them) and ``reshape``; ``np.asarray`` reads every row."""

    dtype = np.dtype(np.float64)
    shape: tuple[int, ...] = ()

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def identity(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _row_shape(self, shape) -> tuple[int, ...]:
        """The row shape that ``reshape(*shape)`` asks for (rows first; ``-1`` allowed)."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        row = int(np.prod(self.shape[1:], dtype=np.int64))
        known = int(np.prod([s for s in shape[1:] if s != -1], dtype=np.int64))
        tail = tuple(row // max(1, known) if s == -1 else s for s in shape[1:])
        if shape[0] not in (-1, len(self)) or int(np.prod(tail, dtype=np.int64)) != row:
            raise ValueError(f"cannot reshape rows of shape {self.shape} into {shape}")
        return tail

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"row {key} out of range ({len(self)} rows)")
            return self.rows(i, i + 1)[0]
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            return self.rows(start, stop)
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None):
        a = self.rows(0, len(self))
        return a if dtype is None else a.astype(dtype, copy=False)


class DrawnRows(LazyRows):
    """``random_patterns(rng(seed, purpose), distribution, shape, ...)`` without
    holding it: each slice is drawn when it is read.

    The rows are the same numbers as the whole draw, because the generator's
    stream is consumed row after row (``tests/test_streaming.py`` checks every
    distribution against the whole draw).  Reading rows in order draws each
    once; reading before the last row read starts the generator again from
    its seed, and skipping rows draws and discards them a block at a time.
    ``identity`` names the rows by what decides them (their definition and
    numpy's version).

    **Arguments:** ``seed``, ``purpose``: as ``rng``; ``distribution``,
    ``shape`` (rows first), ``low``, ``high``, ``mean``, ``std``: as
    ``random_patterns`` (no clusters, no norm).
    """

    _BLOCK = 2**20  # values drawn at once when rows are skipped

    def __init__(self, seed, purpose, distribution, shape, low=0.0, high=1.0, mean=0.0, std=1.0):
        if distribution not in DISTRIBUTIONS:
            raise PatternError(f"unknown distribution {distribution!r}, expected uniform, normal or binary")
        self.shape = tuple(int(s) for s in shape)
        self._row = int(np.prod(self.shape[1:], dtype=np.int64))
        self._args = (int(seed), str(purpose), distribution, float(low), float(high), float(mean), float(std))
        self._gen, self._next = None, 0

    def identity(self) -> str:
        """What decides the numbers: the definition, the shape and numpy's version."""
        return repr(("DrawnRows", self._args, self.shape, np.__version__))

    def reshape(self, *shape):
        """The same rows in another row shape (rows first; ``-1`` allowed)."""
        seed, purpose, distribution, low, high, mean, std = self._args
        return DrawnRows(seed, purpose, distribution, (len(self), *self._row_shape(shape)), low, high, mean, std)

    def _draw(self, rows: int) -> np.ndarray:
        _, _, distribution, low, high, mean, std = self._args
        out = _draw(self._gen, distribution, (rows, self._row), low, high, mean, std)
        self._next += rows
        return out

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (a new array, ``(stop - start, *shape[1:])``)."""
        start, stop = max(0, int(start)), min(len(self), int(stop))
        stop = max(start, stop)
        if self._gen is None or start < self._next:
            self._gen, self._next = rng(self._args[0], self._args[1]), 0
        while self._next < start:  # skipped rows are drawn and discarded, a block at a time
            self._draw(min(start - self._next, max(1, self._BLOCK // max(1, self._row))))
        return self._draw(stop - start).reshape((stop - start, *self.shape[1:]))

    def __repr__(self) -> str:
        return f"DrawnRows(shape={self.shape}, {self._args[2]}, seed={self._args[0]}, purpose={self._args[1]!r})"


class StackedRows(LazyRows):
    """Parts of an ensemble one after the other (``np.concatenate(parts)``)
    without joining them: arrays are held as they are, ``LazyRows`` parts
    (random starts) are read a slice at a time.  An ensemble that mixes a few
    corrupted patterns or a grid with many random starts then holds the few,
    not the many.  ``identity`` names array parts by a hash of their float64
    bytes and lazy parts by theirs.

    **Arguments:** ``parts``: arrays or ``LazyRows`` whose rows have one shape.
    """

    def __init__(self, parts):
        self._parts = [p if isinstance(p, LazyRows) else np.asarray(p, np.float64) for p in parts]
        if not self._parts:
            raise PatternError("no parts to stack")
        tails = {tuple(p.shape[1:]) for p in self._parts}
        if len(tails) != 1:
            raise PatternError(f"parts with rows of different shapes {sorted(tails)} cannot be stacked")
        self.shape = (sum(len(p) for p in self._parts), *self._parts[0].shape[1:])
        self._ends = np.cumsum([len(p) for p in self._parts])

    def identity(self) -> str:
        """Each part's identity: lazy parts their own, arrays a hash of their bytes."""
        import hashlib

        def one(p):
            if isinstance(p, LazyRows):
                return p.identity()
            return hashlib.sha256(np.ascontiguousarray(p).tobytes()).hexdigest()

        return repr(("StackedRows", [one(p) for p in self._parts], self.shape))

    def reshape(self, *shape):
        """The same rows in another row shape (rows first; ``-1`` allowed)."""
        tail = self._row_shape(shape)
        return StackedRows([p.reshape((len(p), *tail)) for p in self._parts])

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (a new array, ``(stop - start, *shape[1:])``)."""
        start, stop = max(0, int(start)), min(len(self), int(stop))
        out, lazy, begin = [], False, 0
        for part, end in zip(self._parts, self._ends):
            lo, hi = max(start, begin), min(stop, int(end))
            if lo < hi:
                lazy = isinstance(part, LazyRows)  # a lazy part gives a new array, a held one a view
                out.append(part.rows(lo - begin, hi - begin) if lazy else part[lo - begin : hi - begin])
            begin = int(end)
        if len(out) > 1:
            return np.concatenate(out)
        if not out:
            return np.empty((0, *self.shape[1:]), np.float64)
        return out[0] if lazy else out[0].copy()  # a chunk inside the random part: not copied twice

    def __repr__(self) -> str:
        kinds = ", ".join(repr(p) if isinstance(p, LazyRows) else f"array{p.shape}" for p in self._parts)
        return f"StackedRows(shape={self.shape}, parts=[{kinds}])"


def _renorm(x: np.ndarray, norm: float | None) -> np.ndarray:
    if norm is None:
        return x
    flat = x.reshape(x.shape[0], -1)
    return (norm * flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-300)).reshape(x.shape)


def _draw(gen, distribution, shape, low, high, mean, std) -> np.ndarray:
    if distribution == "uniform":
        return gen.uniform(low, high, shape)
    if distribution == "normal":
        return gen.normal(mean, std, shape)
    if distribution == "binary":
        return np.where(gen.random(shape) < 0.5, -1.0, 1.0)
    raise PatternError(f"unknown distribution {distribution!r}, expected uniform, normal or binary")


def _npy_header(f, path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an open ``.npy`` stream's header (nothing else read)."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except Exception as e:  # numpy's errors for corrupt headers vary
        raise PatternError(f"could not read {path}: not a valid .npy array ({e})") from None
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _regular_file(path: str) -> None:
    if not os.path.exists(path):
        raise PatternError(f"file not found: {path}")
    if not os.path.isfile(path):
        raise PatternError(f"{path} is not a regular file (a folder, device or FIFO); expected .npy, .npz or .csv")


def _npz_member(z: zipfile.ZipFile, path: str, key: str | None) -> str:
    names = [n[: -len(".npy")] for n in z.namelist() if n.endswith(".npy")]
    if key is None:
        if len(names) != 1:
            raise PatternError(f"{path} holds arrays {names}: name one with `key`")
        key = names[0]
    if key not in names:
        raise PatternError(f"{path} has no array {key!r} (it holds {names})")
    return key + ".npy"


def file_array_header(path: str, key: str | None = None) -> tuple[tuple[int, ...], np.dtype] | None:
    """The shape and dtype an ``.npy`` or ``.npz`` file declares, from its header
    alone (a compressed ``.npz`` is not inflated); ``None`` for ``.csv``."""
    _regular_file(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            with open(path, "rb") as f:
                return _npy_header(f, path)
        if ext == ".npz":
            with zipfile.ZipFile(path) as z, z.open(_npz_member(z, path, key)) as f:
                return _npy_header(f, path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise PatternError(f"could not read {path}: {e}") from None
    if ext == ".csv":
        return None
    raise PatternError(f"unsupported file type {ext!r}, expected .npy, .npz or .csv")


def load_file(path: str, key: str | None = None) -> np.ndarray:
    """An array from ``.npy``, ``.npz`` (``key``, or its only array) or ``.csv``.
    The size an array declares is checked against the memory budget before it
    is read, and against the file's length (a truncated ``.npy``)."""
    from .budget import budget, human

    header = file_array_header(path, key)
    ext = os.path.splitext(path)[1].lower()
    if header is not None:
        shape, dtype = header
        count = int(np.prod(shape, dtype=np.float64))
        if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
            raise PatternError(f"{path} does not hold real numbers (dtype {dtype})")
        need = count * (dtype.itemsize + 8)  # as stored, and as float64
        if need > budget():
            raise PatternError(
                f"{path} declares an array of shape {list(shape)} that needs about {human(need)} "
                f"when loaded, more than the memory budget of {human(budget())}"
            )
        if ext == ".npy" and count * dtype.itemsize > os.path.getsize(path):
            raise PatternError(f"{path} is truncated: its header declares shape {list(shape)}")
    elif 8 * os.path.getsize(path) > budget():
        raise PatternError(f"{path} is too large to parse within the memory budget of {human(budget())}")
    try:
        if ext == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arr = z[key if key is not None else list(z.keys())[0]]
        else:
            arr = np.loadtxt(path, delimiter=",", ndmin=2)
    except PatternError:
        raise
    except Exception as e:  # numpy's errors for corrupt files vary
        raise PatternError(f"could not read {path}: {e}") from None
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise PatternError(f"{path} does not hold real numbers (dtype {arr.dtype})")
    return arr.astype(np.float64)


def _to_values(gray: np.ndarray, encoding: str) -> np.ndarray:
    """Gray levels in [0, 1] (1 = ink) to ``gray`` or ``binary`` (+-1, threshold 0.5)."""
    if encoding == "gray":
        return gray
    if encoding == "binary":
        return np.where(gray > 0.5, 1.0, -1.0)
    raise PatternError(f"unknown encoding {encoding!r}, expected binary or gray")


def render_glyphs(names: Sequence[str], size: int, encoding: str = "binary") -> np.ndarray:
    """Glyphs (letters, digits, any short text) rendered with matplotlib's Agg
    backend into ``size x size`` images, flattened: shape ``(len(names), size*size)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if size < 4:
        raise PatternError(f"size must be >= 4 pixels, got {size}")
    out = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise PatternError(f"glyph names must be non-empty strings, got {name!r}")
        fig = Figure(figsize=(1, 1), dpi=size)
        canvas = FigureCanvasAgg(fig)
        fig.text(
            0.5,
            0.45,
            name,
            ha="center",
            va="center",
            fontsize=0.8 * 72 / max(1, len(name)) ** 0.8,
            family="DejaVu Sans",
            weight="bold",
        )
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float64)[..., :3] / 255.0
        ink = 1.0 - rgba.mean(axis=-1)
        out.append(_to_values(ink[:size, :size], encoding).ravel())
    return np.stack(out)


SAMPLE_IMAGES = {
    "grace_hopper": "grace_hopper.jpg",
    "minduka": "Minduka_Present_Blue_Pack.png",
    "logo": "logo2.png",
    "mri": "s1045.ima.gz",
    "elevation": "jacksboro_fault_dem.npz",
    "topobathy": "topobathy.npz",
}
"""The images that ship with matplotlib, by the name a scenario uses."""


def _sample_gray(name: str) -> np.ndarray:
    import matplotlib
    from PIL import Image

    if name not in SAMPLE_IMAGES:
        raise PatternError(f"unknown sample image {name!r}, expected one of {', '.join(SAMPLE_IMAGES)}")
    path = os.path.join(matplotlib.get_data_path(), "sample_data", SAMPLE_IMAGES[name])
    if path.endswith(".ima.gz"):
        with gzip.open(path, "rb") as f:
            img = np.frombuffer(f.read(), np.uint16).astype(np.float64).reshape(256, 256)
    elif path.endswith(".npz"):
        with np.load(path) as z:
            img = np.asarray(z[list(z.keys())[0]], np.float64)
    else:
        with Image.open(path) as im:
            img = np.asarray(im.convert("L"), np.float64)
    return img


def sample_images(names: Sequence[str], size: int, encoding: str = "gray") -> np.ndarray:
    """matplotlib's sample images, grayscale, resized to ``size x size`` and scaled
    to [0, 1] (1 = bright), flattened: shape ``(len(names), size*size)``."""
    from PIL import Image

    if size < 4:
        raise PatternError(f"size must be >= 4 pixels, got {size}")
    out = []
    for name in names:
        img = _sample_gray(name)
        lo, hi = np.nanmin(img), np.nanmax(img)
        img = np.nan_to_num((img - lo) / (hi - lo if hi > lo else 1.0))
        small = Image.fromarray((img * 255).astype(np.uint8)).resize((size, size), Image.Resampling.LANCZOS)
        out.append(_to_values(np.asarray(small, np.float64) / 255.0, encoding).ravel())
    return np.stack(out)


def cosine_similarity(x: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Cosine similarity of each state (rows of ``x``, or one state) with each
    stored pattern (rows of ``patterns``): shape ``(B, K)``, or ``(K,)`` for one
    state.  A zero vector has similarity 0 with everything."""
    p = np.asarray(patterns, np.float64).reshape(len(patterns), -1)
    one = np.ndim(x) == 1
    v = np.asarray(x, np.float64).reshape(1 if one else len(x), -1)
    sim = (v @ p.T) / (np.linalg.norm(v, axis=1, keepdims=True) * np.linalg.norm(p, axis=1)[None, :] + 1e-300)
    return sim[0] if one else sim


# ------------------------------------------------------------------ corruptions
def corrupt(
    x: np.ndarray,
    gen: np.random.Generator,
    flip: float = 0.0,
    noise: float = 0.0,
    mask: float = 0.0,
    occlude: float = 0.0,
    fill: float = 0.0,
) -> np.ndarray:
    """Corrupt a pattern (or a batch of them, leading axis): ``flip`` a fraction
    of entries (exactly ``round(flip * n)`` of them; a sign flip for +-1 data, or
    ``lo + hi - v`` for data on ``[lo, hi]``), add ``N(0, noise^2)`` noise,
    ``mask`` (zero) a fraction of entries chosen at random, and ``occlude`` the
    last fraction of entries (the bottom of a row-major image) with ``fill``.
    Applied in that order."""
    x = np.array(x, dtype=np.float64, copy=True)
    flat = x.reshape(x.shape[0] if x.ndim > 1 else 1, -1)
    n = flat.shape[1]
    for frac, what in ((flip, "flip"), (mask, "mask"), (occlude, "occlude")):
        if not 0.0 <= frac <= 1.0:
            raise PatternError(f"{what} must be a fraction in [0, 1], got {frac}")
    if noise < 0:
        raise PatternError(f"noise must be >= 0, got {noise}")
    lo, hi = float(flat.min()), float(flat.max())
    for row in flat:
        if flip:
            idx = gen.choice(n, int(round(flip * n)), replace=False)
            if lo < 0 and np.allclose(np.abs(row), np.abs(row).max()):
                row[idx] = -row[idx]  # +-1 (or +-a) data: a sign flip
            else:
                row[idx] = lo + hi - row[idx]
        if noise:
            row += gen.normal(0.0, noise, n)
        if mask:
            row[gen.choice(n, int(round(mask * n)), replace=False)] = 0.0
        if occlude:
            row[n - int(round(occlude * n)) :] = fill
    return flat.reshape(x.shape)
