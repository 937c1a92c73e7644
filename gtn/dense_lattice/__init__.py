"""Dense lattices: emission energies [B, T, V] intersected with acceptors over labels, the
training fast path. CTC, ASG, HMM/MMI and linear-chain CRFs are this one operation with
different graphs. Energies everywhere: lower is better, emissions = -log_softmax(logits)."""

from .._internal.deprecation import deprecated_aliases
from .batch import GraphBatch
from .criteria import asg_loss, crf_decode, crf_nll, ctc_loss, mmi_loss, path_energy
from .greedy import ctc_greedy_decode
from .intersection import Alignment, DenseLattice, intersect_dense
from .topologies import (
    asg_graphs,
    ctc_graphs,
    ctc_topology,
    ctc_transducer,
    hmm_graphs,
    hmm_topology,
    linear_chain_graphs,
    linear_chain_topology,
)

__all__ = [
    "Alignment",
    "DenseLattice",
    "GraphBatch",
    "asg_graphs",
    "asg_loss",
    "crf_decode",
    "crf_nll",
    "ctc_graphs",
    "ctc_greedy_decode",
    "ctc_loss",
    "ctc_topology",
    "ctc_transducer",
    "hmm_graphs",
    "hmm_topology",
    "intersect_dense",
    "linear_chain_graphs",
    "linear_chain_topology",
    "mmi_loss",
    "path_energy",
]

# Old names of this release's renames (each use warns): old name -> the function it now names.
_RENAMED = {
    "intersect": intersect_dense,
    "linear_chain": linear_chain_graphs,
    "linear_chain_graph": linear_chain_topology,
}
__getattr__ = deprecated_aliases(
    __name__, {old: (f"{__name__}.{new.__name__}", new) for old, new in _RENAMED.items()}
)
