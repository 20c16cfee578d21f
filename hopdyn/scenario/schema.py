"""The typed schema of scenario files (``docs`` and ``SCENARIO_FORMAT.md``).

Pydantic models, strict about keys (unknown keys are errors) and values
(finite numbers, positive sizes...).  The parts that follow the library are
generated from it, so they cannot drift: each Lagrangian and synapse type
from its class's ``__init__`` signature (and its registration), the
``solver:`` section from ``SolveSettings``, the method list from the method
registry, the ``capacity:`` section from ``capacity``'s signature.
``scenario_model().model_json_schema()`` is what ``hopdyn schema`` prints.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from ..analysis.capacity import capacity
from ..analysis.rule_comparison import compare_rules
from ..model.params import (
    LAGRANGIANS,
    SYNAPSES,
    Distribution,
    Finite,
    NonNegative,
    Positive,
    Size,
    parameters,
    pattern_ref,
)
from ..solvers.registry import METHODS, method_names
from ..solvers.settings import SolveSettings, SteadyState

Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
DRAWN = "uniform on [low, high), normal(mean, std), or binary +-1"  # what each distribution draws
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(model: BaseModel, keys: tuple[str, ...], what: str) -> None:
    given = [k for k in keys if getattr(model, k) is not None]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise ValueError(f"{what} needs exactly one of {', '.join(keys)} ({found})")


# ------------------------------------------------------------------ patterns
class RandomPatterns(_Model):
    """Random patterns drawn from the scenario seed."""

    distribution: Distribution = Field(description=DRAWN)
    shape: list[Size] = Field(
        min_length=1, max_length=8, description="the array's shape, (rows, ...): one row per pattern"
    )
    low: Finite = Field(0.0, description="uniform: lower bound")
    high: Finite = Field(1.0, description="uniform: upper bound (excluded)")
    mean: Finite = Field(0.0, description="normal: mean")
    std: Positive = Field(1.0, description="normal: standard deviation")
    clusters: Size | None = Field(None, description="rows in this many contiguous groups around random centres")
    spread: NonNegative = Field(
        0.1, description="clusters: std of the offsets from the centre (binary: flip probability)"
    )
    norm: Positive | None = Field(None, description="rescale every row to this Euclidean norm")


class Images(_Model):
    """Rendered glyphs (``letters``: any short strings) or matplotlib's sample images."""

    source: Literal["letters", "sample"] = Field(
        description="letters (render the names as glyphs) or sample (matplotlib's sample images)"
    )
    names: list[str] = Field(
        min_length=1, max_length=1000, description="the glyphs (any short strings) or sample image names"
    )
    size: Annotated[int, Field(ge=4, le=512)] = Field(16, description="images are size x size pixels")
    encoding: Literal["binary", "gray"] | None = Field(
        None, description="binary (+-1) or gray ([0, 1]); default binary for letters, gray for sample images"
    )


class PatternSource(_Model):
    """A named array: exactly one of random, file, values, images, onehot."""

    random: RandomPatterns | None = Field(None, description="draw the array from the scenario seed")
    file: str | None = Field(None, description=".npy, .npz or .csv, relative to the scenario file")
    key: str | None = Field(None, description="the array's name inside an .npz file")
    values: list[Any] | None = Field(None, description="a (nested) list of numbers")
    images: Images | None = Field(None, description="render glyphs or load sample images")
    onehot: Size | None = Field(None, description="the n x n identity (one-hot labels)")
    scale: Finite = Field(1.0, description="multiplies the array")

    @model_validator(mode="after")
    def _one_source(self):
        _exactly_one(self, ("random", "file", "values", "images", "onehot"), "a pattern")
        if self.key is not None and self.file is None:
            raise ValueError("`key` only goes with `file`")
        return self


# ------------------------------------------------------------------ synapse extensions
class UnlearnSpec(_Model):
    """Hopfield, Feinstein & Palmer (1983): relax random states to fixed points and
    subtract rate/N of each one's outer product from W."""

    dreams: Annotated[int, Field(ge=1, le=100_000)] = Field(description="relaxations from random states")
    rate: Positive = Field(0.01, description="each dream's outer product is subtracted at rate/N")


