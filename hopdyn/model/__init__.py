"""The model layer: Lagrangians, neurons, synapses and the network whose one
energy function defines the dynamics.  Imports nothing above ``core``."""
