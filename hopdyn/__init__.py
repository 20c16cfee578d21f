"""hopdyn: energy-based associative memories as continuous-time dynamical systems.

Declare neurons (a convex Lagrangian and a time constant each) and synapses
(energy terms); hopdyn derives ``tau dx/dt = -dE/dxhat`` from the energy by
autodiff, solves it with Diffrax, and analyses what it finds.  The package is
layered (``core`` < ``model`` < ``solvers`` < ``analysis`` < ``scenario``,
``figures`` < the command line); every public name is re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

# Every public name, imported on first use: ``import hopdyn`` and ``hopdyn
# --help`` load neither JAX nor matplotlib nor the scenario schema.
_LAZY = {
    "Basins": (".analysis.basins", "Basins"),
    "attractor_table": (".analysis.basins", "attractor_table"),
    "basins": (".analysis.basins", "basins"),
    "fractions": (".analysis.basins", "fractions"),
    "label_attractors": (".analysis.basins", "label_attractors"),
    "retrieval_curve": (".analysis.basins", "retrieval_curve"),
    "solve_ensemble": (".analysis.basins", "solve_ensemble"),
    "capacity": (".analysis.capacity", "capacity"),
    "capacity_network": (".analysis.capacity", "capacity_network"),
    "corrupted_starts": (".analysis.ensembles", "corrupted_starts"),
    "grid_starts": (".analysis.ensembles", "grid_starts"),
    "random_starts": (".analysis.ensembles", "random_starts"),
    "energy_descent": (".analysis.verify", "energy_descent"),
    "fixed_point": (".analysis.verify", "fixed_point"),
    "nearest_pattern": (".analysis.verify", "nearest_pattern"),
    "readout": (".analysis.verify", "readout"),
    "verify": (".analysis.verify", "verify"),
    "ResourceError": (".core.budget", "ResourceError"),
    "memory_budget": (".core.budget", "memory_budget"),
    "AnalysisError": (".core.errors", "AnalysisError"),
    "HopdynError": (".core.errors", "HopdynError"),
    "NetworkError": (".core.errors", "NetworkError"),
    "SettingsError": (".core.errors", "SettingsError"),
    "OutputError": (".core.outputs", "OutputError"),
    "OutputFolder": (".core.outputs", "OutputFolder"),
    "manifest_problems": (".core.outputs", "manifest_problems"),
    "AbstractLagrangian": (".model.lagrangians", "AbstractLagrangian"),
    "CustomLagrangian": (".model.lagrangians", "CustomLagrangian"),
    "Exp": (".model.lagrangians", "Exp"),
    "Identity": (".model.lagrangians", "Identity"),
    "LayerNorm": (".model.lagrangians", "LayerNorm"),
    "Relu": (".model.lagrangians", "Relu"),
    "Repu": (".model.lagrangians", "Repu"),
    "Sigmoid": (".model.lagrangians", "Sigmoid"),
    "Softmax": (".model.lagrangians", "Softmax"),
    "Spherical": (".model.lagrangians", "Spherical"),
    "Tanh": (".model.lagrangians", "Tanh"),
    "Network": (".model.network", "Network"),
    "State": (".model.network", "State"),
    "Neuron": (".model.neurons", "Neuron"),
    "LAGRANGIANS": (".model.params", "LAGRANGIANS"),
    "SYNAPSES": (".model.params", "SYNAPSES"),
    "Finite": (".model.params", "Finite"),
    "NonNegative": (".model.params", "NonNegative"),
    "Pattern": (".model.params", "Pattern"),
    "PatternOrNumber": (".model.params", "PatternOrNumber"),
    "Positive": (".model.params", "Positive"),
    "register_lagrangian": (".model.params", "register_lagrangian"),
    "register_synapse": (".model.params", "register_synapse"),
    "AbstractSynapse": (".model.synapses", "AbstractSynapse"),
    "Bias": (".model.synapses", "Bias"),
    "CustomSynapse": (".model.synapses", "CustomSynapse"),
    "Dense": (".model.synapses", "Dense"),
    "Directed": (".model.synapses", "Directed"),
    "Exponential": (".model.synapses", "Exponential"),
    "Hebbian": (".model.synapses", "Hebbian"),
    "L2Memory": (".model.synapses", "L2Memory"),
    "Polynomial": (".model.synapses", "Polynomial"),
    "Built": (".scenario.build", "Built"),
    "load_scenario": (".scenario.build", "load_and_build"),
    "ScenarioError": (".scenario.loader", "ScenarioError"),
    "scenario_capacity": (".scenario.studies", "capacity_study"),
    "scenario_basins": (".scenario.studies", "run_basins"),
    "verify_scenario": (".scenario.studies", "verify_scenario"),
    "DiscreteRun": (".solvers.discrete", "DiscreteRun"),
    "classical_async": (".solvers.discrete", "classical_async"),
    "classical_sync": (".solvers.discrete", "classical_sync"),
    "dense_async": (".solvers.discrete", "dense_async"),
    "hebbian": (".solvers.discrete", "hebbian"),
    "modern_energy": (".solvers.discrete", "modern_energy"),
    "modern_retrieval": (".solvers.discrete", "modern_retrieval"),
    "sweep_orders": (".solvers.discrete", "sweep_orders"),
    "unlearn": (".solvers.discrete", "unlearn"),
    "update_orders": (".solvers.discrete", "update_orders"),
    "ETDRK4": (".solvers.etd", "ETDRK4"),
    "METHODS": (".solvers.registry", "METHODS"),
    "Method": (".solvers.registry", "Method"),
    "get_method": (".solvers.registry", "get_method"),
    "method_names": (".solvers.registry", "method_names"),
    "register_method": (".solvers.registry", "register"),
    "RKC2": (".solvers.rkc", "RKC2"),
    "SolveSettings": (".solvers.settings", "SolveSettings"),
    "SteadyState": (".solvers.settings", "SteadyState"),
    "save_times": (".solvers.settings", "save_times"),
    "simulate": (".solvers.simulate", "simulate"),
    "equilibrium": (".solvers.equilibrium", "equilibrium"),
    "STATUSES": (".solvers.trajectory", "STATUSES"),
    "Trajectory": (".solvers.trajectory", "Trajectory"),
    "SolverError": (".core.errors", "SettingsError"),  # the name before 0.2
    "Reporter": (".core.progress", "Reporter"),
    "CompileLog": (".solvers.compile", "CompileLog"),
    "enable_compilation_cache": (".solvers.compile", "enable_compilation_cache"),
    "load_trajectory": (".solvers.trajectory", "load_trajectory"),
    "continuation": (".analysis.continuation", "continuation"),
}

if TYPE_CHECKING:  # the same names, for type checkers and the API docs (griffe reads imports)
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
    from .analysis.continuation import continuation
    from .analysis.ensembles import corrupted_starts, grid_starts, random_starts
    from .analysis.verify import energy_descent, fixed_point, nearest_pattern, readout, verify
    from .core.budget import ResourceError, memory_budget
    from .core.errors import AnalysisError, HopdynError, NetworkError, SettingsError
    from .core.errors import SettingsError as SolverError
    from .core.outputs import OutputError, OutputFolder, manifest_problems
    from .core.progress import Reporter
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
    from .solvers.compile import CompileLog, enable_compilation_cache
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
    from .solvers.equilibrium import equilibrium
    from .solvers.etd import ETDRK4
    from .solvers.registry import METHODS, Method, get_method, method_names
    from .solvers.registry import register as register_method
    from .solvers.rkc import RKC2
    from .solvers.settings import SolveSettings, SteadyState, save_times
    from .solvers.simulate import simulate
    from .solvers.trajectory import STATUSES, Trajectory, load_trajectory


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'hopdyn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "continuation",
    "CompileLog",
    "Reporter",
    "enable_compilation_cache",
    "load_trajectory",
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
    "equilibrium",
    "solve_ensemble",
    "sweep_orders",
    "unlearn",
    "update_orders",
    "verify",
    "verify_scenario",
]
