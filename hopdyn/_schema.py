"""The typed schema of scenario files (``../shared/SCENARIO_FORMAT.md``).

Pydantic models, strict about keys (unknown keys are errors) and values
(finite numbers, positive sizes...).  ``Scenario.model_json_schema()`` is what
``hopdyn schema`` prints.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Size = Annotated[int, Field(ge=1, le=100_000_000)]
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

    distribution: Literal["uniform", "normal", "binary"] = Field(description="uniform on [low, high), normal(mean, std), or binary +-1")
    shape: list[Size] = Field(min_length=1, max_length=8)
    low: Finite = 0.0
    high: Finite = 1.0
    mean: Finite = 0.0
    std: Positive = 1.0
    clusters: Size | None = Field(None, description="rows in this many contiguous groups around random centres")
    spread: NonNegative = Field(0.1, description="clusters: std of the offsets from the centre (binary: flip probability)")
    norm: Positive | None = Field(None, description="rescale every row to this Euclidean norm")


class Images(_Model):
    """Rendered glyphs (``letters``: any short strings) or matplotlib's sample images."""

    source: Literal["letters", "sample"]
    names: list[str] = Field(min_length=1, max_length=1000)
    size: Annotated[int, Field(ge=4, le=512)] = 16
    encoding: Literal["binary", "gray"] | None = Field(
        None, description="binary (+-1) or gray ([0, 1]); default binary for letters, gray for sample images")


class PatternSource(_Model):
    """A named array: exactly one of random, file, values, images, onehot."""

    random: RandomPatterns | None = None
    file: str | None = Field(None, description=".npy, .npz or .csv, relative to the scenario file")
    key: str | None = Field(None, description="the array's name inside an .npz file")
    values: list[Any] | None = Field(None, description="a (nested) list of numbers")
    images: Images | None = None
    onehot: Size | None = Field(None, description="the n x n identity (one-hot labels)")
    scale: Finite = Field(1.0, description="multiplies the array")

    @model_validator(mode="after")
    def _one_source(self):
        _exactly_one(self, ("random", "file", "values", "images", "onehot"), "a pattern")
        if self.key is not None and self.file is None:
            raise ValueError("`key` only goes with `file`")
        return self


# ------------------------------------------------------------------ neurons
class _L(_Model):
    pass


class IdentityL(_L):
    type: Literal["identity"]


class SigmoidL(_L):
    type: Literal["sigmoid"]
    beta: Positive = 1.0


class TanhL(_L):
    type: Literal["tanh"]
    beta: Positive = 1.0


class SoftmaxL(_L):
    type: Literal["softmax"]
    beta: Positive = 1.0


class ReluL(_L):
    type: Literal["relu"]


class RepuL(_L):
    type: Literal["repu"]
    n: Annotated[float, Field(ge=1, le=64, allow_inf_nan=False)] = 2.0


class ExpL(_L):
    type: Literal["exp"]
    beta: Positive = 1.0
    cap: Positive = 50.0


class LayerNormL(_L):
    type: Literal["layernorm"]
    gamma: Positive = 1.0
    delta: Finite = 0.0
    eps: Positive = 1e-5


class SphericalL(_L):
    type: Literal["spherical"]
    eps: Positive = 1e-8


LagrangianSpec = Annotated[
    Union[IdentityL, SigmoidL, TanhL, SoftmaxL, ReluL, RepuL, ExpL, LayerNormL, SphericalL],
    Field(discriminator="type"),
]


class NeuronSpec(_Model):
    shape: list[Size] = Field(min_length=1, max_length=8)
    lagrangian: LagrangianSpec
    tau: NonNegative = Field(1.0, description="time constant; 0 makes the layer quasi-static (always at its equilibrium)")


# ------------------------------------------------------------------ synapses
class DenseS(_Model):
    """E = -scale * xhat_a^T W xhat_b, W of shape (|a|, |b|)."""

    type: Literal["dense"]
    connects: tuple[Name, Name]
    weights: str = Field(description="a pattern name")
    scale: Finite = 1.0
    transpose: bool = Field(False, description="use the transpose of the weights")


class BiasS(_Model):
    """E = -sum(b * xhat) on one layer."""

    type: Literal["bias"]
    connects: tuple[Name]
    bias: Finite | str = Field(description="a number, or a pattern name of the layer's shape")


