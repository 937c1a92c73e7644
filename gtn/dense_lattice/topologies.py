"""Label graphs for dense intersection: CTC, ASG, HMM and linear-chain CRF topologies.

Every graph here is an acceptor whose arcs carry emission columns 0..V-1 and whose weights are
energies. A path consumes one label per frame. Batches of per-utterance
graphs (transcripts) are built vectorised, as a :class:`GraphBatch`, never one Python graph at
a time. Each state's incoming arcs come from consecutive states, which the kernels exploit.

Names say what comes back: ``*_graphs`` a :class:`GraphBatch` for :func:`intersect_dense` (one
graph per transcript, or one shared by the batch), ``*_topology`` and ``*_transducer`` one
:class:`gtn.Graph`.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
import torch

from .._internal.batch import offsets
from ..graph import EPSILON, Graph, GraphError
from ._prep import Structure, insertion_sort
from .batch import GraphBatch, check_energies

INF = float("inf")
_INT32_MAX = np.iinfo(np.int32).max


def ragged_targets(targets: torch.Tensor, target_lengths) -> tuple[np.ndarray, np.ndarray]:
    """(concatenated labels int64, lengths int64) from padded [B, S] or concatenated [sum L]."""
    lens = integers("target_lengths", target_lengths).reshape(-1)
    tg = integers("targets", targets)
    if (lens < 0).any():
        raise ValueError(f"target_lengths[{int(np.flatnonzero(lens < 0)[0])}] is negative")
    if tg.ndim == 2:
        if tg.shape[0] != lens.shape[0]:
            raise ValueError(
                f"targets has {tg.shape[0]} rows but target_lengths has {lens.shape[0]} entries"
            )
        if lens.size and lens.max() > tg.shape[1]:
            i = int(np.argmax(lens))
            raise ValueError(
                f"target_lengths[{i}] = {int(lens[i])} exceeds targets width {tg.shape[1]}"
            )
        flat = tg[np.arange(tg.shape[1])[None, :] < lens[:, None]]
    elif tg.ndim == 1:
        if tg.shape[0] != lens.sum():
            raise ValueError(
                f"concatenated targets have {tg.shape[0]} labels but "
                f"target_lengths sum to {int(lens.sum())}"
            )
        flat = tg
    else:
        raise ValueError(f"targets must be [B, S] or concatenated [sum L], got {list(tg.shape)}")
    return flat, lens


def integers(name: str, x) -> np.ndarray:
    """int64 numpy copy of an integer tensor, array or sequence; TypeError naming ``name`` for
    anything else (float labels or lengths are refused, as torch's ctc_loss refuses them)."""
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):
        raise TypeError(f"{name} must be integers, got {type(x).__name__} of dtype {a.dtype}")
    return a.astype(np.int64)


def _chain_graphs(
    labels: np.ndarray,
    counts: np.ndarray,
    skip: np.ndarray,
    w_self,
    w_prev,
    w_skip,
    num_final: np.ndarray,
    dtype,
) -> GraphBatch:
    """Left-to-right chains, one per utterance: an initial state 0 then ``counts[b]`` states.
    State k (1-based) has label labels[k], a self-loop, an arc from k-1 and, where skip[k], an
    arc from k-2; its last num_final[b] states are final. Weights are per-state tensors (or
    floats) of the self, previous and skip arcs."""
    B = counts.shape[0]
    S = labels.shape[0]
    node_off = offsets(counts + 1)
    graph = np.repeat(np.arange(B), counts)
    k = np.arange(S) - np.repeat(node_off[:-1] - np.arange(B), counts) + 1  # local id of state
    cand_src = np.stack([k - 2, k - 1, k], 1)
    valid = np.stack([skip, np.ones(S, bool), np.ones(S, bool)], 1)
    src = cand_src[valid]
    dst = np.repeat(k, valid.sum(1))
    lab = np.repeat(labels, valid.sum(1))
    arc_off = offsets(np.bincount(graph, weights=valid.sum(1), minlength=B).astype(np.int64))

    # the weights' device (a GPU's for ASG's transitions): built there, indexed from the host
    device = next((w.device for w in (w_self, w_prev, w_skip) if torch.is_tensor(w)), None)

    def per_state(w):
        return (
            torch.as_tensor(w, dtype=dtype, device=device).expand(S)
            if not torch.is_tensor(w) or w.dim() == 0
            else w.to(dtype)
        )

    wt = torch.stack([per_state(w_skip), per_state(w_prev), per_state(w_self)], 1)
    # flat indices, not a boolean mask: a mask on a device tensor reads its count back
    weight = wt.reshape(-1)[torch.from_numpy(np.flatnonzero(valid)).to(wt.device)]
    n = int(node_off[-1])
    start = torch.full((n,), INF, dtype=dtype)
    start[torch.from_numpy(node_off[:-1])] = 0.0
    final = torch.full((n,), INF, dtype=dtype)
    last = node_off[1:] - 1
    final[torch.from_numpy(last)] = 0.0
    two = np.flatnonzero(num_final >= 2)
    final[torch.from_numpy(last[two] - 1)] = 0.0
    return GraphBatch(node_off, arc_off, src, dst, lab, weight, start, final)


