"""Dense intersection: a batch of per-frame emission energies [B, T, V] with acceptors over
labels, scored without ever building the T x arcs lattice.

Emissions and arc weights are energies (``-log_softmax(logits)``). A path through the graph
consumes one label per frame (epsilon arcs, ``gtn.EPSILON``, consume none) and its energy is

    start weight + sum over frames (arc weight + emissions[b, t, label]) + final weight.

``free_energy(beta) = -(1/beta) log sum_paths exp(-beta E)``; ``min_energy() = min_paths E``.
Both are differentiable with respect to the emissions (gradient: label posteriors, or the best
path's indicator) and to every arc, start and final weight (expected counts). Memory is
O(B * T * states). An utterance with no complete path has energy +inf and zero gradient; so
has one whose energy is infinite in the returned dtype (float32 3 x 2e38 is +inf). beta must lie
in [1e-300, inf): see docs/concepts/numerics.md for what large beta and large energies give.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
import torch

from .._internal.threads import sync_threads
from ..graph import Graph, GraphError
from ..scoring import check_beta
from . import _banded, _dense, _logspace, _scaled, _statewise, _torch_lattice, _viterbi
from ._backend import backend
from ._prep import Grads, Scaled, Structure, Utterances, Weights, structure, weights
from .batch import GraphBatch

INF = float("inf")
# the matrix Viterbi does one add and one compare per arc-frame: a thread must get far more
_PARALLEL_VITERBI = 4_000_000


class Alignment(NamedTuple):
    """The minimum-energy path of each utterance, frame by frame (padding frames hold -1).

    labels: long [B, T]; arcs: long [B, T], the emitting arc of each frame as an index into that
    utterance's graph; energy: [B] the minimum energy (+inf when there is no path)."""

    labels: torch.Tensor
    arcs: torch.Tensor
    energy: torch.Tensor


