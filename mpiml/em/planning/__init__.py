"""Numba kernels of the C-step planner's linear-time helpers (:mod:`.kernels`)."""