def ctc_graphs(
    targets: torch.Tensor, target_lengths, blank: int = 0, dtype: torch.dtype = torch.float64
) -> GraphBatch:
    """CTC label graphs of B transcripts (padded [B, S] or concatenated), vectorised.

    Transcript y of length L gives 2L+2 states: an initial state, then blank, y0, blank, y1,
    ..., blank. Every state loops on its label; a label state is also entered from two states
    back unless it repeats the previous label (a blank must separate repeats). All energies
    are 0, so the free energy with emissions -log p is the CTC loss. The initial state of an
    empty transcript is also final: zero frames align with it at energy 0, as in torch.

    Returns a :class:`GraphBatch` of B acceptors for ``gtn.intersect_dense``.

    >>> import torch, gtn
    >>> graphs = gtn.ctc_graphs(torch.tensor([[1, 2], [3, 0]]), [2, 1])  # "1 2" and "3"
    >>> len(graphs), graphs.graph(0).num_nodes, graphs.graph(1).num_nodes
    (2, 6, 4)
    >>> emissions = -torch.randn(2, 5, 4, dtype=torch.float64).log_softmax(-1)  # [B, T, V]
    >>> gtn.intersect_dense(graphs, emissions).free_energy().shape  # each one's CTC loss
    torch.Size([2])
    """
    flat, lens = ragged_targets(targets, target_lengths)
    if blank < 0:  # -1 would be gtn.EPSILON: the blank arcs would consume no frame
        raise ValueError(f"blank must be a label >= 0, got {blank}")
    if flat.size and ((flat == blank).any() or (flat < 0).any()):
        i = int(np.flatnonzero((flat == blank) | (flat < 0))[0])
        raise ValueError(
            f"target label {int(flat[i])} (position {i} of the concatenated "
            f"targets) is the blank ({blank}) or negative"
        )
    if flat.size and flat.max() > _INT32_MAX:  # labels are int32: never wrap
        i = int(np.argmax(flat))
        raise ValueError(
            f"target label {int(flat[i])} (position {i} of the concatenated targets) is "
            f"out of range for 32-bit labels"
        )
    node_off, arc_off, src, dst, lab = _ctc_arrays(flat, lens, blank)
    n, a = int(node_off[-1]), int(arc_off[-1])
    np_dtype = _NP_FLOAT.get(dtype)
    if np_dtype is None:  # other float types: let torch convert
        np_dtype, to = np.float64, dtype
    else:
        to = None
    # numpy, not torch: a handful of tiny torch ops costs more than the whole build
    start = np.full(n, INF, np_dtype)
    start[node_off[:-1]] = 0.0
    final = np.full(n, INF, np_dtype)
    final[node_off[1:] - 1] = 0.0
    two = np.flatnonzero(lens > 0)  # the last label and the trailing blank
    final[node_off[1:][two] - 2] = 0.0
    final[node_off[:-1][lens == 0]] = 0.0  # an empty transcript also accepts zero frames
    w, sw, fw = (torch.from_numpy(x) for x in (np.zeros(a, np_dtype), start, final))
    if to is not None:
        w, sw, fw = w.to(to), sw.to(to), fw.to(to)
    batch = GraphBatch(node_off, arc_off, src, dst, lab, w, sw, fw)
    # the kernel layout is known in closed form: skip the general _prep.structure pass (built
    # when first needed, once intersect_dense has checked the labels against V)
    batch._cache["dense_maker"] = _ctc_structure
    return batch


