"""Reading and writing graphs: OpenFst's AT&T text format, OpenFst symbol tables, and a lossless
binary format (``save`` / ``load``).

Label mapping. Our labels are 0..V-1 with ``EPSILON == -1``; OpenFst reserves id 0 for epsilon.
Without symbol tables, our label k is written as the OpenFst id k+1 and EPSILON as 0. With
symbol tables, names are written instead and the tables carry the meaning; a table written by
:func:`write_symbols` maps name -> k+1 so that OpenFst tools agree with us.

Start states. OpenFst has one start state (the source of the first line) and no start weight.
A graph with several start states, a non-zero start weight, or a start state that has neither
arcs nor a final weight is written with a new start state (numbered ``num_nodes``) and one
epsilon arc per original start state, carrying that state's start weight. The paths and their
energies are unchanged; reading the text back gives that extra state.

States keep their numbers in both directions (like ``fstcompile --keep_state_numbering``);
trailing states that appear on no line (no arcs, not final) cannot be written and are dropped.

Weights are energies (the tropical semiring's convention, which OpenFst's ``standard`` arcs use):
float64 weights are written with ``repr`` precision so text round trips are exact.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ._atomic import atomic_write
from ._format_error import FormatError
from ._npz import load, save
from .graph import EPSILON, INF, Graph, GraphError
from .symbols import SymbolTable

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------- sources


def _read_source(path_or_text: PathLike) -> tuple[str, str]:
    """(text, name for messages). A str with a newline, or with whitespace and no such file,
    is text; anything else is a path."""
    if isinstance(path_or_text, str):
        s = path_or_text
        is_text = "\n" in s or not s.strip()
        if is_text or (not os.path.exists(s) and any(c.isspace() for c in s)):
            return s, "<text>"
    elif not isinstance(path_or_text, os.PathLike):
        raise TypeError(f"expected a path or text, got {type(path_or_text).__name__}")
    path = os.fspath(path_or_text)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    except UnicodeDecodeError as e:
        raise FormatError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def _write_text(text: str, path: PathLike | None) -> str:
    if path is not None:
        with atomic_write(path) as f:
            f.write(text)
    return text


def _lines(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank lines as (1-based number, whitespace-split fields)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            out.append((number, fields))
    return out


# ---------------------------------------------------------------------------- fields


def _parse_state(field: str, where) -> int:
    try:
        state = int(field)
    except ValueError:
        raise FormatError(*where, f"state {field!r} is not an integer") from None
    if state < 0:
        raise FormatError(*where, f"state {state} is negative")
    return state


def _parse_label(field: str, table: SymbolTable | None, side: str, where) -> int:
    if table is not None:
        if field not in table:
            raise FormatError(
                *where, f"unknown {side} symbol {field!r} (not in the {side} symbol table)"
            )
        return table.id(field)
    try:
        openfst_id = int(field)
    except ValueError:
        raise FormatError(
            *where, f"{side} label {field!r} is not an integer (pass symbol tables to read names)"
        ) from None
    if openfst_id < 0:
        raise FormatError(*where, f"{side} label {openfst_id} is negative (OpenFst ids are >= 0)")
    return openfst_id - 1  # OpenFst id 0 is epsilon == -1


def _parse_weight(field: str, where) -> float:
    try:
        w = float(field)  # accepts "Infinity", "inf", "1e-05"
    except ValueError:
        raise FormatError(*where, f"weight {field!r} is not a number") from None
    if w != w or w == -INF:
        raise FormatError(*where, f"weight {field} is not an energy (must be finite or +inf)")
    return w


def _format_weight(w: float, float32: bool) -> str:
    if w == INF:
        return "Infinity"
    # Shortest text that reads back to the same value in the graph's precision.
    return str(np.float32(w)) if float32 else repr(float(w))


def _is_weight_not_label(field: str, table: SymbolTable | None) -> bool:
    is_label = field in table if table is not None else field.lstrip("+").isdigit()
    if is_label:
        return False
    try:
        float(field)
    except ValueError:
        return False
    return True


def _guess_acceptor(rows, osymbols: SymbolTable | None) -> bool:
    """3 fields mean an acceptor arc and 5 a transducer arc; when every arc line has 4 fields,
    it is an acceptor iff some 4th field is a number but not a label."""
    counts = {len(fields) for _, fields in rows if len(fields) >= 3}
    if 3 in counts:
        return True
    if 5 in counts or not counts:
        return False
    return any(_is_weight_not_label(f[3], osymbols) for _, f in rows if len(f) == 4)


def read_att(
    path_or_text: PathLike,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    acceptor: bool | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> Graph:
    """Read a graph in OpenFst's AT&T text format.

    Lines are ``src dst ilabel olabel [weight]`` (transducer), ``src dst label [weight]``
    (acceptor) or ``state [final_weight]``, separated by tabs or spaces; a missing weight is 0.
    The source of the first line is the only start state (start weight 0). Labels are OpenFst
    ids (our label + 1, 0 = epsilon), or names when symbol tables are given (``osymbols``
    defaults to ``isymbols``); the tables are attached to the graph.

    Args:
        path_or_text: a path, or the text itself (a str containing a newline).
        acceptor: True / False to force the format; None guesses from the field counts (an
            all-4-field file is read as a transducer unless a 4th field is not a label).
        dtype: weight dtype (default ``torch.get_default_dtype()``).

    Raises:
        FormatError: naming the file (or ``<text>``), the line, and the problem.

    >>> g = read_att("0 1 1 2 0.5\\n1 1.25\\n", dtype=torch.float64)
    >>> g.ilabel.tolist(), g.olabel.tolist(), g.final_weight.tolist()
    ([0], [1], [inf, 1.25])
    """
    text, source = _read_source(path_or_text)
    osymbols = osymbols if osymbols is not None else isymbols
    rows = _lines(text)
    if acceptor is None:
        acceptor = _guess_acceptor(rows, osymbols)
    arc_fields = (3, 4) if acceptor else (4, 5)
    src, dst, ilabel, olabel, weight = [], [], [], [], []
    finals: dict[int, float] = {}
    start, max_state = None, -1
    for number, fields in rows:
        where = (source, number)
        n = len(fields)
        if n <= 2:
            state = _parse_state(fields[0], where)
            if state in finals:
                raise FormatError(*where, f"state {state} already has a final weight")
            finals[state] = _parse_weight(fields[1], where) if n == 2 else 0.0
            states = (state,)
        elif n in arc_fields:
            s, d = _parse_state(fields[0], where), _parse_state(fields[1], where)
            il = _parse_label(fields[2], isymbols, "input", where)
            ol = il if acceptor else _parse_label(fields[3], osymbols, "output", where)
            src.append(s)
            dst.append(d)
            ilabel.append(il)
            olabel.append(ol)
            weight.append(_parse_weight(fields[-1], where) if n == arc_fields[1] else 0.0)
            states = (s, d)
        else:
            kind = "an acceptor arc (src dst label [weight])"
            if not acceptor:
                kind = "a transducer arc (src dst ilabel olabel [weight])"
            amount = "too few" if n < arc_fields[0] else "too many"
            raise FormatError(
                *where, f"{amount} fields ({n}) for {kind} or a final state (state [weight])"
            )
        if start is None:
            start = states[0]
        max_state = max(max_state, *states)
    dtype = dtype or torch.get_default_dtype()
    num_nodes = max_state + 1
    start_weight = torch.full((num_nodes,), INF, dtype=dtype)
    if start is not None:
        start_weight[start] = 0.0
    final_weight = torch.full((num_nodes,), INF, dtype=dtype)
    if finals:
        final_weight[list(finals)] = torch.tensor(list(finals.values()), dtype=dtype)
    return Graph(
        num_nodes,
        np.asarray(src, dtype=np.int32),
        np.asarray(dst, dtype=np.int32),
        np.asarray(ilabel, dtype=np.int32),
        None if acceptor else np.asarray(olabel, dtype=np.int32),
        torch.tensor(weight, dtype=dtype),
        start_weight,
        final_weight,
        isymbols,
        osymbols,
    )


def _label_writer(table: SymbolTable | None, side: str):
    """label -> text: the OpenFst id (label + 1), or the table's name for it."""
    if table is None:
        return lambda arc, label: str(label + 1)
    names = {label: name for name, label in table.items()}
    names[EPSILON] = table.epsilon
    for name in names.values():
        if not name or any(c.isspace() for c in name):
            raise GraphError(f"{side} symbol {name!r} cannot be written: names need no whitespace")

    def write(arc: int, label: int) -> str:
        try:
            return names[label]
        except KeyError:
            raise GraphError(
                f"arc {arc}: {side} label {label} has no name in the {side} symbol table"
            ) from None

    return write


