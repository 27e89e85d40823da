"""Numba kernels that build one rank's IBM1 parameter set (:mod:`.kernels`)."""