# ------------------------------------------------------------------ initial states
class Corruption(_Model):
    flip: Fraction = Field(0.0, description="fraction of entries flipped (sign, or lo+hi-v for [lo, hi] data)")
    noise: NonNegative = Field(0.0, description="standard deviation of added Gaussian noise")
    mask: Fraction = Field(0.0, description="fraction of entries set to zero")
    occlude: Fraction = Field(0.0, description="fraction of entries at the end (the bottom of an image) set to `fill`")
    fill: Finite = Field(0.0, description="the value occluded entries take")


class RandomInit(_Model):
    distribution: Distribution = Field(description=DRAWN)
    low: Finite = Field(0.0, description="uniform: lower bound")
    high: Finite = Field(1.0, description="uniform: upper bound (excluded)")
    mean: Finite = Field(0.0, description="normal: mean")
    std: Positive = Field(1.0, description="normal: standard deviation")
    batch: Size | None = Field(None, description="draw this many states (a batch)")


class InitialSpec(_Model):
    """A layer's internal state at t=0: exactly one of zeros, values, random, pattern."""

    zeros: Literal[True] | None = Field(None, description="start at zero")
    values: list[Any] | None = Field(None, description="the state itself, or one row per batch member")
    random: RandomInit | None = Field(None, description="draw the state from the scenario seed")
    pattern: str | None = Field(None, description="a pattern name; with index (an int, a list, or 'all' for a batch)")
    index: (
        Annotated[int, Field(ge=0)]
        | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
        | Literal["all"]
        | None
    ) = Field(None, description="which rows of the pattern (an int, a list of ints for a batch, or 'all')")
    corrupt: Corruption | None = Field(None, description="corrupt the chosen rows (flip, noise, mask, occlude)")
    scale: Finite = Field(1.0, description="multiplies the state")

    @model_validator(mode="after")
    def _one_kind(self):
        _exactly_one(self, ("zeros", "values", "random", "pattern"), "an initial state")
        if self.pattern is None and (self.index is not None or self.corrupt is not None):
            raise ValueError("`index` and `corrupt` only go with `pattern`")
        if self.pattern is not None and self.index is None:
            raise ValueError("`pattern` needs an `index` (an int, a list of ints, or 'all')")
        return self


class ClampMask(_Model):
    """Part of a layer to hold fixed: exactly one of indices, fraction, first, last, values."""

    indices: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="the units held fixed")
    fraction: Fraction | None = Field(None, description="a random fraction of the units (from the seed)")
    first: Annotated[int, Field(ge=0)] | None = Field(None, description="hold the first n units")
    last: Annotated[int, Field(ge=0)] | None = Field(None, description="hold the last n units")
    values: list[Any] | None = Field(None, description="booleans of the layer's shape")

    @model_validator(mode="after")
    def _one_kind(self):
        _exactly_one(self, ("indices", "fraction", "first", "last", "values"), "a clamp mask")
        return self


# ------------------------------------------------------------------ solver, checks, outputs
class LyapunovCheck(_Model):
    tolerance: NonNegative = Field(1e-6, description="largest allowed dE/dt (beyond the rounding of its terms)")


class ReadoutCheck(_Model):
    min_accuracy: Fraction | None = Field(None, description="fraction of members whose readout matches `expect`")
    max_error: NonNegative | None = Field(None, description="largest allowed mean pixel error of the readout layer")


class FixedPointCheck(_Model):
    residual: NonNegative = Field(1e-6, description="largest allowed max |dx/dt| at the refined fixed point")


class ChecksSpec(_Model):
    lyapunov: bool | LyapunovCheck = Field(
        LyapunovCheck(), description="require dE/dt <= tolerance: true, false, or {tolerance}"
    )
    converged: bool = Field(False, description="require every member to reach a steady state")
    readout: ReadoutCheck | None = Field(None, description="require a readout accuracy or pixel error")
    convexity: bool = Field(True, description="verify: every Lagrangian convex at the visited states")
    gradient: bool = Field(True, description="verify: every coupling derives from the energy (no `directed` synapse)")
    fixed_point: bool | FixedPointCheck = Field(False, description="verify: each end state refines to a fixed point")
    stable: bool = Field(False, description="verify: each end state is a stable fixed point")
    classify: Size | Literal["all"] = Field(
        64,
        description="verify: how many batch members (the first) are refined and classified; `fixed_point` and "
        "`stable` hold for those, and the report says how many of how many",
    )