def _ctc_structure(batch: GraphBatch) -> Structure:
    """The :class:`~._prep.Structure` of a :func:`ctc_graphs` batch, in closed form."""
    node_off, arc_off, lab = batch.node_offsets, batch.arc_offsets, batch.label
    lay = _ctc_layout(node_off, arc_off, batch.src, lab)
    n_eps = np.zeros(0, np.int64)
    G, a = len(batch), lab.shape[0]
    return Structure(
        G, node_off, lay[0], *lay[2:7], np.arange(a, dtype=np.int64), np.zeros(G + 1, np.int64),
        n_eps, n_eps, n_eps, *lay[7:9], lay[1], int(lab.max()) if a else -1, lab,
        arc_off, lay[9], True,
    )  # fmt: skip


@nb.njit(cache=True)
def _ctc_layout(node_off, arc_off, src, lab):
    """Fields of the :class:`~._prep.Structure` of a CTC batch from :func:`_ctc_arrays`:
    (max_nodes, max_labels, run_ptr, run_src0, run_pos0, run_len, run_ulab, lab_off, labs,
    state_ulab). Its arcs are already in CSR order (by destination, then source) and each
    non-initial state has one run (2-3 arcs with one label from consecutive states)."""
    G = node_off.shape[0] - 1
    n_total = node_off[G]
    run_ptr = np.zeros(n_total + 1, np.int64)
    R = n_total - G
    run_src0 = np.empty(R, np.int64)
    run_pos0 = np.empty(R, np.int64)
    run_len = np.empty(R, np.int64)
    run_ulab = np.empty(R, np.int64)
    lab_off = np.zeros(G + 1, np.int64)
    labs_all = np.empty(R, np.int64)
    top = 0
    for x in lab:  # not lab.max(): its empty-array error message costs seconds of compilation
        top = max(top, x)
    slot = np.full(top + 1, -1, np.int64)
    r = 0
    count = np.int64(0)  # not a literal 0: insertion_sort would compile once per literal
    for g in range(G):
        a = arc_off[g]
        n0, n1 = node_off[g], node_off[g + 1]
        run_ptr[n0 + 1] = r  # the initial state has no incoming arcs
        start = count
        for v in range(n0 + 1, n1):
            k = v - n0
            n = 3 if src[a] == k - 2 else 2
            run_src0[r] = src[a]
            run_pos0[r] = a
            run_len[r] = n
            run_ulab[r] = lab[a]  # the label for now; its index in the set below
            if slot[lab[a]] < 0:
                slot[lab[a]] = 0
                labs_all[count] = lab[a]
                count += 1
            a += n
            r += 1
            run_ptr[v + 1] = r
        insertion_sort(labs_all, start, count)  # a few labels; np.sort compiles slowly
        for i in range(start, count):
            slot[labs_all[i]] = i - start
        for i in range(r - (n1 - n0 - 1), r):
            run_ulab[i] = slot[run_ulab[i]]
        for i in range(start, count):
            slot[labs_all[i]] = -1
        lab_off[g + 1] = count
    state_ulab = np.zeros(n_total, np.int64)
    max_nodes = 0
    max_labels = 0
    for g in range(G):
        max_nodes = max(max_nodes, node_off[g + 1] - node_off[g])
        max_labels = max(max_labels, lab_off[g + 1] - lab_off[g])
        for v in range(node_off[g] + 1, node_off[g + 1]):
            state_ulab[v] = run_ulab[run_ptr[v]]
    labs = labs_all[:count].copy()
    return (
        max_nodes, max_labels, run_ptr, run_src0, run_pos0, run_len, run_ulab, lab_off, labs,
        state_ulab,
    )  # fmt: skip


_NP_FLOAT = {torch.float32: np.float32, torch.float64: np.float64}


