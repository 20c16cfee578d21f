"""The solvers layer: ``simulate``, solve settings, the method registry, the
Diffrax-based methods with hopdyn's own ETDRK4 and RKC2, discrete rules,
stopping, stiffness, sharding.  Imports ``model`` and ``core`` only."""