class ReadoutSpec(_Model):
    """Compare a layer's final activation with stored patterns: the nearest one
    (largest cosine similarity) and the mean absolute error to it."""

    layer: Name = Field(description="the layer whose final activation is read")
    patterns: str = Field(description="the stored patterns it is compared with (a pattern name)")
    expect: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="expected pattern index per batch member; default: the `index` of the initial state"
    )


class OutputsBase(_Model):
    plots: list[Literal["energy", "pca", "states", "phase", "animation"]] = Field(
        ["energy"], description="figures to draw: energy, pca, states, phase, animation"
    )
    layer: Name | None = Field(None, description="the layer shown by pca/states/animation (default: the first)")
    patterns: str | None = Field(None, description="stored patterns marked in pca/states (default: none)")
    image_shape: list[Size] | None = Field(None, description="show the layer as an image of this shape")
    show: Literal["activation", "state"] = Field(
        "activation", description="plot the layer's activations or internal states"
    )
    readout: ReadoutSpec | None = Field(None, description="compare a layer's final activation with stored patterns")


# ------------------------------------------------------------------ basins and capacity
class CorruptionSweep(_Model):
    """Stored patterns corrupted at several levels, ``samples`` starts per level."""

    kind: Literal["flip", "noise", "mask"] = Field(
        "flip", description="flip signs, add Gaussian noise, or mask entries"
    )
    levels: list[NonNegative] = Field(
        min_length=1,
        max_length=100,
        description="corruption levels (fractions for flip and mask, standard deviations for noise)",
    )
    samples: Size = Field(100, description="starts per level (spread over the chosen patterns)")
    patterns: list[Annotated[int, Field(ge=0)]] | Literal["all"] = Field(
        "all", description="which stored patterns to corrupt ('all' or row indices)"
    )


class RandomStarts(_Model):
    """States of the layer drawn at random."""

    samples: Size = Field(1000, description="how many random starts")
    distribution: Distribution = Field("uniform", description=DRAWN)
    low: Finite = Field(-1.0, description="uniform: lower bound")
    high: Finite = Field(1.0, description="uniform: upper bound (excluded)")
    mean: Finite = Field(0.0, description="normal: mean")
    std: Positive = Field(1.0, description="normal: standard deviation")


class GridPoint(_Model):
    """A point of the layer's state space: ``origin``, a stored pattern (optionally
    negated), or literal values."""

    origin: Literal[True] | None = Field(None, description="the zero state")
    pattern: int | None = Field(None, ge=0, description="row of the basin's patterns")
    negated: bool = Field(False, description="the negation of the pattern")
    values: list[Finite] | None = Field(None, description="literal values of the layer's state")

    @model_validator(mode="after")
    def _one_kind(self):
        _exactly_one(self, ("origin", "pattern", "values"), "a grid point")
        return self


class GridStarts(_Model):
    """A ``resolution x resolution`` grid on the plane through three points:
    ``x(a, b) = p0 + a (p1 - p0) + b (p2 - p0)`` for ``a, b`` in ``extent``."""

    through: tuple[GridPoint, GridPoint, GridPoint] = Field(description="three points p0, p1, p2 spanning the plane")
    extent: tuple[Finite, Finite] = Field((-1.5, 1.5), description="the range of a and b")
    resolution: Annotated[int, Field(ge=2, le=2048)] = Field(64, description="grid points per side")


class Ensemble(_Model):
    corruption: CorruptionSweep | None = Field(None, description="corrupted stored patterns")
    random: RandomStarts | None = Field(None, description="random states")
    grid: GridStarts | None = Field(None, description="a grid on a plane through three points")

    @model_validator(mode="after")
    def _some(self):
        if self.corruption is None and self.random is None and self.grid is None:
            raise ValueError("an ensemble needs at least one of corruption, random, grid")
        return self


class BasinsSpec(_Model):
    """Where the trajectories from an ensemble of initial states end."""

    layer: Name | None = Field(
        None, description="the layer whose initial states vary and whose end states are labelled"
    )
    patterns: str | Literal[False] | None = Field(
        None, description="stored patterns to name attractors by (default: inferred from the synapses; false: none)"
    )
    ensemble: Ensemble = Field(description="the initial states: corruption, random and/or grid")
    overlap: Fraction = Field(
        0.95,
        description="the least cosine with which an end state is named by the description that fits it best "
        "(a pattern, its negation, a sign mixture or the average of the most similar patterns); below it: other",
    )
    cluster: Positive = Field(
        0.05, description="RMS distance between activations below which two end states are one attractor"
    )
    mixtures: Annotated[int, Field(ge=1, le=9)] = Field(
        5, description="largest odd number of patterns in a sign mixture"
    )
    chunk: Size | None = Field(None, description="trajectories per compiled solve (default: chosen to bound memory)")
    refill: Literal["auto"] | bool = Field(
        "auto",
        description="solve in chunk-sized slots refilled as starts finish (true), in lock-step chunks (false), or "
        "decide from the first chunk's spread of steps (auto)",
    )
    binarize: bool = Field(False, description="compare sign(activation) with the patterns (binary networks)")