@nb.njit(cache=True)
def _ctc_arrays(flat, lens, blank):
    """CTC graph structure for ragged transcripts (see :func:`ctc_graphs`): node and arc
    offsets [B+1], src, dst, label int32 [A]. State k's arcs come in the order skip (k-2),
    previous (k-1), self, as :func:`_chain_graphs` lays them out."""
    B = lens.shape[0]
    node_off = np.zeros(B + 1, np.int64)
    arc_off = np.zeros(B + 1, np.int64)
    p0 = 0
    for b in range(B):
        node_off[b + 1] = node_off[b] + 2 * lens[b] + 2
        arc_off[b + 1] = arc_off[b] + 4 * lens[b] + 2  # 2L+1 self + 2L+1 previous, skips below
        for i in range(lens[b]):
            if i == 0 or flat[p0 + i] != flat[p0 + i - 1]:
                arc_off[b + 1] += 1
        p0 += lens[b]
    A = arc_off[B]
    src = np.empty(A, np.int32)
    dst = np.empty(A, np.int32)
    lab = np.empty(A, np.int32)
    a = 0
    p0 = 0
    for b in range(B):
        L = lens[b]
        for k in range(1, 2 * L + 2):
            y = blank
            if k % 2 == 0:
                i = k // 2 - 1
                y = flat[p0 + i]
                if i == 0 or y != flat[p0 + i - 1]:  # a blank must separate repeats
                    src[a], dst[a], lab[a] = k - 2, k, y
                    a += 1
            src[a], dst[a], lab[a] = k - 1, k, y
            src[a + 1], dst[a + 1], lab[a + 1] = k, k, y
            a += 2
        p0 += L
    return node_off, arc_off, src, dst, lab


