"""``hopdyn bench``: the benchmark harness, apart from the library code."""