class UnlearnSpec(_Model):
    """Hopfield, Feinstein & Palmer (1983): relax random states to fixed points and
    subtract rate/N of each one's outer product from W."""

    dreams: Annotated[int, Field(ge=1, le=100_000)]
    rate: Positive = 0.01


class HebbianS(_Model):
    """Classical W = (scale/N) sum xi xi^T, zero diagonal, E = -1/2 xhat^T W xhat."""

    type: Literal["hebbian"]
    connects: tuple[Name]
    patterns: str
    scale: Finite = 1.0
    unlearn: UnlearnSpec | None = Field(None, description="unlearning after storage (W is then formed explicitly)")


class L2MemoryS(_Model):
    """Seed 001: E = 1/2 sum_mu zhat_mu |theta_mu - xhat|^2 - 1/2 |xhat|^2, connects [image, memory]."""

    type: Literal["l2_memory"]
    connects: tuple[Name, Name]
    patterns: str


class PolynomialS(_Model):
    """E = -scale * sum_mu F(xi_mu . xhat), F(s) = s^n (or max(s, 0)^n)."""

    type: Literal["polynomial"]
    connects: tuple[Name]
    patterns: str
    n: Annotated[int, Field(ge=1, le=32)] = 2
    scale: Finite = 1.0
    rectified: bool = False


class ExponentialS(_Model):
    """E = -scale * sum_mu exp(beta xi_mu . xhat), or with logsumexp: -(scale/beta) lse(beta Xi xhat)."""

    type: Literal["exponential"]
    connects: tuple[Name]
    patterns: str
    beta: Positive = 1.0
    scale: Finite = 1.0
    logsumexp: bool = False


class DirectedS(_Model):
    """Non-gradient: drives the target with scale * W^T shat_source, no energy, no feedback."""

    type: Literal["directed"]
    connects: tuple[Name, Name] = Field(description="[source, target]; the same name twice for a recurrent coupling")
    weights: str = Field(description="a pattern name, shape (|source|, |target|); need not be symmetric")
    scale: Finite = 1.0
    transpose: bool = False


SynapseSpec = Annotated[
    Union[DenseS, BiasS, HebbianS, L2MemoryS, PolynomialS, ExponentialS, DirectedS],
    Field(discriminator="type"),
]


# ------------------------------------------------------------------ initial states
class Corruption(_Model):
    flip: Fraction = Field(0.0, description="fraction of entries flipped (sign, or lo+hi-v for [lo, hi] data)")
    noise: NonNegative = Field(0.0, description="standard deviation of added Gaussian noise")
    mask: Fraction = Field(0.0, description="fraction of entries set to zero")
    occlude: Fraction = Field(0.0, description="fraction of entries at the end (the bottom of an image) set to `fill`")
    fill: Finite = Field(0.0, description="the value occluded entries take")


class RandomInit(_Model):
    distribution: Literal["uniform", "normal", "binary"]
    low: Finite = 0.0
    high: Finite = 1.0
    mean: Finite = 0.0
    std: Positive = 1.0
    batch: Size | None = Field(None, description="draw this many states (a batch)")


class InitialSpec(_Model):
    """A layer's internal state at t=0: exactly one of zeros, values, random, pattern."""

    zeros: Literal[True] | None = None
    values: list[Any] | None = None
    random: RandomInit | None = None
    pattern: str | None = Field(None, description="a pattern name; with index (an int, a list, or 'all' for a batch)")
    index: Annotated[int, Field(ge=0)] | list[Annotated[int, Field(ge=0)]] | Literal["all"] | None = None
    corrupt: Corruption | None = None
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

    indices: list[Annotated[int, Field(ge=0)]] | None = None
    fraction: Fraction | None = Field(None, description="a random fraction of the units (from the seed)")
    first: Annotated[int, Field(ge=0)] | None = None
    last: Annotated[int, Field(ge=0)] | None = None
    values: list[Any] | None = Field(None, description="booleans of the layer's shape")

    @model_validator(mode="after")
    def _one_kind(self):
        _exactly_one(self, ("indices", "fraction", "first", "last", "values"), "a clamp mask")
        return self


