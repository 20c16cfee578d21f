"""hopdyn: energy-based associative memories as continuous-time dynamical systems.

Declare neurons (a convex Lagrangian and a time constant each) and synapses
(energy terms); hopdyn derives ``tau dx/dt = -dE/dxhat`` from the energy by
autodiff, solves it with Diffrax, and analyses what it finds.  The package is
layered (``core`` < ``model`` < ``solvers`` < ``analysis`` < ``scenario``,
``figures`` < the command line); every public name is re-exported here.
"""

from .analysis.basins import (
    Basins,
    attractor_table,
    basins,
    fractions,
    label_attractors,
    retrieval_curve,
    solve_ensemble,
)
from .analysis.capacity import capacity, capacity_network
from .analysis.ensembles import corrupted_starts, grid_starts, random_starts
from .analysis.verify import energy_descent, fixed_point, nearest_pattern, readout, verify
from .core.budget import ResourceError, memory_budget
from .core.errors import AnalysisError, HopdynError, NetworkError, SettingsError
from .core.outputs import OutputError, OutputFolder, manifest_problems
from .model.lagrangians import (
    AbstractLagrangian,
    CustomLagrangian,
    Exp,
    Identity,
    LayerNorm,
    Relu,
    Repu,
    Sigmoid,
    Softmax,
    Spherical,
    Tanh,
)
from .model.network import Network, State
from .model.neurons import Neuron
from .model.params import (
    LAGRANGIANS,
    SYNAPSES,
    Finite,
    NonNegative,
    Pattern,
    PatternOrNumber,
    Positive,
    register_lagrangian,
    register_synapse,
)
from .model.synapses import (
    AbstractSynapse,
    Bias,
    CustomSynapse,
    Dense,
    Directed,
    Exponential,
    Hebbian,
    L2Memory,
    Polynomial,
)
from .scenario.build import Built
from .scenario.build import load_and_build as load_scenario
from .scenario.loader import ScenarioError
from .scenario.studies import capacity_study as scenario_capacity
from .scenario.studies import run_basins as scenario_basins
from .scenario.studies import verify_scenario
from .solvers.discrete import (
    DiscreteRun,
    classical_async,
    classical_sync,
    dense_async,
    hebbian,
    modern_energy,
    modern_retrieval,
    sweep_orders,
    unlearn,
    update_orders,
)
from .solvers.etd import ETDRK4
from .solvers.registry import METHODS, Method, get_method, method_names
from .solvers.registry import register as register_method
from .solvers.rkc import RKC2
from .solvers.settings import SolveSettings, SteadyState, save_times
from .solvers.simulate import simulate
from .solvers.trajectory import STATUSES, Trajectory

SolverError = SettingsError  # the name before 0.2

__version__ = "0.2.0"

__all__ = [
    "AbstractLagrangian",
    "OutputError",
    "OutputFolder",
    "ResourceError",
    "manifest_problems",
    "memory_budget",
    "AbstractSynapse",
    "AnalysisError",
    "Basins",
    "Bias",
    "Built",
    "CustomLagrangian",
    "CustomSynapse",
    "Dense",
    "Directed",
    "DiscreteRun",
    "ETDRK4",
    "Exp",
    "Exponential",
    "Finite",
    "Hebbian",
    "HopdynError",
    "Identity",
    "L2Memory",
    "LAGRANGIANS",
    "LayerNorm",
    "METHODS",
    "Method",
    "Network",
    "NetworkError",
    "Neuron",
    "NonNegative",
    "Pattern",
    "PatternOrNumber",
    "Polynomial",
    "Positive",
    "RKC2",
    "Relu",
    "Repu",
    "STATUSES",
    "SYNAPSES",
    "ScenarioError",
    "SettingsError",
    "Sigmoid",
    "Softmax",
    "SolveSettings",
    "SolverError",
    "Spherical",
    "State",
    "SteadyState",
    "Tanh",
    "Trajectory",
    "attractor_table",
    "basins",
    "capacity",
    "capacity_network",
    "classical_async",
    "classical_sync",
    "corrupted_starts",
    "dense_async",
    "energy_descent",
    "fixed_point",
    "fractions",
    "get_method",
    "grid_starts",
    "hebbian",
    "label_attractors",
    "load_scenario",
    "method_names",
    "modern_energy",
    "modern_retrieval",
    "nearest_pattern",
    "random_starts",
    "readout",
    "register_lagrangian",
    "register_method",
    "register_synapse",
    "retrieval_curve",
    "save_times",
    "scenario_basins",
    "scenario_capacity",
    "simulate",
    "solve_ensemble",
    "sweep_orders",
    "unlearn",
    "update_orders",
    "verify",
    "verify_scenario",
]