class ValueRange(_Model):
    """``num`` values from ``start`` to ``stop`` (both included), evenly spaced
    (``linear``) or evenly spaced in their logarithm (``log``)."""

    start: Finite = Field(description="the first value")
    stop: Finite = Field(description="the last value")
    num: Annotated[int, Field(ge=2, le=1000)] = Field(description="how many values")
    spacing: Literal["linear", "log"] = Field("linear", description="linear, or log (start and stop > 0)")

    @model_validator(mode="after")
    def _positive_for_log(self):
        if self.spacing == "log" and (self.start <= 0 or self.stop <= 0):
            raise ValueError("a log range needs start > 0 and stop > 0")
        return self

    def values(self) -> list[float]:
        import numpy as np

        fn = np.geomspace if self.spacing == "log" else np.linspace
        return [float(v) for v in fn(self.start, self.stop, self.num)]


class ContinuationSpec(_Model):
    """The ``basins:`` ensemble run at each value of one parameter, with the
    attractors matched from one value to the next (hopdyn basins)."""

    parameter: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\[\d+\]|\.[A-Za-z0-9_]+)*$",
        max_length=200,
        description="the key to vary, as --set spells it (synapses[0].beta, neurons.m.tau, "
        "patterns.X.random.shape[0] for the load)",
    )
    values: list[int | Finite | list[Finite]] | None = Field(
        None, min_length=1, max_length=1000, description="the values, in order"
    )
    range: ValueRange | None = Field(None, description="or a range: start, stop, num, spacing")
    distance: Positive = Field(
        0.1, description="unnamed attractors continue when their mean end states are this close (relative)"
    )
    min_overlap: Fraction = Field(
        0.5, description="... or when their basins overlap this much (Jaccard index of their starts)"
    )

    @model_validator(mode="after")
    def _values_or_range(self):
        _exactly_one(self, ("values", "range"), "continuation")
        return self

    def all_values(self) -> list:
        return list(self.values) if self.values is not None else self.range.values()


class TrainingDataSpec(_Model):
    """Where the examples come from: a bundled dataset or arrays in a file."""

    source: Literal["digits"] | None = Field(
        None, description="digits: scikit-learn's bundled 8x8 handwritten digits (1797 images, values 0-16)"
    )
    file: str | None = Field(None, description=".npz with the inputs (and targets), relative to the scenario file")
    inputs_key: str = Field("inputs", description="the inputs' array in the file, one example per row")
    targets_key: str | None = Field("targets", description="the class indices' array in the file (cross_entropy)")
    scale: Finite | None = Field(None, description="multiplies the inputs (default: 1/16 for digits, 1 for a file)")

    @model_validator(mode="after")
    def _one_source(self):
        _exactly_one(self, ("source", "file"), "training.data")
        return self


class TrainingSpec(_Model):
    """Learn named patterns through the network's equilibrium (hopdyn train)."""

    data: TrainingDataSpec = Field(description="the examples: {source: digits} or {file: ...}")
    inputs: Name = Field(description="the layer the inputs are clamped on")
    readout: Name = Field(description="the layer read at equilibrium (the inputs' layer for reconstruction)")
    learn: list[Name] = Field(min_length=1, description="the patterns (named under patterns:) that are learned")
    loss: Literal["cross_entropy", "reconstruction"] = Field(
        "cross_entropy", description="cross-entropy of the readout against the class, or error on hidden inputs"
    )
    hidden: Fraction = Field(0.25, description="reconstruction: fraction of the inputs hidden per batch")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="optax's optimiser")
    learning_rate: Positive = Field(0.01, description="the optimiser's step")
    epochs: Annotated[int, Field(ge=1, le=100_000)] = Field(10, description="passes over the training split")
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(64, description="examples per step")
    test_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.2, description="held out for testing (a fixed split drawn from the seed)"
    )
    adjoint: Literal["implicit", "unrolled"] = Field(
        "implicit", description="gradients by the implicit function theorem at the steady state, or through the steps"
    )
    image_shape: list[Size] | None = Field(None, description="draw the inputs' layer as images of this shape")
    max_seconds: Positive | None = Field(
        None, description="stop after the epoch that takes the training time (compiling excluded) past this"
    )
    init: dict[Name, Literal["inputs", "targets"]] = Field(
        {},
        description="learned patterns started from K training examples drawn from the seed (the same K for "
        "every pattern): their inputs, or their classes one-hot",
    )


