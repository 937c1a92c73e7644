"""Weight tapes: how structural operations whose output weights are semiring *sums* (not just
sums of input arcs) stay differentiable (remove-epsilon closures, determinize residuals).

A numba kernel that builds an output graph also records, for every weight it derives, the
expression that produced it::

    v_j = (+)_t  sum_o coef_o * V[operand_o]        (t: terms of v_j, o: operands of term t)

where (+) is the semiring plus (min for tropical, log-sum-exp with beta for log) and ``V`` is
the vector ``cat([x, v])``: the inputs ``x`` (arc / start / final energies) followed by the
derived values, so a value may only use inputs and earlier values. Coefficients are +-1.
Under the tropical semiring a kernel records only the chosen (argmin) term, so each value is a
signed sum of inputs and the tape is a sparse linear map.

:func:`evaluate` replays a tape in one numba kernel (float64) inside a
``torch.autograd.Function`` whose backward is the exact reverse sweep: a term receives the
gradient of its value times its softmin weight exp(-beta (s_t - v_j)) (log) or 1 for the argmin
term (tropical). Output weights are then torch gathers from ``V``.

Index convention ("V-index"): k < n_in is input k, k >= n_in is derived value k - n_in, and -1
is "no operand" (the constant 0 energy where added, +inf where a node weight is absent).

When to use it: an operation whose output energies are semiring sums over input paths, formed
while its kernel builds the graph. If every output energy is a plain sum of input energies, an
arc map (:mod:`gtn._internal.arc_map`) is simpler and faster; if the result is a score rather
than a graph, write a ``torch.autograd.Function`` (:mod:`gtn.scoring`). An operation's kernel
records with :func:`tape_sum` / :func:`tape_term`; its Python side calls
:func:`record_and_replay` and gathers output energies from the values it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numba as nb
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ..graph import Graph
from ..semiring import Semiring, splus
from .batch import common_dtype


class Tape(NamedTuple):
    n_in: int
    term_ptr: np.ndarray  # int64 [n_der + 1]: terms of value j are term_ptr[j]:term_ptr[j+1]
    opnd_ptr: np.ndarray  # int64 [n_terms + 1]: operands of term t
    opnd: np.ndarray  # int64 [n_ops]: V-index of each operand
    coef: np.ndarray  # float64 [n_ops]: +1 or -1

    @property
    def num_values(self) -> int:
        return self.term_ptr.shape[0] - 1


# ---------------------------------------------------------------- building (numba, in kernels)
# A builder is the tuple (term_ptr, opnd_ptr, opnd, coef, counts) with counts =
# [n_der, n_terms, n_ops, n_in]; arrays grow by doubling, so every call returns the builder.


@nb.njit(cache=True)
def grow(arr, n):
    """arr, or a copy twice as long when index n does not fit (numba compiles one per dtype)."""
    if n < arr.shape[0]:
        return arr
    out = np.empty(max(16, 2 * arr.shape[0]), arr.dtype)
    for i in range(arr.shape[0]):  # a loop: slice assignment compiles numba's error text
        out[i] = arr[i]
    return out


@nb.njit(cache=True)
def tape_new(n_in):
    counts = np.zeros(4, np.int64)
    counts[3] = n_in
    term_ptr = np.zeros(16, np.int64)
    opnd_ptr = np.zeros(16, np.int64)
    return (term_ptr, opnd_ptr, np.empty(16, np.int64), np.empty(16, np.float64), counts)


@nb.njit(cache=True)
def tape_operand(tb, k, c):
    """Add operand c * V[k] to the open term (k == -1, the constant 0, is skipped)."""
    term_ptr, opnd_ptr, opnd, coef, counts = tb
    if k < 0:
        return tb
    m = counts[2]
    opnd = grow(opnd, m)
    coef = grow(coef, m)
    opnd[m] = k
    coef[m] = c
    counts[2] = m + 1
    return (term_ptr, opnd_ptr, opnd, coef, counts)


@nb.njit(cache=True)
def tape_end_term(tb):
    term_ptr, opnd_ptr, opnd, coef, counts = tb
    t = counts[1] + 1
    opnd_ptr = grow(opnd_ptr, t)
    opnd_ptr[t] = counts[2]
    counts[1] = t
    return (term_ptr, opnd_ptr, opnd, coef, counts)


@nb.njit(cache=True)
def tape_end_value(tb):
    """Close the value made of the terms added since the last value; returns (builder, V-index).
    A value that is a single input or earlier value is not stored: its index is returned."""
    term_ptr, opnd_ptr, opnd, coef, counts = tb
    j = counts[0]
    t0 = term_ptr[j]
    t1 = counts[1]
    if t1 - t0 == 1:
        o0 = opnd_ptr[t0]
        o1 = opnd_ptr[t0 + 1]
        if o1 - o0 == 1 and coef[o0] == 1.0:
            counts[1] = t0
            counts[2] = o0
            return tb, opnd[o0]
        if o1 == o0:  # the empty sum: energy 0
            counts[1] = t0
            return tb, -1
    term_ptr = grow(term_ptr, j + 1)
    term_ptr[j + 1] = t1
    counts[0] = j + 1
    return (term_ptr, opnd_ptr, opnd, coef, counts), counts[3] + j


@nb.njit(cache=True)
def tape_term(tb, k0, k1, k2):
    """Add the term V[k0] + V[k1] - V[k2] (an index -1, the constant 0, is left out)."""
    tb = tape_operand(tb, k0, 1.0)
    tb = tape_operand(tb, k1, 1.0)
    tb = tape_operand(tb, k2, -1.0)
    return tape_end_term(tb)


# Candidate terms of one value, gathered before it is recorded: (val, k0, k1, k2) arrays, term
# t being V[k0[t]] + V[k1[t]] - V[k2[t]] with numeric value val[t].


@nb.njit(cache=True)
def terms_new():
    return (np.empty(16), np.empty(16, np.int64), np.empty(16, np.int64), np.empty(16, np.int64))


@nb.njit(cache=True)
def terms_set(terms, t, v, k0, k1, k2):
    """Terms with term t set to V[k0] + V[k1] - V[k2] of value v (grown when needed)."""
    val, i0, i1, i2 = terms
    val, i0, i1, i2 = grow(val, t), grow(i0, t), grow(i1, t), grow(i2, t)
    val[t] = v
    i0[t] = k0
    i1[t] = k1
    i2[t] = k2
    return (val, i0, i1, i2)


@nb.njit(cache=True)
def tape_sum(tb, terms, count, code, beta):
    """Record the value (+) of terms[:count] (all finite): every term under the log semiring,
    only the first argmin under the tropical one. Returns (builder, value, its V-index,
    position of the recorded argmin, -1 under the log semiring); with no terms the value is
    +inf, nothing is recorded and the V-index is -1."""
    val, i0, i1, i2 = terms
    total = np.inf
    best = -1
    for t in range(count):
        if code == 0:
            if val[t] < total:
                total = val[t]
                best = t
        else:
            total = splus(1, beta, total, val[t])
    if count == 0:
        return tb, total, -1, -1
    for t in range(count):
        if code == 0 and t != best:
            continue
        tb = tape_term(tb, i0[t], i1[t], i2[t])
    tb, index = tape_end_value(tb)
    return tb, total, index, best


def tape_finish(tb) -> Tape:
    term_ptr, opnd_ptr, opnd, coef, counts = tb
    n_der, n_terms, n_ops, n_in = (int(c) for c in counts)
    return Tape(
        n_in,
        term_ptr[: n_der + 1].copy(),
        opnd_ptr[: n_terms + 1].copy(),
        opnd[:n_ops].copy(),
        coef[:n_ops].copy(),
    )


# ---------------------------------------------------------------- batching


def remap(
    index: np.ndarray, tape: Tape, in_offset: int, der_offset: int, total_in: int
) -> np.ndarray:
    """Local V-indices of one tape -> V-indices of a concatenation (-1 stays -1)."""
    index = np.asarray(index, np.int64)
    return np.where(
        index < 0,
        -1,
        np.where(index < tape.n_in, index + in_offset, index - tape.n_in + total_in + der_offset),
    )


def concat(tapes: list[Tape]) -> tuple[Tape, list[tuple[int, int]]]:
    """One tape for a batch; inputs and values keep their per-graph order. Returns the tape and
    each graph's (input offset, value offset) for :func:`remap`."""
    total_in = sum(t.n_in for t in tapes)
    offs, term_ptr, opnd_ptr, opnd = [], [np.zeros(1, np.int64)], [np.zeros(1, np.int64)], []
    in_off = der_off = term_off = op_off = 0
    for t in tapes:
        offs.append((in_off, der_off))
        term_ptr.append(t.term_ptr[1:] + term_off)
        opnd_ptr.append(t.opnd_ptr[1:] + op_off)
        opnd.append(remap(t.opnd, t, in_off, der_off, total_in))
        in_off += t.n_in
        der_off += t.num_values
        term_off += t.opnd_ptr.shape[0] - 1
        op_off += t.opnd.shape[0]
    tape = Tape(
        total_in,
        np.concatenate(term_ptr),
        np.concatenate(opnd_ptr),
        np.concatenate(opnd) if opnd else np.zeros(0, np.int64),
        np.concatenate([t.coef for t in tapes]) if tapes else np.zeros(0),
    )
    return tape, offs