# ------------------------------------------------------------------ solver, checks, outputs
class SaveSpec(_Model):
    n: Annotated[int, Field(ge=2, le=100_000)] | None = 200
    spacing: Literal["log", "linear"] = "log"
    ts: list[Finite] | None = Field(None, description="explicit save times (instead of n)")


class SteadyStateSpec(_Model):
    rtol: NonNegative = 1e-6
    atol: NonNegative = 1e-8


Method = Literal["auto", "tsit5", "dopri5", "dopri8", "kvaerno5", "rkc", "etd", "euler", "async", "sync", "dense_async", "retrieval"]


class SolverSpec(_Model):
    method: Method = Field(
        "auto", description="auto (measure stiffness, choose the solver), an ODE solver, or a discrete rule: async/sync (binary units, quadratic energy), "
        "dense_async (polynomial/exponential memory), retrieval (each layer jumps to its equilibrium)")
    max_sweeps: Annotated[int, Field(ge=1, le=100_000)] = Field(100, description="discrete rules: the most sweeps")
    order: list[Name] | None = Field(None, description="retrieval: the layers in update order (default: by tau, fast first)")
    rtol: NonNegative = 1e-6
    atol: NonNegative = 1e-8
    dt: Positive | None = Field(None, description="fixed step (euler) or initial step (adaptive)")
    t0: Finite = 0.0
    t1: Positive = 1000.0
    steady_state: bool | SteadyStateSpec = True
    max_steps: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    save: SaveSpec = SaveSpec()
    pcoeff: NonNegative | None = Field(None, description="PID controller (default 0, or auto's choice)")
    icoeff: NonNegative | None = Field(None, description="PID controller (default 1, or auto's choice)")
    dcoeff: NonNegative = 0.0
    divergence: Positive = 1e8
    dtmin: Positive | None = None


class LyapunovCheck(_Model):
    tolerance: NonNegative = 1e-6


class ReadoutCheck(_Model):
    min_accuracy: Fraction | None = Field(None, description="fraction of members whose readout matches `expect`")
    max_error: NonNegative | None = Field(None, description="largest allowed mean pixel error of the readout layer")


class FixedPointCheck(_Model):
    residual: NonNegative = Field(1e-6, description="largest allowed max |dx/dt| at the refined fixed point")


class ChecksSpec(_Model):
    lyapunov: bool | LyapunovCheck = LyapunovCheck()
    converged: bool = False
    readout: ReadoutCheck | None = None
    convexity: bool = Field(True, description="verify: every Lagrangian convex at the visited states")
    gradient: bool = Field(True, description="verify: every coupling derives from the energy (no `directed` synapse)")
    fixed_point: bool | FixedPointCheck = Field(False, description="verify: each end state refines to a fixed point")
    stable: bool = Field(False, description="verify: each end state is a stable fixed point")


class ReadoutSpec(_Model):
    """Compare a layer's final activation with stored patterns: the nearest one
    (largest cosine similarity) and the mean absolute error to it."""

    layer: Name
    patterns: str
    expect: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="expected pattern index per batch member; default: the `index` of the initial state")


class OutputsSpec(_Model):
    plots: list[Literal["energy", "pca", "states", "phase", "animation"]] = ["energy"]
    layer: Name | None = Field(None, description="the layer shown by pca/states/animation (default: the first)")
    patterns: str | None = Field(None, description="stored patterns marked in pca/states (default: none)")
    image_shape: list[Size] | None = Field(None, description="show the layer as an image of this shape")
    show: Literal["activation", "state"] = Field("activation", description="plot the layer's activations or internal states")
    compare: Method | None = Field(
        None, description="run the same scenario with this method too and overlay both (compare.png, capacity curves)")
    readout: ReadoutSpec | None = None


# ------------------------------------------------------------------ basins and capacity
class CorruptionSweep(_Model):
    """Stored patterns corrupted at several levels, ``samples`` starts per level."""

    kind: Literal["flip", "noise", "mask"] = "flip"
    levels: list[NonNegative] = Field(min_length=1, max_length=100)
    samples: Size = Field(100, description="starts per level (spread over the chosen patterns)")
    patterns: list[Annotated[int, Field(ge=0)]] | Literal["all"] = "all"


