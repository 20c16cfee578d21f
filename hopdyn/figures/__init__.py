"""Figures: matplotlib ``Figure`` objects (no pyplot state) of trajectories,
basins and capacity.  Imported only when a figure is drawn."""