# ------------------------------------------------------------------ generated parts
SYNAPSE_EXTENSIONS: dict[str, dict[str, tuple[Any, Any]]] = {
    "hebbian": {
        "unlearn": (
            UnlearnSpec | None,
            Field(None, description="unlearning after storage (W is then formed explicitly)"),
        )
    },
}
"""Scenario-only options of a synapse type, translated by the scenario layer
(``unlearn`` runs a discrete rule, which the model layer cannot import)."""


def _doc(cls) -> str:
    return inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def _field(annotation, default, description: str | None = None):
    """A pydantic field from a signature's annotation and default; a ``Pattern``
    parameter is a pattern name (or a number) in a scenario."""
    ref = pattern_ref(annotation)
    if ref is not None:
        annotation, description = (Finite | str) if ref.or_number else str, ref.description
    extra = {"description": description} if description else {}  # else the annotation's own
    if default is inspect.Parameter.empty:
        return annotation, Field(**extra)
    return annotation, Field(default, **extra)


def component_model(cls, synapse: bool) -> type[BaseModel]:
    """The scenario form of a Lagrangian or synapse class, from its signature."""
    fields: dict[str, Any] = {"type": (Literal[cls.kind], Field(description=f"{cls.kind}: {_doc(cls)}"))}
    if synapse:
        arity = cls.arity
        connects = tuple[(Name,) * arity] if arity else list[Name]
        fields["connects"] = (connects, Field(description=cls.connects_doc))
    for name, (annotation, default) in parameters(cls).items():
        fields[name] = _field(annotation, default)
        if synapse and name == "weights" and pattern_ref(annotation) is not None:
            fields["transpose"] = (bool, Field(False, description="use the transpose of the weights"))
    if synapse:
        fields.update(SYNAPSE_EXTENSIONS.get(cls.kind, {}))
    return create_model(f"{cls.__name__}Spec", __base__=_Model, __doc__=_doc(cls), **fields)


