"""Every figure function, by family (``run``, ``basins``, ``continuation``,
``capacity``, ``training``; ``common`` holds the axes they share): one name to
import them all by, for scripts and notebooks that want any figure."""

from .basins import attractor_energy_figure, basin_map_figure, convergence_figure, retrieval_figure
from .capacity import capacity_figure, finite_size_figure
from .common import TIME_LABEL, ZERO_FLOOR
from .continuation import (
    _continuation_names,
    _shown,
    bifurcation_figure,
    continuation_census_figure,
    continuation_energies_figure,
    continuation_fractions_figure,
)
from .run import (
    compare_figure,
    energy_figure,
    fixed_points_2d,
    pca_figure,
    phase_figure,
    states_figure,
    write_animation,
)
from .training import images_figure, training_curves_figure

__all__ = [
    "TIME_LABEL",
    "ZERO_FLOOR",
    "_continuation_names",
    "_shown",
    "attractor_energy_figure",
    "basin_map_figure",
    "bifurcation_figure",
    "capacity_figure",
    "compare_figure",
    "continuation_census_figure",
    "continuation_energies_figure",
    "continuation_fractions_figure",
    "convergence_figure",
    "energy_figure",
    "finite_size_figure",
    "fixed_points_2d",
    "images_figure",
    "pca_figure",
    "phase_figure",
    "retrieval_figure",
    "states_figure",
    "training_curves_figure",
    "write_animation",
]