def write_att(
    g: Graph,
    path: PathLike | None = None,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    *,
    acceptor: bool | None = None,
    numeric: bool = False,
) -> str:
    """Write ``g`` in OpenFst's AT&T text format and return the text (also written atomically
    to ``path`` when given).

    States are written start state first, each with its arcs then its final line, like
    ``fstprint``; zero arc and final weights are left out. See the module docstring for the
    label mapping and for graphs with several start states or start weights (a new start state
    ``num_nodes`` with epsilon arcs is added).

    Args:
        isymbols, osymbols: write names from these tables (default: the graph's own tables;
            ``osymbols`` falls back to ``isymbols``). ``numeric=True`` writes ids regardless.
        acceptor: write ``src dst label [weight]`` lines (default: when ``g`` is an acceptor
            and both sides are written with the same table, or none).

    >>> g = Graph.from_arrays(2, [0], [1], [0], weight=[1.25], final_weight=0.5)
    >>> write_att(g.to(torch.float64))
    '0\\t1\\t1\\t1.25\\n1\\t0.5\\n'
    """
    if numeric:
        isymbols = osymbols = None
    else:
        isymbols = isymbols if isymbols is not None else g.isymbols
        osymbols = osymbols if osymbols is not None else (g.osymbols or isymbols)
    if acceptor is None:
        # Equal labels named by different tables still say two things: keep both columns.
        acceptor = g.is_acceptor() and (osymbols is isymbols or osymbols == isymbols)
    if acceptor and not g.is_acceptor():
        raise GraphError("acceptor=True but the graph has arcs whose ilabel != olabel")
    in_name, out_name = _label_writer(isymbols, "input"), _label_writer(osymbols, "output")
    float32 = g.dtype == torch.float32
    weights = g.weight.detach().cpu().double().tolist()
    start_weights = g.start_weight.detach().cpu().double().tolist()
    final_weights = g.final_weight.detach().cpu().double().tolist()
    src, dst = g.src.tolist(), g.dst.tolist()
    ilabel, olabel = g.ilabel.tolist(), g.olabel.tolist()

    def arc_line(s: int, d: int, i: int, o: int, w: float, arc: int) -> str:
        labels = [in_name(arc, i)] if acceptor else [in_name(arc, i), out_name(arc, o)]
        fields = [str(s), str(d), *labels]
        if w != 0.0:
            fields.append(_format_weight(w, float32))
        return "\t".join(fields)

    lines: list[str] = []
    starts = g.start_nodes.tolist()
    order = list(range(g.num_nodes))
    out_arcs: dict[int, list[int]] = {}
    for a, s in enumerate(src):
        out_arcs.setdefault(s, []).append(a)
    if starts:
        first = starts[0]
        has_a_line = first in out_arcs or final_weights[first] != INF
        if len(starts) == 1 and start_weights[first] == 0.0 and has_a_line:
            order = [first] + [s for s in order if s != first]
        else:  # OpenFst cannot say this: a new start state with epsilon arcs to ours
            for s in starts:
                lines.append(arc_line(g.num_nodes, s, EPSILON, EPSILON, start_weights[s], -1))
    else:
        order = []  # no start state: no paths, the empty FST
    for s in order:
        for a in out_arcs.get(s, ()):
            lines.append(arc_line(s, dst[a], ilabel[a], olabel[a], weights[a], a))
        if final_weights[s] != INF:
            w = final_weights[s]
            lines.append(f"{s}\t{_format_weight(w, float32)}" if w != 0.0 else str(s))
    return _write_text("".join(line + "\n" for line in lines), path)


