"""The model layer: Lagrangians, neurons, synapses and the network whose one
energy function defines the dynamics.  Imports nothing above ``core``."""

from . import rules as _rules  # noqa: E402, F401  (the learning rules register their synapses with the others)
