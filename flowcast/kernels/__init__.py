"""Numba kernels only (numpy + numba imports, no I/O): buckets, history rings, quality, imputation,
features.
"""