# ---------------------------------------------------------------------------- symbol tables


def read_symbols(path: PathLike) -> SymbolTable:
    """Read an OpenFst text symbol table (``name id`` per line). Id 0 names epsilon; id k > 0
    becomes our label k-1.

    Raises:
        FormatError: naming the file, the line, and the problem (field count, bad or negative
            id, duplicate name or id).
    """
    text, source = _read_source(path)
    epsilon, pairs = None, []
    seen_names: dict[str, int] = {}
    seen_ids: dict[int, int] = {}
    for number, fields in _lines(text):
        where = (source, number)
        if len(fields) != 2:
            raise FormatError(*where, f"expected 2 fields (name id), got {len(fields)}")
        name, field = fields
        try:
            openfst_id = int(field)
        except ValueError:
            raise FormatError(*where, f"symbol id {field!r} is not an integer") from None
        if openfst_id < 0:
            raise FormatError(*where, f"symbol id {openfst_id} is negative")
        if name in seen_names:
            raise FormatError(*where, f"symbol {name!r} already defined on line {seen_names[name]}")
        if openfst_id in seen_ids:
            raise FormatError(
                *where, f"symbol id {openfst_id} already used on line {seen_ids[openfst_id]}"
            )
        seen_names[name], seen_ids[openfst_id] = number, number
        if openfst_id == 0:
            epsilon = name
        else:
            pairs.append((name, openfst_id - 1))
    table = SymbolTable(epsilon=epsilon) if epsilon is not None else SymbolTable()
    for name, label in pairs:
        table.add(name, label)
    return table


def write_symbols(table: SymbolTable, path: PathLike | None = None) -> str:
    """Write ``table`` as an OpenFst text symbol table (epsilon as id 0, label k as id k+1);
    returns the text and writes it atomically to ``path`` when given."""
    lines = [f"{table.epsilon}\t0"] + [f"{name}\t{label + 1}" for name, label in table.items()]
    for line in lines:
        name = line.rsplit("\t", 1)[0]
        if not name or any(c.isspace() for c in name):
            raise GraphError(f"symbol {name!r} cannot be written: OpenFst names have no whitespace")
    return _write_text("".join(line + "\n" for line in lines), path)


__all__ = [
    "FormatError",
    "load",
    "read_att",
    "read_symbols",
    "save",
    "write_att",
    "write_symbols",
]
