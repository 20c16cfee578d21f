"""The bottom layer: errors, atomic file writing, pattern data (numpy)."""
