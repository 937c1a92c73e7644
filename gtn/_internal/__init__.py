"""Private implementation of gtn: numba kernels (``*_kernels``) and small helpers. Not API."""
