"""apps: complete applications (check reading, speech, segmentation) and the ``ebgtn`` command.

gtn is imported first, before any application imports torch, so that torch's OpenMP threads
sleep when idle and take turns with numba's (see ``gtn._internal.threads``)."""

import gtn  # noqa: F401
