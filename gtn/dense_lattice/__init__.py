"""Dense lattices: emission energies [B, T, V] intersected with acceptors over labels, the
training fast path. CTC, ASG, HMM/MMI and linear-chain CRFs are this one operation with
different graphs. Energies everywhere: lower is better, emissions = -log_softmax(logits)."""

from .batch import GraphBatch
from .criteria import asg_loss, crf_decode, crf_nll, ctc_loss, mmi_loss, path_energy
from .greedy import ctc_greedy_decode
from .intersection import Alignment, DenseLattice, intersect
from .topologies import (
    asg_graphs,
    ctc_graphs,
    ctc_topology,
    ctc_transducer,
    hmm_graphs,
    hmm_topology,
    linear_chain,
    linear_chain_graph,
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
    "intersect",
    "linear_chain",
    "linear_chain_graph",
    "mmi_loss",
    "path_energy",
]
