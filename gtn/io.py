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
Reading bounds state ids by the length of the text (see :func:`parse_att`).

Files and text are separate entry points: ``read_att`` / ``read_symbols`` take a path, always;
``parse_att`` / ``parse_symbols`` take the text itself.

Weights are energies (the tropical semiring's convention, which OpenFst's ``standard`` arcs use):
float64 weights are written with ``repr`` precision so text round trips are exact.
"""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import torch

from ._internal.atomic import atomic_write
from ._internal.format_error import FormatError
from ._internal.npz import load, save
from ._internal.text_fields import INT32_MAX, energy, integer, is_integer, is_number, lines, shown
from .graph import EPSILON, INF, Graph, GraphError
from .symbols import SymbolTable

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------- sources


# Parsing holds a text's lines and fields as Python objects, about 25 times its size in
# memory (measured on AT&T text): a 256 MiB file already costs gigabytes. Text past this is read
# by the caller and given to parse_att / parse_symbols, a choice made knowingly.
MAX_TEXT_BYTES = 1 << 28


def _read_file(path: PathLike, parser: str) -> tuple[str, str]:
    """(text, path for messages) of a UTF-8 file of at most MAX_TEXT_BYTES: a regular file or
    a pipe (``<(zcat g.txt.gz)``), never a device (``/dev/zero`` has no end). Line ends are kept
    as written (OpenFst counts lines by "\\n"), so error line numbers match an editor's."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a path (str or os.PathLike), got {type(path).__name__}")
    name = os.fsdecode(os.fspath(path))
    too_big = (
        f"more than {MAX_TEXT_BYTES:,} bytes, the most gtn reads from a file (parsing takes "
        f"~25 times that in memory); to go further, read it yourself and call gtn.io.{parser}"
    )
    try:
        with open(name, "rb") as f:
            info = os.fstat(f.fileno())
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
                raise FormatError(name, None, "not a regular file (a device or a socket)")
            if info.st_size > MAX_TEXT_BYTES:
                raise FormatError(name, None, too_big)
            data = f.read(MAX_TEXT_BYTES + 1)  # a pipe has no size to check first
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, f"no such file (to read text from a string, use gtn.io.{parser})", name
        ) from None
    if len(data) > MAX_TEXT_BYTES:
        raise FormatError(name, None, too_big)
    try:
        return data.decode("utf-8"), name
    except UnicodeDecodeError as e:
        raise FormatError(name, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def _check_text(text, reader: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{reader} takes the text itself (a str), got {type(text).__name__}")


def _write_text(text: str, path: PathLike | None) -> str:
    if path is not None:
        with atomic_write(path) as f:
            f.write(text)
    return text


# ---------------------------------------------------------------------------- fields

# State ids are kept as written (like fstcompile --keep_state_numbering), so the largest id
# sizes the graph. A file of L lines names at most 2L states; ids up to 2L plus this slack are
# read as they are (sparse numberings from other tools still load, at a few MB at most), while
# a 30-byte file cannot ask for gigabytes.
_SPARE_STATE_IDS = 1 << 20


def _state_limit(num_lines: int) -> tuple[int, str]:
    """(largest state id a text of ``num_lines`` non-blank lines may use, why)."""
    limit = min(2 * num_lines + _SPARE_STATE_IDS, INT32_MAX - 1)
    why = (
        f"{num_lines} {'line names' if num_lines == 1 else 'lines name'} at most "
        f"{2 * num_lines} states "
        "and ids are kept as written; renumber the states densely"
    )
    return limit, why


def _parse_label(field: str, table: SymbolTable | None, side: str, where) -> int:
    if table is not None:
        if field not in table:
            raise FormatError(
                *where, f"unknown {side} symbol {shown(field)!r} (not in the {side} symbol table)"
            )
        return table.id(field)
    if not is_integer(field):
        raise FormatError(
            *where,
            f"{side} label {shown(field)!r} is not an integer (pass symbol tables to read names)",
        )
    if field.startswith("-") and field.strip("-0"):
        raise FormatError(*where, f"{side} label {shown(field)} is negative (OpenFst ids are >= 0)")
    openfst_id = integer(field, f"{side} label", where, INT32_MAX, "OpenFst labels are 32-bit")
    return openfst_id - 1  # OpenFst id 0 is epsilon == -1


def _format_weight(w: float, float32: bool) -> str:
    if w == INF:
        return "Infinity"
    # Shortest text that reads back to the same value in the graph's precision.
    return str(np.float32(w)) if float32 else repr(float(w))


def _is_weight_not_label(field: str, table: SymbolTable | None) -> bool:
    if table is not None:
        is_label = field in table
    else:
        is_label = is_integer(field) and not field.startswith("-")
    return not is_label and is_number(field)


def _guess_acceptor(rows, osymbols: SymbolTable | None) -> bool:
    """3 fields mean an acceptor arc and 5 a transducer arc; when every arc line has 4 fields,
    it is an acceptor iff some 4th field is a number but not a label."""
    counts = {len(fields) for _, fields in rows if len(fields) >= 3}
    if 3 in counts:
        return True
    if 5 in counts or not counts:
        return False
    return any(_is_weight_not_label(f[3], osymbols) for _, f in rows if len(f) == 4)


def _energies(values: list[float], where: list[int], dtype, source: str, rows) -> torch.Tensor:
    """values as a ``dtype`` tensor; a finite value that overflows ``dtype`` (1e39 in float32)
    is an error naming its line (``where[i]``; ``rows`` are the text's lines), not a silent
    +inf."""
    out = torch.tensor(values, dtype=dtype)
    if dtype != torch.float64 and out.numel():
        wide = torch.tensor(values, dtype=torch.float64)
        bad = torch.nonzero(torch.isinf(out) & torch.isfinite(wide)).flatten()
        if bad.numel():
            line = where[int(bad[0])]
            field = next(fields[-1] for number, fields in rows if number == line)
            raise FormatError(source, line, f"weight {shown(field)} is out of range for {dtype}")
    return out


# ---------------------------------------------------------------------------- AT&T text


def read_att(
    path: PathLike,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    acceptor: bool | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> Graph:
    """Read a graph from a file in OpenFst's AT&T text format (see :func:`parse_att` for the
    format and the arguments; text in a string goes to :func:`parse_att`).

    Args:
        path: the file (str or os.PathLike). Always a path, never text.

    Raises:
        FileNotFoundError: no such file.
        FormatError: naming the file, the line, and the problem.
    """
    text, source = _read_file(path, "parse_att")
    return parse_att(text, isymbols, osymbols, acceptor, dtype=dtype, source=source)


def parse_att(
    text: str,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    acceptor: bool | None = None,
    *,
    dtype: torch.dtype | None = None,
    source: str = "<text>",
) -> Graph:
    """Parse a graph in OpenFst's AT&T text format from the string ``text``.

    Lines are ``src dst ilabel olabel [weight]`` (transducer), ``src dst label [weight]``
    (acceptor) or ``state [final_weight]``, fields separated by tabs or spaces; a missing weight
    is 0. The source of the first line is the only start state (start weight 0). Labels are
    OpenFst ids (our label + 1, 0 = epsilon), or names when symbol tables are given
    (``osymbols`` defaults to ``isymbols``); the tables are attached to the graph.

    Read strictly, since files come from strangers: states and labels are ASCII digits (no
    Unicode digits, no ``1_0``); labels are 32-bit (at most 2147483647, as OpenFst's); state ids
    are kept as written and may not exceed 2 x (number of lines) + 2^20, so a small text cannot
    ask for a huge graph. Weights are energies: decimal numbers, or +inf spelled ``Infinity``
    or ``inf``. A decimal too large for the weight dtype (``1e400``, or ``1e39`` in float32) is
    an error: OpenFst's reader would make it +inf, silently deleting the arc.

    Args:
        text: the AT&T text.
        acceptor: True / False to force the format; None guesses from the field counts (an
            all-4-field file is read as a transducer unless a 4th field is not a label).
        dtype: weight dtype (default ``torch.get_default_dtype()``).
        source: the name error messages give the text (``read_att`` passes the path).

    Raises:
        FormatError: naming ``source``, the line, and the problem.

    >>> g = parse_att("0 1 1 2 0.5\\n1 1.25\\n", dtype=torch.float64)
    >>> g.ilabel.tolist(), g.olabel.tolist(), g.final_weight.tolist()
    ([0], [1], [inf, 1.25])
    """
    _check_text(text, "parse_att")
    dtype = dtype or torch.get_default_dtype()
    osymbols = osymbols if osymbols is not None else isymbols
    rows = lines(text)
    state_limit, why = _state_limit(len(rows))
    if acceptor is None:
        acceptor = _guess_acceptor(rows, osymbols)
    arc_fields = (3, 4) if acceptor else (4, 5)
    src, dst, ilabel, olabel, weight, arc_lines = [], [], [], [], [], []
    finals: dict[int, tuple[float, int]] = {}
    start, max_state = None, -1
    for number, fields in rows:
        where = (source, number)
        n = len(fields)
        if n <= 2:
            state = integer(fields[0], "state", where, state_limit, why)
            if state in finals:
                raise FormatError(*where, f"state {state} already has a final weight")
            finals[state] = (energy(fields[1], where) if n == 2 else 0.0, number)
            states = (state,)
        elif n in arc_fields:
            s = integer(fields[0], "state", where, state_limit, why)
            d = integer(fields[1], "state", where, state_limit, why)
            il = _parse_label(fields[2], isymbols, "input", where)
            ol = il if acceptor else _parse_label(fields[3], osymbols, "output", where)
            src.append(s)
            dst.append(d)
            ilabel.append(il)
            olabel.append(ol)
            weight.append(energy(fields[-1], where) if n == arc_fields[1] else 0.0)
            arc_lines.append(number)
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
    num_nodes = max_state + 1
    start_weight = torch.full((num_nodes,), INF, dtype=dtype)
    if start is not None:
        start_weight[start] = 0.0
    final_weight = torch.full((num_nodes,), INF, dtype=dtype)
    if finals:
        values = [w for w, _ in finals.values()]
        final_lines = [line for _, line in finals.values()]
        final_weight[list(finals)] = _energies(values, final_lines, dtype, source, rows)
    return Graph(
        num_nodes,
        np.asarray(src, dtype=np.int32),
        np.asarray(dst, dtype=np.int32),
        np.asarray(ilabel, dtype=np.int32),
        None if acceptor else np.asarray(olabel, dtype=np.int32),
        _energies(weight, arc_lines, dtype, source, rows),
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
    """Read an OpenFst text symbol table from a file (see :func:`parse_symbols`; text in a
    string goes there).

    Raises:
        FileNotFoundError: no such file.
        FormatError: naming the file, the line, and the problem.
    """
    text, source = _read_file(path, "parse_symbols")
    return parse_symbols(text, source=source)


def parse_symbols(text: str, *, source: str = "<text>") -> SymbolTable:
    """Parse an OpenFst text symbol table (``name id`` per line, tabs or spaces) from the string
    ``text``. Id 0 names epsilon; id k > 0 becomes our label k-1. Ids are ASCII digits and
    32-bit, as OpenFst's (at most 2147483647).

    Raises:
        FormatError: naming ``source``, the line, and the problem (field count, bad, negative or
            too large id, duplicate name or id).
    """
    _check_text(text, "parse_symbols")
    epsilon, pairs = None, []
    seen_names: dict[str, int] = {}
    seen_ids: dict[int, int] = {}
    for number, fields in lines(text):
        where = (source, number)
        if len(fields) != 2:
            raise FormatError(*where, f"expected 2 fields (name id), got {len(fields)}")
        name, field = fields
        openfst_id = integer(field, "symbol id", where, INT32_MAX, "OpenFst ids are 32-bit")
        if name in seen_names:
            raise FormatError(
                *where, f"symbol {shown(name)!r} already defined on line {seen_names[name]}"
            )
        if openfst_id in seen_ids:
            raise FormatError(
                *where, f"symbol id {openfst_id} already used on line {seen_ids[openfst_id]}"
            )
        seen_names[name], seen_ids[openfst_id] = number, number
        if openfst_id == 0:
            epsilon = name
        else:
            pairs.append((name, openfst_id - 1, number))
    table = SymbolTable(epsilon=epsilon) if epsilon is not None else SymbolTable()
    for name, label, number in pairs:
        if name == table.epsilon:  # only the default name can clash: there is no id 0 line
            raise FormatError(
                source,
                number,
                f"symbol {shown(name)!r} has id {label + 1}, but with no id 0 line it names "
                "epsilon (add a line for id 0)",
            )
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
    "parse_att",
    "parse_symbols",
    "read_att",
    "read_symbols",
    "save",
    "write_att",
    "write_symbols",
]