# ---------------------------------------------------------------- evaluation (numba)


@nb.njit(cache=True, inline="always")
def _term(t, n_in, opnd_ptr, opnd, coef, x, v):
    s = 0.0
    for o in range(opnd_ptr[t], opnd_ptr[t + 1]):
        k = opnd[o]
        s += coef[o] * (x[k] if k < n_in else v[k - n_in])
    return s


@nb.njit(cache=True)
def _forward(n_in, term_ptr, opnd_ptr, opnd, coef, x, code, beta, v):
    for j in range(v.shape[0]):
        t0, t1 = term_ptr[j], term_ptr[j + 1]
        m = np.inf
        for t in range(t0, t1):
            s = _term(t, n_in, opnd_ptr, opnd, coef, x, v)
            if s < m:
                m = s
        if code == 0 or m == np.inf:
            v[j] = m
            continue
        acc = 0.0
        for t in range(t0, t1):
            acc += np.exp(-beta * (_term(t, n_in, opnd_ptr, opnd, coef, x, v) - m))
        v[j] = m - np.log(acc) / beta


@nb.njit(cache=True)
def _backward(n_in, term_ptr, opnd_ptr, opnd, coef, x, v, code, beta, gv, gx):
    """Reverse sweep; gv holds d loss / d v on entry and is consumed."""
    for j in range(v.shape[0] - 1, -1, -1):
        g = gv[j]
        if g == 0.0 or v[j] == np.inf:
            continue
        t0, t1 = term_ptr[j], term_ptr[j + 1]
        best = t0
        if code == 0:  # the first argmin, as in _forward
            m = np.inf
            for t in range(t0, t1):
                s = _term(t, n_in, opnd_ptr, opnd, coef, x, v)
                if s < m:
                    m = s
                    best = t
        for t in range(t0, t1):
            if code == 0:
                if t != best:
                    continue
                p = g
            else:
                p = g * np.exp(-beta * (_term(t, n_in, opnd_ptr, opnd, coef, x, v) - v[j]))
            for o in range(opnd_ptr[t], opnd_ptr[t + 1]):
                k = opnd[o]
                if k < n_in:
                    gx[k] += coef[o] * p
                else:
                    gv[k - n_in] += coef[o] * p


