"""Numba kernels only (numpy + numba imports, no I/O): bucketing, history, quality, features."""