def hmm_graphs(
    targets: torch.Tensor,
    target_lengths,
    states_per_symbol: int = 3,
    self_loop: float = 0.0,
    forward: float = 0.0,
    skip: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> GraphBatch:
    """HMM numerator graphs: symbol s is n = states_per_symbol left-to-right states with
    emission columns s*n .. s*n+n-1, each with a self-loop (energy ``self_loop``), entered from
    the previous state (``forward``) and, if ``skip`` is an energy, from two states back within
    the symbol. Transcripts are padded [B, S] or concatenated. Energies: lower is better; the
    emissions [B, T, num_symbols * n] give each state's energy per frame.

    >>> import torch, gtn
    >>> graphs = gtn.hmm_graphs(torch.tensor([[0, 1]]), [2], states_per_symbol=3)
    >>> g = graphs.graph(0)  # an initial state, then 3 states for symbol 0 and 3 for symbol 1
    >>> g.num_nodes, sorted(set(g.ilabel.tolist()))
    (7, [0, 1, 2, 3, 4, 5])
    """
    flat, lens = ragged_targets(targets, target_lengths)
    n = int(states_per_symbol)
    if n < 1:
        raise ValueError(f"states_per_symbol must be >= 1, got {n}")
    _check_arc_energies(self_loop=self_loop, forward=forward, skip=skip)
    labels = (flat[:, None] * n + np.arange(n)[None, :]).reshape(-1)
    j = np.tile(np.arange(n), flat.shape[0])
    skips = (j >= 2) if skip is not None else np.zeros(labels.shape[0], bool)
    return _chain_graphs(
        labels,
        lens * n,
        skips,
        self_loop,
        forward,
        INF if skip is None else skip,
        np.ones_like(lens),
        dtype,
    )


def hmm_topology(
    num_symbols: int,
    states_per_symbol: int = 3,
    self_loop: float = 0.0,
    forward: float = 0.0,
    skip: float | None = None,
    loop: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> Graph:
    """HMM denominator graph: any sequence of symbols (a symbol loop with energy ``loop`` per
    new symbol) through the same left-to-right topology as :func:`hmm_graphs`. Energies: lower
    is better; emission columns 0 .. num_symbols * states_per_symbol - 1.

    >>> import gtn
    >>> g = gtn.hmm_topology(2, states_per_symbol=3)
    >>> g.num_nodes, g.num_arcs, g.final_nodes.tolist()  # ends of the two symbols are final
    (7, 16, [3, 6])
    """
    n, K = int(states_per_symbol), int(num_symbols)
    _check_arc_energies(self_loop=self_loop, forward=forward, skip=skip, loop=loop)
    # states: 0 initial, 1 + s*n + j
    src, dst, w = [], [], []
    st = np.arange(K * n) + 1
    j = (st - 1) % n
    for a, b, e, mask in (
        (st, st, self_loop, np.ones_like(st, bool)),
        (st - 1, st, forward, j > 0),
        (st - 2, st, skip, (j >= 2) if skip is not None else j < 0),
    ):
        src.append(a[mask])
        dst.append(b[mask])
        w.append(np.full(mask.sum(), e, np.float64))
    ends = st[j == n - 1]
    firsts = st[j == 0]
    src += [np.zeros(K, np.int64), np.repeat(ends, K)]
    dst += [firsts, np.tile(firsts, K)]
    w += [np.full(K, forward), np.full(K * K, loop + forward)]
    src, dst = np.concatenate(src), np.concatenate(dst)
    return Graph.from_arrays(
        K * n + 1,
        src,
        dst,
        dst - 1,
        weight=torch.tensor(np.concatenate(w), dtype=dtype),
        start=[0],
        final=ends,
    )


def asg_graphs(targets: torch.Tensor, target_lengths, transitions: torch.Tensor) -> GraphBatch:
    """ASG numerator graphs: each transcript label is one state that repeats (self-loop energy
    transitions[y_i, y_i]) and moves on (transitions[y_i, y_i+1]); no blank. Differentiable in
    ``transitions`` [K, K] (energy of moving from label i to label j)."""
    flat, lens = ragged_targets(targets, target_lengths)
    K = _check_square("transitions", transitions)
    check_energies("transitions", transitions)
    if flat.size and (flat.max() >= K or flat.min() < 0):
        raise ValueError(f"target labels must be in [0, {K}), got {int(flat.max())}")
    dev = transitions.device
    y = torch.from_numpy(flat).to(dev)
    prev = torch.from_numpy(np.concatenate([[0], flat[:-1]]) if flat.size else flat).to(dev)
    w_prev = transitions[prev, y]
    first = torch.from_numpy(offsets(lens)[:-1][lens > 0]).to(dev)
    w_prev = w_prev.index_put((first,), w_prev.new_zeros(first.shape[0]))  # from the start
    return _chain_graphs(
        flat,
        lens,
        np.zeros(flat.shape[0], bool),
        transitions[y, y],
        w_prev,
        INF,
        np.ones_like(lens),
        transitions.dtype,
    )


def _check_arc_energies(**energies) -> None:
    """GraphError naming the first keyword argument that is NaN or -inf (None: no such arc)."""
    for name, value in energies.items():
        if value is not None:
            check_energies(name, value)


def _check_square(name: str, m: torch.Tensor) -> int:
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a [K, K] tensor, got {list(m.shape)}")
    return m.shape[0]


@functools.lru_cache(maxsize=64)
def _chain_template(K: int) -> GraphBatch:
    """Structure of the K-label linear chain: states 0..K-1 (last label) and K (initial), so
    each state's K+1 incoming arcs come from consecutive states: one dense run."""
    i, j = np.divmod(np.arange(K * K), K)
    src = np.concatenate([i, np.full(K, K)])
    dst = np.concatenate([j, np.arange(K)])
    z = torch.zeros(K + 1)
    return GraphBatch([0, K + 1], [0, K * K + K], src, dst, dst, torch.zeros(K * K + K), z, z)


def linear_chain_graphs(
    transitions: torch.Tensor, start: torch.Tensor | None = None, end: torch.Tensor | None = None
) -> GraphBatch:
    """Linear-chain CRF (or ASG denominator) graph over K labels as a one-graph
    :class:`GraphBatch`, shared by every utterance of a batch (:func:`linear_chain_topology`
    is the same graph as a :class:`gtn.Graph`).

    Energy of a tag sequence y: start[y_0] + sum_t transitions[y_t-1, y_t] + end[y_last]
    (+ the emissions). transitions [K, K], start/end [K]: energies, lower is better (pytorch-crf
    scores are the negatives). Differentiable in all three."""
    K = _check_square("transitions", transitions)
    dt = transitions.dtype
    start = transitions.new_zeros(K) if start is None else start.to(dt)
    end = transitions.new_zeros(K) if end is None else end.to(dt)
    if start.shape != (K,) or end.shape != (K,):
        raise ValueError(
            f"start and end must have shape [{K}], got {list(start.shape)}, {list(end.shape)}"
        )
    _check_arc_energies(transitions=transitions, start=start, end=end)
    inf = transitions.new_full((1,), INF)
    sw = torch.cat([transitions.new_full((K,), INF), transitions.new_zeros(1)])
    return _chain_template(K).with_weights(
        torch.cat([transitions.reshape(-1), start]), sw, torch.cat([end, inf])
    )


def linear_chain_topology(
    transitions: torch.Tensor, start: torch.Tensor | None = None, end: torch.Tensor | None = None
) -> Graph:
    """The linear-chain CRF graph of :func:`linear_chain_graphs` as one :class:`gtn.Graph` (for
    drawing or the general algebra)."""
    return linear_chain_graphs(transitions, start, end).graph(0)


def _check_num_labels(num_labels: int, blank: int) -> int:
    if isinstance(num_labels, bool) or not isinstance(num_labels, int | np.integer):
        raise GraphError(f"num_labels must be an int, got {type(num_labels).__name__}")
    if num_labels < 2:
        raise GraphError(
            f"num_labels = {num_labels}: it counts the blank too (the emission width V), so a"
            " CTC graph needs at least 2 (the blank and one label)"
        )
    if isinstance(blank, bool) or not isinstance(blank, int | np.integer):
        raise GraphError(f"blank must be an int, got {type(blank).__name__}")
    if not 0 <= blank < num_labels:
        raise GraphError(f"blank {blank} is outside [0, {num_labels})")
    return int(num_labels)


def ctc_topology(num_labels: int, blank: int = 0, dtype: torch.dtype = torch.float64) -> Graph:
    """CTC acceptor of every transcript over emission columns 0..num_labels-1.

    ``num_labels`` is the emission width V and **counts the blank** (CTC over 3 letters with
    blank 0 is ``ctc_topology(4)``). States: 0 (initial), 1 (blank), 2+c (the c-th non-blank
    label). A label state loops (repeats collapse) and is entered from any other state; a blank
    separates repeats. All energies are 0, so with emissions -log p the free energy is 0 (the
    frames are normalised). For decoding and as an MMI-style denominator; its paths are frame
    label sequences (use :func:`ctc_transducer` to read transcripts off them).

    Raises:
        GraphError: ``num_labels`` < 2, or ``blank`` outside [0, num_labels).

    >>> import gtn
    >>> g = gtn.ctc_topology(3)  # blank 0 and labels 1, 2
    >>> g.num_nodes, g.num_arcs
    (4, 12)
    """
    V = _check_num_labels(num_labels, blank)
    lab_of = np.array([0, blank] + [c for c in range(V) if c != blank])
    n = V + 1
    dst, src = np.divmod(np.arange(n, n * n), n)  # every state enters every non-initial state
    return Graph.from_arrays(
        n,
        src,
        dst,
        lab_of[dst],
        start=[0],
        final=np.arange(1, n),
        weight=torch.zeros(src.shape[0], dtype=dtype),
    )


def ctc_transducer(num_labels: int, blank: int = 0, dtype: torch.dtype = torch.float64) -> Graph:
    """The CTC token transducer (k2's ``ctc_topo``, the "H" of an HLG decoding graph): frame
    labels in, transcript labels out. It drops blanks and merges repeats, so composed with a
    lexicon or a transcript acceptor on its output side it gives every alignment of them.

    ``num_labels`` is the emission width V and counts the blank (k2's ``ctc_topo(max_token)``
    is ``ctc_transducer(max_token + 1)``). State k means "the last frame label was k" (the
    start state is the blank's); every state is final. Reading frame label c from state k
    goes to state c and outputs c when c is a new non-blank label, else epsilon (a blank, or a
    repeat of k). Deterministic on its input, so each frame sequence is exactly one path and
    each alignment of a transcript is counted once. V*V arcs, all energies 0.

    Raises:
        GraphError: ``num_labels`` < 2, or ``blank`` outside [0, num_labels).

    >>> import gtn, torch
    >>> H = gtn.ctc_transducer(3)  # blank 0, labels 1 and 2
    >>> frames = gtn.linear([1, 1, 0, 1, 2, 2])
    >>> path = gtn.best_path(gtn.compose(frames, H))
    >>> [k for k in path.olabel.tolist() if k != gtn.EPSILON]
    [1, 1, 2]
    """
    V = _check_num_labels(num_labels, blank)
    src, dst = np.divmod(np.arange(V * V), V)  # from every state to every state
    olabel = np.where((dst == blank) | (dst == src), EPSILON, dst)
    return Graph.from_arrays(
        V,
        src,
        dst,
        dst,
        olabel,
        start=[blank],
        final=np.arange(V),
        weight=torch.zeros(V * V, dtype=dtype),
    )
