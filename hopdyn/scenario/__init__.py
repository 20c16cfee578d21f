"""The scenario layer: the YAML schema (generated from the library's
registries and signatures), loading, ``--set`` overrides, building, and the
translation of a file's studies into library calls."""