def _from_dataclass(cls, name: str, skip=(), **overrides) -> type[BaseModel]:
    """A pydantic model with the fields (types, constraints, descriptions and
    defaults) of a settings dataclass."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        fields[f.name] = overrides.pop(f.name, None) or (hints[f.name], f.default)
    fields.update(overrides)
    return create_model(name, __base__=_Model, __doc__=_doc(cls), **fields)


def _union(models: list[type[BaseModel]]):
    return Annotated[functools.reduce(operator.or_, models), Field(discriminator="type")]


@functools.cache
def _models(lagrangians: tuple, synapses: tuple, methods: tuple):
    Method = Literal[method_names()]
    LagrangianSpec = _union([component_model(LAGRANGIANS[k], False) for k in lagrangians])
    SynapseSpec = _union([component_model(SYNAPSES[k], True) for k in synapses])
    defaults = SolveSettings()

    class NeuronSpec(_Model):
        shape: list[Size] = Field(min_length=1, max_length=8, description="the layer's shape")
        lagrangian: LagrangianSpec = Field(description="the layer's convex Lagrangian (its `type` and parameters)")
        tau: NonNegative = Field(
            1.0, description="time constant; 0 makes the layer quasi-static (always at its equilibrium)"
        )

    class SaveSpec(_Model):
        """Saved times: ``n`` of them (log or linear spacing), or explicit ``ts``."""

        n: Annotated[int, Field(ge=2, le=100_000)] | None = Field(
            defaults.save, description="the number of saved times"
        )
        spacing: Literal["log", "linear"] = Field(
            defaults.save_spacing, description="log: t0, then five decades up to t1"
        )
        ts: list[Finite] | None = Field(None, description="explicit save times (instead of n)")

    SteadyStateSpec = _from_dataclass(SteadyState, "SteadyStateSpec")
    SolverSpec = _from_dataclass(
        SolveSettings,
        "SolverSpec",
        skip=("save", "save_spacing", "dtype", "seed", "shard"),
        method=(
            Method,
            Field(
                defaults.method,
                description="auto (measure stiffness, choose the solver), an ODE solver "
                "(tsit5, tsit5-diffrax, dopri5, dopri8, kvaerno5, rkc, etd, euler), or a discrete rule: async/sync "
                "(binary units, quadratic energy), dense_async (polynomial/exponential memory), "
                "retrieval (each layer jumps to its equilibrium)",
            ),
        ),
        order=(
            list[Name] | None,
            Field(None, description="retrieval: the layers in update order (default: by tau, fast first)"),
        ),
        steady_state=(
            bool | SteadyStateSpec,
            Field(
                True,
                description="stop at a steady state: true (the solver's "
                "tolerances), {rtol, atol}, or false (integrate to t1)",
            ),
        ),
        save=(SaveSpec, Field(SaveSpec(), description="saved times")),
    )

    class OutputsSpec(OutputsBase):
        compare: Method | None = Field(
            None,
            description="run the same scenario with this method too and overlay both (compare.png, capacity curves)",
        )

    # what a study takes from the rest of the file or the command line, not from its section
    not_keys = ("settings", "seed", "on_step", "folder", "resume")
    cap = {
        name: _field(ann, default) for name, (ann, default) in parameters_of(capacity).items() if name not in not_keys
    }
    CapacitySpec = create_model(
        "CapacitySpec",
        __base__=_Model,
        __doc__="Retrieval of K stored random +-1 patterns from a corruption, as K grows at fixed N.",
        **cap,
    )

    RulesSpec = create_model(
        "RulesSpec",
        __base__=_Model,
        __doc__="Learning rules side by side: fixed points, retrieval and basin radius against the load.",
        **{
            name: _field(ann, list(default) if isinstance(default, tuple) else default)
            for name, (ann, default) in parameters_of(compare_rules).items()
            if name not in not_keys
        },
    )

    class Scenario(_Model):
        """A hopdyn scenario file."""

        name: str = Field(
            pattern=r"^[a-z0-9-]+$",
            max_length=100,
            description="lower-case letters, digits and dashes; names the output folder plots/<name>/",
        )
        description: str = Field("", description="what the scenario shows (hopdyn list prints it)")
        seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = Field(0, description="every random draw derives from it")
        dtype: Literal["float32", "float64"] = Field("float32", description="the floating-point type of the solve")
        patterns: dict[Name, PatternSource] = Field({}, description="named arrays: stored patterns, weights, biases")
        neurons: dict[Name, NeuronSpec] = Field(min_length=1, description="the layers, by name")
        synapses: list[SynapseSpec] = Field([], description="the energy terms coupling the layers")
        initial: dict[Name, InitialSpec] = Field({}, description="each layer's state at t0 (default zeros)")
        clamp: list[Name] | dict[Name, Literal[True] | ClampMask] = Field(
            [], description="layers (or parts, with a mask) held fixed at their initial state"
        )
        solver: SolverSpec = Field(SolverSpec(), description="how the network is solved")
        checks: ChecksSpec = Field(ChecksSpec(), description="what run and verify require (exit 1 when one fails)")
        outputs: OutputsSpec = Field(OutputsSpec(), description="figures, readouts and comparisons")
        basins: BasinsSpec | None = Field(None, description="an ensemble study: hopdyn basins")
        capacity: CapacitySpec | None = Field(None, description="a capacity sweep: hopdyn basins")
        rules: RulesSpec | None = Field(
            None, description="learning rules compared against the load: hopdyn basins (rules.png)"
        )
        continuation: ContinuationSpec | None = Field(
            None, description="the basins: ensemble across values of one parameter: hopdyn basins"
        )
        training: TrainingSpec | None = Field(None, description="learn patterns through the equilibrium: hopdyn train")

    return Scenario


def parameters_of(fn) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default)}`` of a function's signature."""
    hints = typing.get_type_hints(fn, include_extras=True)
    return {n: (hints.get(n, Any), p.default) for n, p in inspect.signature(fn).parameters.items()}


def scenario_model() -> type[BaseModel]:
    """The ``Scenario`` model for the components and methods registered now
    (a component registered later is included on the next call)."""
    return _models(tuple(LAGRANGIANS), tuple(SYNAPSES), tuple(METHODS))
