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

from .core.version import __version__

if TYPE_CHECKING:  # the same names, for type checkers and the API docs (griffe reads imports)
    from .analysis import theory
    from .analysis.basins import (
        Basins,
        attractor_table,
        basins,
        fractions,
        retrieval_curve,
    )
    from .analysis.capacity import capacity, capacity_network
    from .analysis.continuation import continuation
    from .analysis.ensembles import corrupted_starts, grid_starts, random_starts
    from .analysis.geometry import basin_entropy, basin_geometry, boundary_dimension, uncertainty_exponent
    from .analysis.naming import Naming, attractor_name, describe, label_attractors
    from .analysis.rule_comparison import compare_rules
    from .analysis.runner import Chunking, solve_ensemble
    from .analysis.training import TrainSettings, train
    from .analysis.verify import energy_descent, fixed_point, nearest_pattern, readout, verify
    from .core.budget import ResourceError, memory_budget
    from .core.errors import AnalysisError, HopdynError, LyapunovWarning, NetworkError, SettingsError, UnfinishedWork
    from .core.errors import SettingsError as SolverError
    from .core.outputs import OutputError, OutputFolder, WorkFolder, manifest_problems
    from .core.progress import Reporter
    from .figures.common import register_figure
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
    from .model.rules import DirectedPerceptron, Perceptron, PseudoInverse, Storkey
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


def _public() -> dict[str, tuple[str, str]]:
    """``{name: (module, attribute)}``, read from the ``TYPE_CHECKING`` imports
    above: the one list of public names (type checkers and the API docs read
    the same imports).  Parsing this file costs about a millisecond; nothing
    is imported until a name is used."""
    import ast

    with open(__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                for alias in imp.names:
                    out[alias.asname or alias.name] = ("." * imp.level + imp.module, alias.name)
    return out


_LAZY = _public()
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        parent = importlib.import_module(module, __name__)
        value = (
            getattr(parent, attr) if hasattr(parent, attr) else importlib.import_module(f"{module}.{attr}", __name__)
        )
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'hopdyn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
