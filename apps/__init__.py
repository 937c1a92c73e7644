"""apps: complete applications (check reading, speech, segmentation) and the ``ebgtn`` command.

Sign convention (as in :mod:`gtn`): **energies, lower is better.** Networks output energies,
-log_softmax of their logits (not scores or log-probabilities), and graphs, losses and the
energies of answers follow the libraries' convention.

gtn is imported first, before any application imports torch, so that torch's OpenMP threads
sleep when idle and take turns with numba's (see ``gtn._internal.threads``)."""

import gtn  # noqa: F401
