"""The analysis layer: verification, ensembles, basins, labels, fractions and
capacity on plain ``Network`` objects and arrays.  Imports ``solvers``,
``model`` and ``core``; never the scenario layer."""