class _Replay(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, tape: Tape, code: int, beta: float) -> torch.Tensor:
        xv = x.detach().cpu().to(torch.float64).numpy()
        v = np.empty(tape.num_values, np.float64)
        _forward(tape.n_in, tape.term_ptr, tape.opnd_ptr, tape.opnd, tape.coef, xv, code, beta, v)
        ctx.tape, ctx.code, ctx.beta, ctx.xv, ctx.v = tape, code, beta, xv, v
        return torch.from_numpy(v).to(device=x.device, dtype=x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_v: torch.Tensor):
        tape = ctx.tape
        gv = grad_v.detach().cpu().to(torch.float64).numpy().copy()
        gx = np.zeros(tape.n_in, np.float64)
        _backward(
            tape.n_in,
            tape.term_ptr,
            tape.opnd_ptr,
            tape.opnd,
            tape.coef,
            ctx.xv,
            ctx.v,
            ctx.code,
            ctx.beta,
            gv,
            gx,
        )
        return torch.from_numpy(gx).to(device=grad_v.device, dtype=grad_v.dtype), None, None, None


def evaluate(tape: Tape, x: torch.Tensor, semiring: Semiring) -> torch.Tensor:
    """V = cat([x, derived values]) [n_in + n_der], differentiable in x (first order)."""
    if tape.num_values == 0:
        return x
    v = _Replay.apply(x, tape, semiring.code, float(semiring.beta))
    return torch.cat([x, v])


# ---------------------------------------------------------------- an operation's whole pipeline


def record_and_replay(
    graphs: list[Graph], record: Callable, semiring: Semiring
) -> tuple[torch.Tensor, list[tuple[tuple, Callable[[np.ndarray], np.ndarray]]]]:
    """Run a taping kernel over a batch and evaluate every recorded value at once.

    ``record(b, g, x)`` runs the kernel on graph b with x = its energies
    ``cat([weight, start_weight, final_weight])`` as float64 numpy [A + 2N] (the tape's
    inputs) and returns (outputs, tape builder). Returns ``values`` = V of the whole batch,
    differentiable in every graph's energies, and per graph (outputs, at), where ``at`` maps
    that graph's local V-indices to indices into ``values`` (-1 stays -1), ready for
    :func:`gtn._internal.arc_map.gather`.
    """
    if not graphs:
        return torch.zeros(0), []
    dtype = common_dtype(graphs)
    xs = [torch.cat([g.weight, g.start_weight, g.final_weight]).to(dtype) for g in graphs]
    built = [
        record(b, g, x.detach().cpu().double().numpy())
        for b, (g, x) in enumerate(zip(graphs, xs, strict=True))
    ]
    tapes = [tape_finish(tb) for _, tb in built]
    tape, offs = concat(tapes)
    values = evaluate(tape, torch.cat(xs), semiring)

    def locator(t: Tape, in_off: int, der_off: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda local: remap(np.atleast_1d(local), t, in_off, der_off, tape.n_in)

    return values, [
        (outputs, locator(t, *off)) for (outputs, _), t, off in zip(built, tapes, offs, strict=True)
    ]