class DenseLattice:
    """The implicit lattice of ``graphs`` intersected with ``emissions``; see
    :func:`intersect_dense`."""

    def __init__(
        self, graphs: GraphBatch, emissions: torch.Tensor, lengths: np.ndarray, shared: bool
    ):
        self.graphs = graphs
        self.emissions = emissions
        self.lengths = lengths
        self.shared = shared
        self.structure: Structure = structure(graphs)
        B = emissions.shape[0]
        self.gidx = np.zeros(B, np.int64) if shared else np.arange(B, dtype=np.int64)
        # row of the gradient buffers each utterance writes: its own when the graph is shared
        self.rows = np.arange(B, dtype=np.int64) if shared else np.zeros(B, np.int64)
        self.small: bool | None = None  # too little work for threads (see _use_threads)
        self.family: str = _choose_family(self.graphs, self.structure)  # a key of FAMILIES
        self.em_np: np.ndarray | None = None  # the emissions as the kernels read them (_em)
        self.backend = backend(emissions)  # 'numba' or 'torch', see _backend

    @property
    def batch_size(self) -> int:
        return self.emissions.shape[0]

    def free_energy(self, beta: float = 1.0, dtype: torch.dtype | None = None) -> torch.Tensor:
        """[B] free energies at inverse temperature ``beta`` (differentiable), in ``dtype``
        (default: the emissions'). The kernels accumulate in float64 whatever the emissions'
        dtype; ask for float64 to subtract two large free energies without cancellation (as
        MMI does: k2's ``use_double_scores``)."""
        beta = check_beta(beta)
        g = self.graphs
        out = self.emissions.dtype if dtype is None else dtype
        if self.backend == "torch":
            return _torch_lattice.free_energy(self, beta, out)
        return _FreeEnergy.apply(
            self, beta, out, self.emissions, g.weight, g.start_weight, g.final_weight
        )

    def min_energy(self) -> torch.Tensor:
        """[B] minimum path energies (differentiable: the gradient is the best path)."""
        if self.backend == "torch":
            return _torch_lattice.min_energy(self)
        g = self.graphs
        return _MinEnergy.apply(self, self.emissions, g.weight, g.start_weight, g.final_weight)

    def best_alignment(self) -> Alignment:
        """Label and graph arc per frame of a minimum-energy path (ties: a fixed choice)."""
        if self.backend == "torch":
            return Alignment(*_torch_lattice.best_alignment(self))
        with torch.no_grad():
            _use_threads(self)
            fast = FAMILIES[self.family].best_path
            if fast is not None:
                labels, arcs, energy = (torch.from_numpy(x) for x in fast(self))
                return Alignment(labels, arcs, energy.to(self.emissions.dtype))
            alpha, energy = _tropical(self)
            return _backtrack(self, alpha, energy, None)[0]

    def label_posteriors(self, beta: float = 1.0) -> torch.Tensor:
        """[B, T, V] posterior probability of each label at each frame under the Gibbs
        distribution exp(-beta E) over paths (rows sum to 1; zero on padding and for utterances
        with no path). Equal to the gradient of the free energy; not itself differentiable."""
        beta = check_beta(beta)
        if self.backend == "torch":
            return _torch_lattice.label_posteriors(self, beta)
        saved = _free_forward(self, beta)
        grads = _free_backward(
            self, saved, np.ones(self.batch_size), arc_grads=False, emissions_only=True
        )
        return grads[0]

    def to_graph(self, b: int = 0) -> Graph:
        """Utterance ``b``'s lattice as an explicit :class:`gtn.Graph` with (T+1) x N states;
        arc weights are differentiable. For small cases: it has T x arcs arcs."""
        g = self.graphs.graph(int(self.gidx[b]))
        T, N = int(self.lengths[b]), g.num_nodes
        lab = torch.from_numpy(g.ilabel.astype(np.int64))
        emit = torch.nonzero(lab >= 0).flatten()
        eps = torch.nonzero(lab < 0).flatten()
        t = torch.arange(T).repeat_interleave(emit.numel())
        src, dst = (torch.from_numpy(x.astype(np.int64)) for x in (g.src, g.dst))
        e = emit.repeat(T)
        te = torch.arange(T + 1).repeat_interleave(eps.numel())
        ee = eps.repeat(T + 1)
        em = self.emissions[b]
        w = torch.cat([g.weight[e] + em[t, lab[e]].to(g.dtype), g.weight[ee]])
        none = torch.full((T * N,), INF, dtype=g.dtype)  # start at frame 0, final at frame T
        sw, fw = torch.cat([g.start_weight, none]), torch.cat([none, g.final_weight])
        src = torch.cat([t * N + src[e], te * N + src[ee]])
        dst = torch.cat([(t + 1) * N + dst[e], te * N + dst[ee]])
        return Graph((T + 1) * N, src, dst, torch.cat([lab[e], lab[ee]]), None, w, sw, fw)


def intersect_dense(
    graphs: Graph | Sequence[Graph] | GraphBatch,
    emissions: torch.Tensor,
    lengths: torch.Tensor | Sequence[int] | None = None,
) -> DenseLattice:
    """Intersect acceptors over labels 0..V-1 with per-frame emission energies, without
    building the lattice (``gtn.intersect_dense``; ``gtn.intersect`` is the graph operation).

    Args:
        graphs: one :class:`gtn.Graph` shared by the whole batch, a list of B graphs, or a
            :class:`GraphBatch` of B graphs (or of 1, shared).
        emissions: [B, T, V] float32/float64 energies (lower is better).
        lengths: [B] frames per utterance (default T); frames at t >= lengths[b] are ignored.

    Returns a :class:`DenseLattice`; call ``free_energy(beta)``, ``min_energy()``,
    ``best_alignment()``, ``label_posteriors(beta)``. Emissions on a CUDA (any non-CPU) device
    run the torch kernels there, with results and gradients on that device; on the CPU the
    numba kernels run unless ``EBGTN_BACKEND=torch`` is set (read at each call).

    >>> import torch, gtn
    >>> g = gtn.Graph.from_arrays(1, [0, 0], [0, 0], [0, 1], start=[0], final=[0])
    >>> emissions = torch.tensor([[[0.5, 2.0], [1.0, 0.25], [3.0, 1.0]]])  # [B=1, T=3, V=2]
    >>> lattice = gtn.intersect_dense(g, emissions)
    >>> lattice.min_energy()  # labels 0, 1, 1: 0.5 + 0.25 + 1.0
    tensor([1.7500])
    """
    emissions, lens = _check_emissions(emissions, lengths)
    B = emissions.shape[0]
    batch = graphs if isinstance(graphs, Graph | GraphBatch) else list(graphs)
    shared = isinstance(batch, Graph) or (isinstance(batch, GraphBatch) and len(batch) == 1 != B)
    if not shared and len(batch) != B:
        raise GraphError(f"{len(batch)} graphs for a batch of {B} utterances")
    batch = batch if isinstance(batch, GraphBatch) else GraphBatch.from_graphs(batch)
    _check_labels(batch, emissions.shape[2])
    return DenseLattice(batch, emissions, lens, shared)