class RandomStarts(_Model):
    """States of the layer drawn at random."""

    samples: Size = 1000
    distribution: Literal["uniform", "normal", "binary"] = "uniform"
    low: Finite = -1.0
    high: Finite = 1.0
    mean: Finite = 0.0
    std: Positive = 1.0


class GridPoint(_Model):
    """A point of the layer's state space: ``origin``, a stored pattern (optionally
    negated), or literal values."""

    origin: Literal[True] | None = None
    pattern: int | None = Field(None, ge=0, description="row of the basin's patterns")
    negated: bool = False
    values: list[Finite] | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        _exactly_one(self, ("origin", "pattern", "values"), "a grid point")
        return self


class GridStarts(_Model):
    """A ``resolution x resolution`` grid on the plane through three points:
    ``x(a, b) = p0 + a (p1 - p0) + b (p2 - p0)`` for ``a, b`` in ``extent``."""

    through: tuple[GridPoint, GridPoint, GridPoint]
    extent: tuple[Finite, Finite] = (-1.5, 1.5)
    resolution: Annotated[int, Field(ge=2, le=2048)] = 64


class Ensemble(_Model):
    corruption: CorruptionSweep | None = None
    random: RandomStarts | None = None
    grid: GridStarts | None = None

    @model_validator(mode="after")
    def _some(self):
        if self.corruption is None and self.random is None and self.grid is None:
            raise ValueError("an ensemble needs at least one of corruption, random, grid")
        return self


class BasinsSpec(_Model):
    """Where the trajectories from an ensemble of initial states end."""

    layer: Name | None = Field(None, description="the layer whose initial states vary and whose end states are labelled")
    patterns: str | Literal[False] | None = Field(
        None, description="stored patterns to name attractors by (default: inferred from the synapses; false: none)")
    ensemble: Ensemble
    overlap: Fraction = Field(0.95, description="cosine similarity above which an end state is that pattern / mixture / average")
    cluster: Positive = Field(0.05, description="RMS distance between activations below which two end states are one attractor")
    mixtures: Annotated[int, Field(ge=1, le=9)] = Field(5, description="largest odd number of patterns in a sign mixture")
    chunk: Size | None = Field(None, description="trajectories per compiled solve (default: chosen to bound memory)")
    binarize: bool = Field(False, description="compare sign(activation) with the patterns (binary networks)")


class CapacitySpec(_Model):
    """Retrieval of K stored random +-1 patterns from a corruption, as K grows at fixed N."""

    family: Literal["hebbian", "polynomial", "exponential"]
    N: Annotated[int, Field(ge=2, le=100_000)] | list[Annotated[int, Field(ge=2, le=100_000)]] = Field(
        description="number of units, or a list of them for a scaling series")
    loads: list[Positive] = Field(min_length=1, max_length=100, description="K / N^load_power values")
    load_power: Positive = Field(1.0, description="loads are K / N^load_power (2 for the N^2 scaling of x^3 memories)")
    error_rate: Annotated[float, Field(gt=0, lt=0.5)] = Field(0.01, description="bit-error rate that defines the critical load")
    flip: Fraction = 0.1
    trials: Annotated[int, Field(ge=1, le=100_000)] = Field(100, description="patterns tested per K (at most K)")
    n: Annotated[int, Field(ge=2, le=16)] = Field(3, description="polynomial degree")
    beta: Positive = Field(1.0, description="exponential: inverse temperature of the log-sum-exp energy")
    gain: Positive = Field(10.0, description="beta of the tanh neurons")
    overlap: Fraction = Field(0.9, description="overlap of sign(end state) with the pattern counted as retrieved")


class Scenario(_Model):
    """A hopdyn scenario file."""

    name: str = Field(pattern=r"^[a-z0-9-]+$", max_length=100)
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    dtype: Literal["float32", "float64"] = "float32"
    patterns: dict[Name, PatternSource] = {}
    neurons: dict[Name, NeuronSpec] = Field(min_length=1)
    synapses: list[SynapseSpec] = []
    initial: dict[Name, InitialSpec] = {}
    clamp: list[Name] | dict[Name, Literal[True] | ClampMask] = []
    solver: SolverSpec = SolverSpec()
    checks: ChecksSpec = ChecksSpec()
    outputs: OutputsSpec = OutputsSpec()
    basins: BasinsSpec | None = None
    capacity: CapacitySpec | None = None
