"""Synthetic data generators (pure numpy, seeded): used by data/, tests and benchmarks."""
