"""hopdyn: energy-based associative memories as continuous-time dynamical systems.

Declare neurons (a convex Lagrangian and a time constant each) and synapses
(energy terms); hopdyn derives ``tau dx/dt = -dE/dxhat`` from the energy by
autodiff and solves it with Diffrax.
"""

from ._discrete import (
    DiscreteRun,
    classical_async,
    classical_sync,
    dense_async,
    hebbian,
    modern_energy,
    modern_retrieval,
    unlearn,
    update_orders,
)
from ._errors import HopdynError, NetworkError
from ._lagrangians import (
    LAGRANGIANS,
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
from ._network import Network, State
from ._neurons import Neuron
from ._etd import ETDRK4
from ._rkc import RKC2
from ._solve import METHODS, STATUSES, SolverError, Trajectory, save_times, simulate
from ._verify import verify
from ._synapses import (
    SYNAPSES,
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

__version__ = "0.1.0"

__all__ = [
    "DiscreteRun", "classical_async", "classical_sync", "dense_async", "hebbian", "modern_energy",
    "modern_retrieval", "unlearn", "update_orders",
    "AbstractLagrangian", "AbstractSynapse", "Bias", "CustomLagrangian", "CustomSynapse", "Dense", "Directed", "Exp",
    "Exponential", "Hebbian", "HopdynError", "Identity", "L2Memory", "LAGRANGIANS", "LayerNorm", "METHODS", "RKC2", "ETDRK4",
    "Network", "NetworkError", "Neuron", "Polynomial", "Relu", "Repu", "STATUSES", "SYNAPSES", "Sigmoid",
    "Softmax", "SolverError", "Spherical", "State", "Tanh", "Trajectory", "save_times", "simulate", "verify",
]
