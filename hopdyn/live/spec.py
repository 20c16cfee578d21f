"""What a live page shows and lets a person change, read from a scenario.

``LiveSpec.from_built`` finds the roles the seed's demo gives its layers:

- the **visible** layer: ``outputs.layer`` (drawn as an image when
  ``outputs.image_shape`` is given), else the largest layer;
- its **stored patterns**: ``outputs.patterns``, or the pattern set the visible
  layer starts from or is read out against; they place the PCA's landmarks;
- the **label** layer: another layer that starts from, or is read out against,
  a second pattern set with one row per stored pattern (seed 001's one-hot
  labels).  With both, the page offers the two modes of the seed: *generate*
  (the label clamped, the image free) and *classify* (the image clamped, the
  label free); without, the scenario's own clamps stay (mode *free*);
- the **memory** layer whose ``beta`` the page may change: the first layer
  other than those two with a ``beta`` (the seed's softmax memories), else
  the visible or label layer's.

Each layer is drawn as what it is: an image (the visible layer with an
``image_shape``), bars (up to ``BARS`` units) or a heat map.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..scenario.build import Built

BARS = 32
"""Layers of at most this many units are drawn as bars; larger ones as a heat map."""

LABEL_LOGIT = 10.0
"""The clamped label's logits when the scenario gives no scale of its own:
``softmax(10 e_k)`` puts 0.9995 on label ``k`` (seed 001's value)."""


@dataclasses.dataclass(frozen=True)
class LayerView:
    """How one layer is drawn: ``kind`` is ``image``, ``bars`` or ``heatmap``;
    ``shape`` the image's or heat map's (rows, columns); ``lo``/``hi`` the
    colour range (``None``: each frame's own)."""

    name: str
    kind: str
    shape: tuple[int, int]
    lo: float | None = None
    hi: float | None = None


@dataclasses.dataclass(frozen=True)
class LiveSpec:
    """A scenario's roles for the live page (see the module docstring).

    **Attributes:** ``built`` (the scenario), ``visible``, ``images`` (the
    visible layer's stored patterns, ``(K, n)``, or ``None``), ``label`` and
    ``labels`` (the label layer and its patterns, or ``None``), ``label_scale``,
    ``memory`` (the layer whose ``beta`` may change, or ``None``), ``views``
    (one ``LayerView`` per layer), ``names`` (the stored patterns' names).
    """

    built: Built
    visible: str
    images: np.ndarray | None
    label: str | None
    labels: np.ndarray | None
    label_scale: float
    memory: str | None
    views: tuple[LayerView, ...]
    names: tuple[str, ...]

    @property
    def modes(self) -> tuple[str, ...]:
        """``generate`` and ``classify`` when there are labels; else ``free``."""
        return ("generate", "classify") if self.label is not None else ("free",)

    @functools.cached_property
    def projection(self) -> Projection:
        """The visible layer's 2-D PCA (computed once)."""
        return Projection(self)

    def page(self) -> dict:
        """What a page shows of the network, whatever drives it (the live
        server's first message, an exported run): names, roles, how each layer
        is drawn, the stored patterns' names and their place on the PCA."""
        sc = self.built.scenario
        return {
            "scenario": sc.name,
            "description": " ".join(str(sc.description or "").split()),
            "visible": self.visible,
            "label_layer": self.label,
            "memory": self.memory,
            "views": [dataclasses.asdict(v) for v in self.views],
            "names": list(self.names),
            "landmarks": self.projection.landmarks,
            "axes": self.projection.axes,
        }

    @property
    def memories(self) -> int:
        return 0 if self.images is None else len(self.images)

    @property
    def first_mode(self) -> str:
        """The scenario's own: classify when it clamps the visible layer."""
        if self.label is None:
            return "free"
        return "classify" if self.visible in self.built.network.clamps else "generate"

    @classmethod
    def from_built(cls, built: Built) -> LiveSpec:
        sc, net = built.scenario, built.network
        sizes = {a: n.size for a, n in net.neurons.items()}
        out = sc.outputs

        def source(layer: str) -> tuple[str | None, float]:
            """The pattern set a layer starts from or is read out against, and the start's scale."""
            init = (sc.initial or {}).get(layer)
            if init is not None and getattr(init, "pattern", None):
                return init.pattern, float(init.scale)
            ro = out.readout if out is not None else None
            if ro is not None and ro.layer == layer:
                return ro.patterns, 1.0
            return None, 1.0

        def rows(name: str | None, layer: str) -> np.ndarray | None:
            if name is None or name not in built.patterns:
                return None
            p = np.asarray(built.patterns[name], np.float64)
            return p.reshape(len(p), -1) if p.ndim >= 2 and p[0].size == sizes[layer] else None

        drawn = out.layer if out is not None and out.layer and out.image_shape else None
        with_patterns = [a for a in net.neurons if rows(source(a)[0], a) is not None]
        visible = drawn or max(with_patterns or sizes, key=sizes.get)
        image_name = out.patterns if out is not None and out.patterns and visible == out.layer else source(visible)[0]
        images = rows(image_name, visible)
        image_shape = tuple(out.image_shape) if drawn else _glyph_shape(sc, image_name, sizes[visible])
        label = labels = None
        scale = LABEL_LOGIT
        if images is not None:
            for layer in net.neurons:
                name, s = source(layer)
                p = rows(name, layer) if layer != visible and name != image_name else None
                if p is not None and len(p) == len(images):
                    label, labels = layer, p
                    scale = s if s > 1.0 else LABEL_LOGIT  # a start of 1 e_k is not a clamp that decides
                    break
        with_beta = [a for a, n in net.neurons.items() if hasattr(n.lagrangian, "beta")]
        memory = next((a for a in with_beta if a not in (visible, label)), with_beta[0] if with_beta else None)
        views = []
        for a, n in net.neurons.items():
            if a == visible and image_shape is not None:
                lo, hi = (float(images.min()), float(images.max())) if images is not None else (None, None)
                views.append(LayerView(a, "image", (int(image_shape[0]), int(np.prod(image_shape[1:]))), lo, hi))
            elif n.size <= BARS:
                views.append(LayerView(a, "bars", (1, n.size)))
            else:
                cols = int(np.ceil(np.sqrt(n.size)))
                views.append(LayerView(a, "heatmap", (int(np.ceil(n.size / cols)), cols)))
        names = _pattern_names(built, image_name, 0 if images is None else len(images))
        return cls(built, visible, images, label, labels, scale, memory, tuple(views), names)


def _glyph_shape(sc, name: str | None, size: int) -> tuple[int, int] | None:
    """The image shape of a pattern set drawn from an ``images`` source (square glyphs of ``size``)."""
    images = getattr(sc.patterns.get(name), "images", None) if name else None
    side = getattr(images, "size", None)
    return (int(side), int(side)) if side and int(side) ** 2 == size else None


def _pattern_names(built: Built, name: str | None, k: int) -> tuple[str, ...]:
    """The stored patterns' names: the letters of a ``letters`` source, else ``name[i]``."""
    spec = built.scenario.patterns.get(name) if name else None
    images = getattr(spec, "images", None)
    letters = getattr(images, "names", None) if images is not None else None
    if letters and len(letters) == k:
        return tuple(str(s) for s in letters)
    return tuple(f"{name}[{i}]" for i in range(k))


def load_spec(file: str, overrides: list[str] | None = None) -> LiveSpec:
    """Load, validate and build a scenario (a ``ScenarioError`` on bad input,
    before anything runs) and read its roles.  The page advances the ODE, so a
    scenario whose method is a discrete rule is refused with the way round."""
    from ..scenario.build import load_and_build
    from ..scenario.loader import ScenarioError
    from ..solvers.registry import get_method

    built = load_and_build(file, overrides)
    method = get_method(built.settings.method)
    if method is not None and not method.continuous:
        raise ScenarioError(
            built.file,
            "solver.method",
            f"{built.settings.method!r} is a discrete rule; the live page integrates the ODE "
            "(add --set solver.method=auto)",
        )
    return LiveSpec.from_built(built)


def significant(values, digits: int = 4) -> list:
    """``values`` (any shape) as nested lists of numbers rounded to ``digits``
    significant digits: what a screen shows, and small pages and frames."""
    a = np.asarray(values, np.float64)
    return np.vectorize(lambda x: float(f"{x:.{digits}g}"), otypes=[np.float64])(a).tolist() if a.size else a.tolist()


class Projection:
    """The visible layer's 2-D PCA, fitted on its stored patterns (the
    landmarks); a layer without stored patterns is shown on its first two units."""

    def __init__(self, spec: LiveSpec):
        images = spec.images
        if images is not None and len(images) >= 2:
            self.centre = images.mean(axis=0)
            _, _, vt = np.linalg.svd(images - self.centre, full_matrices=False)
            self.basis = vt[:2] if len(vt) >= 2 else np.vstack([vt, np.zeros_like(vt)])
            self.landmarks = [[round(float(c), 5) for c in self.place(p)] for p in images]
            self.axes = ["PC 1 of the stored patterns", "PC 2 of the stored patterns"]
        else:
            n = spec.built.network.neurons[spec.visible].size
            self.centre = np.zeros(n)
            self.basis = np.eye(2, n)
            self.landmarks = []
            self.axes = [f"{spec.visible}[0]", f"{spec.visible}[1]" if n > 1 else "0"]

    def place(self, v) -> np.ndarray:
        """Coordinates of one state of the visible layer."""
        return self.basis @ (np.asarray(v, np.float64).ravel() - self.centre)