def _check_labels(batch: GraphBatch, V: int) -> None:
    """GraphError for an arc label >= V, before the kernels' layout allocates tables sized by
    the largest label (a 16-byte file with label 2**28 would cost gigabytes first)."""
    lab = batch.label
    if batch._cached("max_label", lambda: int(lab.max()) if lab.size else -1) >= V:
        arc = int(np.flatnonzero(lab >= V)[0])
        g = int(np.searchsorted(batch.arc_offsets, arc, side="right") - 1)
        raise GraphError(
            f"graph {g}, arc {arc - int(batch.arc_offsets[g])}: label {int(lab[arc])} "
            f"is out of range for emissions with V={V} labels"
        )


def _check_emissions(emissions, lengths, values: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Types, shapes and lengths; with ``values``, also no NaN or -inf in valid frames (else the
    caller must run :func:`_check_values` itself)."""
    if not isinstance(emissions, torch.Tensor):
        raise TypeError(
            f"emissions must be a torch.Tensor [B, T, V], got {type(emissions).__name__}"
        )
    if emissions.dim() != 3:
        raise ValueError(f"emissions must have shape [B, T, V], got {list(emissions.shape)}")
    if emissions.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"emissions must be float32 or float64, got {emissions.dtype}")
    lens = _check_lengths(lengths, *emissions.shape[:2])
    if values:
        _check_values(emissions, lens)
    return emissions, lens


def _check_lengths(lengths, B: int, T: int) -> np.ndarray:
    """int64 [B] frames per utterance, each in [0, T] (None: all T), from a tensor, an array
    or a sequence of integers."""
    if lengths is None:
        return np.full(B, T, np.int64)
    lens = np.asarray(lengths.detach().cpu() if isinstance(lengths, torch.Tensor) else lengths)
    if lens.shape != (B,) or (lens.size and not np.issubdtype(lens.dtype, np.integer)):
        raise ValueError(
            f"lengths must be {B} integers, got shape {list(lens.shape)} dtype {lens.dtype}"
        )
    bad = np.flatnonzero((lens < 0) | (lens > T))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"lengths[{i}] = {int(lens[i])} is outside [0, T={T}]")
    return lens.astype(np.int64)


def _check_values(emissions: torch.Tensor, lens: np.ndarray) -> None:
    """ValueError naming the first NaN or -inf energy in a frame t < lens[b] (on a GPU: one
    reduction there, one bool read back)."""
    em = emissions.detach()
    # numpy, not torch, on the CPU: a torch reduction this size wakes torch's thread pool,
    # whose spinning threads then slow the numba kernels that follow
    if em.device.type == "cpu" and (not em.numel() or em.numpy().min() > -INF):
        return
    bad = torch.isnan(em) | (em == -INF)
    bad &= (
        torch.arange(em.shape[1], device=em.device)[None, :, None]
        < torch.from_numpy(lens).to(em.device)[:, None, None]
    )
    if bool(bad.any()):
        b, t, v = (int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(
            f"emissions[{b}, {t}, {v}] is {float(em[b, t, v])}; energies must be finite or +inf"
        )


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    return np.ascontiguousarray((t if t.dtype == torch.float64 else t.double()).numpy())


def _em(lat: DenseLattice) -> np.ndarray:
    if lat.em_np is None:  # a view unless the emissions are not contiguous
        lat.em_np = np.ascontiguousarray(lat.emissions.detach().numpy())
    return lat.em_np


def _buffers(lat: DenseLattice, dtype, arc_grads: bool = True) -> Grads:
    """Zeroed gradient buffers (emissions, arcs, epsilon arcs, start, final); the arc buffer
    is a dummy unless ``arc_grads``."""
    st = lat.structure
    rows, N = lat.batch_size if lat.shared else 1, int(st.node_off[-1])
    n_arcs = st.csr_arc.shape[0] if arc_grads else 1
    n_eps = max(st.eps_arc.shape[0], 1)  # the kernels write epsilon posteriors in any case
    em = np.zeros(lat.emissions.shape, dtype) if dtype is not None else None
    return Grads(em, *(np.zeros((rows, n)) for n in (n_arcs, n_eps, N, N)))


def _grad_tensors(lat: DenseLattice, bufs, arc_grads: bool = True) -> tuple:
    """Kernel buffers -> (emission grad, arc grad in batch order or None, start grad, final
    grad)."""
    st, g = lat.structure, lat.graphs
    # the rows of a buffer are per-utterance copies when the graph is shared: their sum
    g_w, g_ew, g_sw, g_fw = (x.sum(0) if x.shape[0] > 1 else x[0] for x in bufs[1:])
    gw = None
    if arc_grads:
        gw = np.zeros(int(st.arc_off[-1]))
        gw[st.csr_arc], gw[st.eps_arc] = g_w, g_ew
        gw = torch.from_numpy(gw).to(g.weight.dtype)
    sw = torch.from_numpy(g_sw).to(g.start_weight.dtype)
    fw = torch.from_numpy(g_fw).to(g.final_weight.dtype)
    return torch.from_numpy(bufs[0]), gw, sw, fw


def _utterances(lat: DenseLattice, active: np.ndarray) -> Utterances:
    return Utterances(_em(lat), lat.lengths, lat.gidx, lat.rows, active)


def _use_threads(lat: DenseLattice) -> None:
    """Follow torch's thread count, but run small work on one thread: a parallel region costs
    tens of microseconds to start (milliseconds when the other cores are busy)."""
    sync_threads()
    if lat.small is None:
        st = lat.structure
        if lat.shared:  # one graph: skip the per-utterance gather
            work = int(st.arc_off[-1]) * int(lat.lengths.sum())
        else:
            work = int((np.diff(st.arc_off)[lat.gidx] * lat.lengths).sum())
        lat.small = lat.batch_size < 2 or work < _scaled.PARALLEL_WORK
    if lat.small:
        numba.set_num_threads(1)


def _np_weights(lat: DenseLattice) -> tuple:
    g = lat.graphs
    return _np(g.weight), _np(g.start_weight), _np(g.final_weight)


@dataclass
class _Forward:
    """What the free-energy forward pass leaves for the backward (numpy, float64)."""

    W: Weights
    beta: float
    scaled: Scaled  # the scaled kernels' values (see _scaled)
    matrix: _dense.Matrix | None  # the graph as the matrix family read it, or None
    use_log: np.ndarray | None = None  # [B] bool: utterances on the log-space kernels
    alpha_log: np.ndarray | None = None  # [2, B, T+1, Nmax] their forward values (see _log_forward)
    band_w: tuple | None = None  # the band kernels' weights (see _banded.band_weights)
    on_band: np.ndarray | None = None  # [B] bool: utterances whose alpha_log are the band's
    checked: tuple | None = None  # (passed [B], emission posteriors) of the flush check

    @property
    def energy(self) -> np.ndarray:
        """[B] free energies (the log-space kernels overwrite their utterances' entries)."""
        return self.scaled.energy


class Family(NamedTuple):
    forward: Callable  # (lat, W, beta, out: Scaled, active) -> its Matrix or None
    backward: Callable  # (lat, fwd: _Forward, gout, active, arc_grads, dev, grads: Grads)
    best_path: Callable | None  # (lat) -> (labels, arcs, energy); None: tropical + backtrack


# The scaled kernel families. Each scores a whole lattice in probability space; an utterance a
# family cannot score exactly (see _scaled) goes to the log-space kernels, which take any graph.


def _runs_family(kernels, part: Callable) -> Family:
    """A family on the Structure's runs: ``kernels`` the module (``_scaled`` or
    ``_statewise``), ``part(structure)`` what its kernels take after the runs (the epsilons,
    or each state's label index)."""

    def forward(lat: DenseLattice, W: Weights, beta: float, out: Scaled, active) -> None:
        st = lat.structure
        utt = _utterances(lat, active)
        kernels.forward(utt, st.runs, part(st), st.label_sets, W, beta, *out)

    def backward(lat, s: _Forward, gout, active, arc_grads, dev, grads: Grads) -> None:
        st, utt = lat.structure, _utterances(lat, active)
        bufs = grads if kernels is _scaled else (grads.em, grads.w, grads.sw, grads.fw)
        kernels.backward(
            gout, utt, st.runs, part(st), st.label_sets, s.W, s.scaled, arc_grads, dev, *bufs
        )

    return Family(forward, backward, None)


def _matrix_forward(lat: DenseLattice, W: Weights, beta: float, out: Scaled, active):
    flat, state_lab, _ = _viterbi.layout(lat.graphs, lat.structure)
    M = _dense.matrix(flat, lat.structure, state_lab.shape[0], W.wexp)
    _dense.forward(_utterances(lat, active), M, W, beta, *out)
    return M


def _matrix_backward(lat, s: _Forward, gout, active, arc_grads, dev, grads: Grads) -> None:
    utt = _utterances(lat, active)
    _dense.backward(gout, utt, s.matrix, s.W, s.scaled, arc_grads, dev, *grads[:2], *grads[3:])


def _matrix_best_path(lat: DenseLattice) -> tuple:
    lay = _viterbi.layout(lat.graphs, lat.structure)
    if lay[1].shape[0] ** 2 * int(lat.lengths.sum()) < _PARALLEL_VITERBI:
        numba.set_num_threads(1)
    return _viterbi.best_path(lay, lat.graphs, _em(lat), lat.lengths)


FAMILIES = {
    # one shared dense state-labelled graph (the CRF chain): matrix-vector products
    "matrix": Family(_matrix_forward, _matrix_backward, _matrix_best_path),
    # no epsilons, one label per state (CTC, HMM, ASG): one emission factor per state
    "statewise": _runs_family(_statewise, lambda st: st.state_ulab),
    "general": _runs_family(_scaled, lambda st: st.epsilons),
}


def _choose_family(graphs: GraphBatch, st) -> str:
    if _viterbi.layout(graphs, st) is not None:
        return "matrix"
    return "statewise" if st.state_labelled else "general"


def _free_forward(lat: DenseLattice, beta: float) -> _Forward:
    st = lat.structure
    W = weights(st, *_np_weights(lat), beta)
    B, T, _ = lat.emissions.shape
    out = Scaled(
        np.empty((B, T, max(st.max_labels, 1))),
        np.zeros((B, T + 1, max(st.max_nodes, 1))),  # finite where unused (see _dense)
        np.empty((B, T + 1)),
        np.full(B, INF),
        np.full(B, _scaled.LOG),  # the kernels write the utterances they score
    )
    active = ~W.needs_log[lat.gidx]
    _use_threads(lat)
    s = _Forward(W, beta, out, FAMILIES[lat.family].forward(lat, W, beta, out, active))
    status = out.status
    flushed = status == _scaled.FLUSHED
    if flushed.any():  # exact only if alpha . beta = 1 holds at every frame
        scratch = _buffers(lat, _em(lat).dtype, arc_grads=False)
        dev = _scaled_backward(lat, s, np.ones(B), flushed, False, scratch)
        passed = flushed & (dev < _scaled.CHECK_TOL)
        status[flushed & ~passed] = _scaled.LOG
        # the check computed these utterances' emission posteriors: kept for the backward
        s.checked = (passed, scratch.em)
    s.use_log = status == _scaled.LOG
    _log_forward(lat, s, s.use_log)
    return s


def _arc_list(lat: DenseLattice) -> _logspace.ArcList:
    return lat.graphs._cached("arc_list", lambda: _logspace.arc_list(lat.structure))


def _band(lat: DenseLattice) -> _banded.Band | None:
    return lat.graphs._cached("band", lambda: _banded.band(lat.structure))


def _serial_if_one(kernel, which: np.ndarray):
    """A log-space batch kernel for the utterances ``which``: its serial compilation for one
    (a parallel region would wait on a thread with nothing to do, milliseconds on a busy
    machine)."""
    return kernel.serial if which.sum() < 2 else kernel


def _log_forward(lat: DenseLattice, s: _Forward, which: np.ndarray) -> None:
    """Exact log-space free energies for the utterances ``which`` (into s.energy)."""
    st = lat.structure
    B, T, _ = lat.emissions.shape
    if s.on_band is None:
        s.on_band = np.zeros(B, np.bool_)
    if not which.any():
        return
    if s.alpha_log is None:
        s.alpha_log = np.empty((2, B, T + 1, max(st.max_nodes, 1)))  # [1]: the band's only
    s.on_band[which] = False
    bd = _band(lat)
    if bd is not None and s.band_w is None:  # still None: beta * a weight leaves float64
        s.band_w = _banded.band_weights(bd, s.W, int(st.node_off[-1]), s.beta)
    if bd is not None and s.band_w is not None:
        _serial_if_one(_banded.forward, which)(
            s.beta, _utterances(lat, which), st.node_off, st.state_ulab, st.label_sets,
            s.band_w, bd.width, *s.alpha_log, s.energy,
        )  # fmt: skip
        s.on_band[which] = ~np.isnan(s.energy[which])  # NaN: exponents beyond float64
        which = which & ~s.on_band
        if not which.any():
            return
    _serial_if_one(_logspace.forward, which)(
        s.beta, _utterances(lat, which), _arc_list(lat), st.epsilons, st.label_sets, s.W,
        s.alpha_log[0], s.energy,
    )  # fmt: skip


def _log_backward(lat: DenseLattice, s: _Forward, gout, which, arc_grads, bufs: Grads) -> Grads:
    """Log-space posteriors times gout for the utterances ``which`` into ``bufs`` (returned,
    with arc buffers added where the general kernel needs them)."""
    st = lat.structure
    band = which & s.on_band
    if band.any() and not arc_grads:  # the band kernels give no arc posteriors
        _serial_if_one(_banded.backward, band)(
            s.beta, gout, _utterances(lat, band), st.node_off, st.state_ulab, st.label_sets,
            s.band_w, _band(lat).width, *s.alpha_log, bufs.em, bufs.sw, bufs.fw,
        )  # fmt: skip
        which = which & ~band
        if not which.any():
            return bufs
    if not arc_grads:  # the general log-space kernel always writes arc posteriors
        full = _buffers(lat, None, True)
        bufs = bufs._replace(w=full.w, ew=full.ew)
    alpha, energy = s.alpha_log[0], s.energy
    args = (_utterances(lat, which), _arc_list(lat), st.epsilons, st.label_sets, s.W)
    if (which & s.on_band).any():  # the general kernel reads energies, not the band's values
        alpha, energy = np.empty_like(alpha), energy.copy()
        _serial_if_one(_logspace.forward, which)(s.beta, *args, alpha, energy)
    _serial_if_one(_logspace.backward, which)(s.beta, gout, *args, alpha, energy, *bufs)
    return bufs


def _scaled_backward(
    lat: DenseLattice, s: _Forward, gout, active, arc_grads: bool, grads: Grads
) -> np.ndarray:
    """Scaled-space posteriors times gout for the utterances ``active`` into ``grads``;
    returns each utterance's largest |alpha_t . beta_t - 1|."""
    dev = np.zeros(lat.batch_size)
    if active.any():
        _use_threads(lat)
        FAMILIES[lat.family].backward(lat, s, gout, active, arc_grads, dev, grads)
    return dev


def _free_backward(
    lat: DenseLattice, s: _Forward, gout: np.ndarray, arc_grads: bool = True, emissions_only=False
) -> tuple:
    """Gradients (emissions, arc weights or None unless ``arc_grads``, start, final); with
    ``emissions_only`` the start and final gradients may be left at zero."""
    bufs = _free_backward_buffers(lat, s, gout, arc_grads, emissions_only)
    return _grad_tensors(lat, bufs, arc_grads)


def _free_backward_buffers(
    lat: DenseLattice, s: _Forward, gout: np.ndarray, arc_grads: bool, emissions_only: bool = False
) -> Grads:
    """The kernels' gradient buffers filled with gout times the posteriors (with
    ``emissions_only``, only the emission buffer is certain to be)."""
    live = np.isfinite(s.energy) & (gout != 0) & np.isfinite(gout)
    scaled = live & ~s.use_log
    if emissions_only and s.checked is not None:
        # the check's emission posteriors become the gradient buffer (used once: a second
        # backward recomputes)
        passed, post = s.checked
        s.checked = None
        reuse = scaled & passed
        post[~reuse] = 0.0  # then scaled in place: post[reuse] *= ... would copy those rows
        if (gout[reuse] != 1.0).any():  # a 'sum' reduction passes ones: nothing to scale
            post *= np.where(reuse, gout, 0.0).astype(post.dtype)[:, None, None]
        bufs = _buffers(lat, None, arc_grads)._replace(em=post)
        scaled &= ~reuse
    else:
        bufs = _buffers(lat, _em(lat).dtype, arc_grads)
    dev = _scaled_backward(lat, s, gout, scaled, arc_grads, bufs)
    bad = scaled & ~(dev < _scaled.CHECK_TOL)
    if bad.any():  # unexpected after the forward's checks; recompute those exactly
        s.use_log = s.use_log | bad
        _log_forward(lat, s, bad)
        return _free_backward_buffers(lat, s, gout, arc_grads)
    logs = live & s.use_log
    return _log_backward(lat, s, gout, logs, arc_grads, bufs) if logs.any() else bufs


def _tropical(lat: DenseLattice) -> tuple[np.ndarray, np.ndarray]:
    st = lat.structure
    W = weights(st, *_np_weights(lat), 1.0)
    B, T, _ = lat.emissions.shape
    alpha = np.empty((B, T + 1, max(st.max_nodes, 1)))
    energy = np.empty(B)
    _use_threads(lat)
    utt = _utterances(lat, np.ones(B, np.bool_))
    _logspace.tropical(utt, st.runs, st.epsilons, st.label_sets, W, alpha, energy)
    return alpha, (energy, W)


def _backtrack(lat: DenseLattice, alpha, energy_w, gout):
    energy, W = energy_w
    st = lat.structure
    B, T, _ = lat.emissions.shape
    labels, arcs = np.full((2, B, T), -1, np.int64)
    grads = gout is not None
    em = _em(lat)
    bufs = (
        _buffers(lat, em.dtype)
        if grads
        else Grads(np.zeros((1, 1, 1), em.dtype), *(np.zeros((1, 1)) for _ in range(4)))
    )
    _logspace.backtrack(
        gout if grads else np.ones(B), _utterances(lat, np.ones(B, np.bool_)), st.runs,
        st.epsilons, st.label_sets, (st.csr_arc, st.arc_off), W, alpha, energy, grads,
        (labels, arcs), bufs,
    )  # fmt: skip
    dt = lat.emissions.dtype
    ali = Alignment(
        torch.from_numpy(labels), torch.from_numpy(arcs), torch.from_numpy(energy).to(dt)
    )
    return ali, (_grad_tensors(lat, bufs) if grads else None)


def _gout(grad: torch.Tensor, finite: np.ndarray) -> np.ndarray:
    """The output gradient as float64 numpy, 0 where the returned energy is infinite: an
    energy beyond its dtype's range (float32 2e38 * 3) has zero gradient, as one without a
    path."""
    return np.where(finite, grad.detach().to(torch.float64).numpy(), 0.0)


class _FreeEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lat, beta, dtype, emissions, weight, start_weight, final_weight):
        saved = _free_forward(lat, beta)
        ctx.lat, ctx.saved = lat, saved
        out = torch.from_numpy(saved.energy.copy()).to(dtype)
        ctx.finite = torch.isfinite(out).numpy()
        return out

    @staticmethod
    def backward(ctx, grad):
        gout = _gout(grad, ctx.finite)
        arc_grads = ctx.needs_input_grad[4]  # CTC's constant graphs need none
        weights = any(ctx.needs_input_grad[4:7])
        g_em, g_w, g_sw, g_fw = _free_backward(
            ctx.lat, ctx.saved, gout, arc_grads, emissions_only=not weights
        )
        return None, None, None, g_em, g_w, g_sw, g_fw


class _MinEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lat, emissions, weight, start_weight, final_weight):
        alpha, ew = _tropical(lat)
        ctx.lat, ctx.alpha, ctx.ew = lat, alpha, ew
        out = torch.from_numpy(ew[0].copy()).to(emissions.dtype)
        ctx.finite = torch.isfinite(out).numpy()
        return out

    @staticmethod
    def backward(ctx, grad):
        gout = _gout(grad, ctx.finite)
        _, (g_em, g_w, g_sw, g_fw) = _backtrack(ctx.lat, ctx.alpha, ctx.ew, gout)
        return None, g_em, g_w, g_sw, g_fw
