"""Arc maps: how structural operations stay differentiable.

A structural operation (compose, intersect, connect, arc_sort, top_sort, project, invert, the
rational operations, best-path extraction) decides in numpy or numba *which* input arc each
output arc copies: its arc map, an int array [A'] of input arc ids. The output energies are then
ordinary torch expressions of the inputs' energies, ``gather(a.weight, map_a) +
gather(b.weight, map_b)``, and torch autograd differentiates them; no backward is written.
:meth:`gtn.Graph._derive` builds the output graph from an input and an arc map.

Which mechanism to use when:

- **Arc map** (this module): every output energy is a *sum of input energies* (each output arc
  copies at most one arc per input). Cheapest and exact; use it whenever it suffices.
- **Weight tape** (:mod:`gtn._internal.weight_tape`): output energies are semiring *sums over
  paths* formed while the graph is built (epsilon closures, determinization residuals). The
  kernel records each value's expression; a replay Function differentiates it.
- **Custom autograd Function** (:mod:`gtn.scoring`, :mod:`gtn.shortest_paths`,
  :mod:`gtn.dense_lattice`): the result is a *score*, not a graph (free energy, best path,
  posteriors), computed by a dynamic program whose backward pass is another dynamic program
  (the gradient of the free energy is the arc posterior).
"""

from __future__ import annotations

import numpy as np
import torch


def gather(values: torch.Tensor, index: np.ndarray, absent: float = 0.0) -> torch.Tensor:
    """values[index] [M] for an arc (or node) map ``index`` [M], differentiable in ``values``.

    An entry -1 (or len(values)) means "no source": it gives ``absent``, 0 for an arc that
    adds no energy, +inf for a state that is not a start / final state. Gathers through
    ``index_select`` (on a padded copy only when an entry has no source), several times faster
    than advanced indexing.
    """
    idx = torch.from_numpy(np.asarray(index))
    if idx.dtype not in (torch.int32, torch.int64):
        idx = idx.long()
    n = values.shape[0]
    if idx.numel():
        lo, hi = (int(v) for v in torch.aminmax(idx))
        if lo < 0 or hi >= n:
            if lo < 0:
                idx = torch.where(idx < 0, n, idx)
            values = torch.cat([values, values.new_full((1,), absent)])
    return torch.index_select(values, 0, idx)
