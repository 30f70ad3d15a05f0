"""Measuring: the engine (the one implementation of each step that the tune and the benchmark share), statistics,
and `tune_mix`. Imports every layer below."""
