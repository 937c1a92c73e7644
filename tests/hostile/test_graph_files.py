"""Hostile graph files and graph algebra (issue 15): small inputs that asked for gigabytes, ids
that wrapped or overflowed silently, weights that silently became +inf, and operations whose
output grew quadratically.

Each reproduction from the issue is a test here. Anything that could allocate gigabytes runs in
a subprocess under ``RLIMIT_AS`` (see :func:`run_capped`), so that a regression fails the test
instead of the machine. The fuzz tests throw hypothesis-generated AT&T text and symbol tables
at the readers in such a subprocess: every input must give a graph (or table) or a
``gtn.FormatError`` naming the file and the line; never another exception, never a blow-up.
"""

from __future__ import annotations

import json
import math
import random
import re
import resource
import textwrap
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gtn
from gtn.io import FormatError, load, parse_att, read_att, read_symbols, save
from tests.fresh_interpreter import run_python
from tests.gtn.language_checks import energies, with_energies
from tests.gtn.reference import enumerate_paths
from tests.gtn.strategies import graphs

ROOT = Path(__file__).resolve().parents[2]
MEMORY_CAP = 3 << 29  # 1.5 GiB of address space: importing gtn takes ~0.85 GiB
F64 = torch.float64


# ---------------------------------------------------------------------------- memory-capped runs


def run_capped(body: str, timeout: int = 900) -> dict:
    """Run ``body`` (Python; it sets ``result`` to a thunk) in a subprocess whose address space
    is capped at MEMORY_CAP. Returns {"type": "ok" or the exception's class name, "message"}
    (and "detail", the traceback with hypothesis's falsifying examples, for an exception).
    A crash or a kill (no report) fails the calling test with the subprocess's stderr."""
    script = "\n".join(
        [
            "import json, sys",
            f"sys.path.insert(0, {str(ROOT)!r})",
            "import gtn",
            textwrap.dedent(body),
            "try:",
            "    value = result()",
            "except Exception as e:",
            "    import traceback",
            "    detail = ''.join(traceback.format_exception(e))[-6000:]",
            "    out = {'type': type(e).__name__, 'message': str(e), 'detail': detail}",
            "else:",
            "    out = {'type': 'ok', 'message': repr(value)}",
            "print('RESULT ' + json.dumps(out))",
        ]
    )

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    done = run_python(script, timeout, preexec_fn=cap)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def read_capped(path: Path, reader: str = "read_att", **kwargs) -> dict:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return run_capped(f"result = lambda: gtn.io.{reader}({str(path)!r}, {args})")


def write(tmp_path: Path, text: str, name: str = "hostile.fst") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_names_file_and_line(outcome: dict, path: Path, line: int, problem: str) -> None:
    assert outcome["type"] == "FormatError", outcome
    assert outcome["message"].startswith(f"{path}, line {line}: "), outcome
    assert problem in outcome["message"], outcome


# ---------------------------------------------------------------------------- AT&T text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0 4000000000 1 1\n", "state 4000000000 is too large"),  # asked for 16 GB
        ("0 2147483647 1 1\n", "state 2147483647 is too large"),  # asked for 8.6 GB
    ],
)
def test_a_tiny_att_file_cannot_ask_for_a_huge_graph(tmp_path, text, problem):
    path = write(tmp_path, text)
    assert len(text) <= 30
    assert_names_file_and_line(read_capped(path), path, 1, problem)


def test_state_ids_up_to_twice_the_lines_plus_a_million_are_kept_as_written():
    assert parse_att("0 1048578 1 1\n").num_nodes == 1048579  # 2 * 1 line + 2**20
    with pytest.raises(FormatError, match="state 1048579 is too large .*renumber"):
        parse_att("0 1048579 1 1\n")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("1e30 1 1 1", "state '1e30' is not an integer"),  # was an overflow TypeError
        ("١ 1 1 1", "state '١' is not an integer"),  # Arabic-Indic one: int() takes it
        ("0 1_0 1 1", "state '1_0' is not an integer"),  # int() reads 10
        ("0 １ 1 1", "state '１' is not an integer"),  # fullwidth one
        ("0 1 ٣ 1", "input label '٣' is not an integer"),
        ("0 1 1 1_0", "output label '1_0' is not an integer"),
        ("0 1 4000000000 1", "input label 4000000000 is too large"),  # was a raw OverflowError
        ("0 1 1 2147483648", "output label 2147483648 is too large"),
        ("0 1 1 1 1e400", "weight 1e400 is out of range for float64"),  # was +inf: arc gone
        ("0 1 1 1 -1e400", "weight -1e400 is out of range for float64"),
        ("0 1 1 1 1_0", "weight '1_0' is not a number"),  # float() reads 10
        ("0 1 1 1 ١", "weight '١' is not a number"),
        ("0 1 1 1 0x1p3", "weight '0x1p3' is not a number"),
        ("0 1 1 1 -Infinity", "weight -Infinity is not an energy"),
    ],
)
def test_att_fields_are_read_strictly_with_file_and_line(tmp_path, line, problem):
    path = write(tmp_path, f"0 1 1 1\n{line}\n1\n")
    with pytest.raises(FormatError) as info:
        read_att(path, acceptor=False, dtype=F64)
    assert (info.value.source, info.value.line) == (str(path), 2)
    assert problem in str(info.value)


def test_a_weight_that_overflows_float32_is_an_error_not_infinity(tmp_path):
    path = write(tmp_path, "0 1 1 1 0.5\n1 1e39\n")
    with pytest.raises(FormatError, match=r"line 2: weight 1e39 is out of range for torch.float32"):
        read_att(path, dtype=torch.float32)
    with pytest.raises(FormatError, match=r"line 1: weight 3.5e38 is out of range for torch"):
        parse_att("0 1 1 1 3.5e38\n1\n", dtype=torch.float32)
    # The same text is fine in float64, and explicit infinities stay what they say.
    assert read_att(path, dtype=F64).final_weight.tolist() == [math.inf, 1e39]
    g = parse_att("0 1 1 1 Infinity\n0 1 2 2 inf\n0 1 3 3 +INF\n1\n", dtype=torch.float32)
    assert g.weight.tolist() == [math.inf] * 3


def test_a_missing_path_with_a_space_is_not_read_as_graph_text(tmp_path):
    missing = tmp_path / "my graph.fst"
    for path in (missing, str(missing), "0 1 1 1"):
        with pytest.raises(FileNotFoundError, match="use gtn.io.parse_att"):
            read_att(path)
    with pytest.raises(FileNotFoundError):
        read_symbols(str(tmp_path / "my words.txt"))
    with pytest.raises(TypeError, match="parse_att takes the text itself"):
        parse_att(missing)


# ---------------------------------------------------------------------------- symbol tables


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("b 4000000000", "symbol id 4000000000 is too large"),
        ("b ٢", "symbol id '٢' is not an integer"),
        ("b 1_0", "symbol id '1_0' is not an integer"),
        ("b 1e3", "symbol id '1e3' is not an integer"),
        ("b " + "9" * 5000, "symbol id 9999999999999999...(5000 characters) is too large"),
        ("c 3\n<eps> 7", "symbol '<eps>' has id 7, but with no id 0 line it names epsilon"),
    ],
)
def test_symbol_table_ids_are_read_strictly_with_file_and_line(tmp_path, line, problem):
    path = write(tmp_path, f"# 5\na 1\n{line}\n", "words.txt")
    with pytest.raises(FormatError) as info:
        read_symbols(path)
    assert (info.value.source, info.value.line) == (str(path), 3 + line.count("\n"))
    assert problem in str(info.value)


# ---------------------------------------------------------------------------- 32-bit ids


@pytest.mark.parametrize("name", ["src", "dst", "ilabel", "olabel"])
def test_ids_beyond_32_bits_are_refused_not_wrapped(name):
    arrays = {"src": [0, 0], "dst": [1, 1], "ilabel": [0, 1], "olabel": [0, 1]}
    arrays[name] = np.array(arrays[name], dtype=np.int64)
    arrays[name][1] = 2**32 + 1  # int32 wraps it to 1
    with pytest.raises(gtn.GraphError, match=rf"{name}\[1\] = 4294967297 is out of range"):
        gtn.Graph.from_arrays(2, arrays["src"], arrays["dst"], arrays["ilabel"], arrays["olabel"])


def test_labels_of_a_linear_graph_beyond_32_bits_are_refused():
    with pytest.raises(
        gtn.GraphError, match=r"labels\[1\] = 4294967297 is out of range for 32-bit"
    ):
        gtn.linear([0, 2**32 + 1])


def test_num_nodes_beyond_32_bits_is_refused():
    outcome = run_capped("result = lambda: gtn.Graph.from_arrays(2**32 + 1, [0], [1], [0])")
    assert outcome["type"] == "GraphError", outcome  # not 17 GB of start / final weights
    assert "num_nodes = 4294967297 is out of range" in outcome["message"]


def _graph_arrays(g: gtn.Graph) -> dict:
    return {
        "magic": np.array("ebgtn-graph"),
        "version": np.array(1),
        "dtype": np.array("float64"),
        "num_nodes": np.array(g.num_nodes, dtype=np.int64),
        "src": g.src.astype(np.int64),
        "dst": g.dst.astype(np.int64),
        "ilabel": g.ilabel.astype(np.int64),
        "olabel": g.olabel.astype(np.int64),
        "weight": g.weight.double().numpy(),
        "start_weight": g.start_weight.double().numpy(),
        "final_weight": g.final_weight.double().numpy(),
    }


def test_load_refuses_ids_beyond_32_bits(tmp_path):
    arrays = _graph_arrays(gtn.linear([0, 1]))
    arrays["ilabel"][1] = 2**32 + 1
    np.savez(tmp_path / "wrapped.npz", **arrays)
    with pytest.raises(FormatError, match=r"wrapped\.npz: .*ilabel\[1\] = 4294967297 is out"):
        load(tmp_path / "wrapped.npz")


# ---------------------------------------------------------------------------- .npz archives


def _zip_bomb(path: Path, megabytes: int) -> None:
    """A graph archive whose 'weight' member inflates to ``megabytes`` MiB of zeros (a
    consistent .npy header), deflated to about a thousandth of that."""
    arrays = _graph_arrays(gtn.linear([0]))
    count = (megabytes << 20) // 8
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, value in arrays.items():
            if name != "weight":
                with archive.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, value)
        with archive.open("weight.npy", "w", force_zip64=True) as f:
            header = {"descr": "<f8", "fortran_order": False, "shape": (count,)}
            np.lib.format.write_array_header_1_0(f, header)
            zeros = bytes(1 << 22)
            for _ in range(count * 8 // len(zeros)):
                f.write(zeros)


def test_load_refuses_an_archive_that_inflates_far_beyond_its_size(tmp_path):
    path = tmp_path / "bomb.npz"
    _zip_bomb(path, 256)
    assert path.stat().st_size < 2 << 20
    outcome = run_capped(f"result = lambda: gtn.load({str(path)!r})")
    assert outcome["type"] == "FormatError", outcome
    assert re.match(
        rf"{re.escape(str(path))}: the archive declares 268,4\d\d,\d\d\d bytes", outcome["message"]
    )


def test_load_refuses_a_header_that_declares_more_than_the_member_holds(tmp_path):
    path = tmp_path / "liar.npz"
    arrays = _graph_arrays(gtn.linear([0]))
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as f:
                if name == "weight":  # 10**11 float64 (800 GB) declared, 8 bytes held
                    header = {"descr": "<f8", "fortran_order": False, "shape": (10**11,)}
                    np.lib.format.write_array_header_1_0(f, header)
                    f.write(value.tobytes())
                else:
                    np.lib.format.write_array(f, value)
    outcome = run_capped(f"result = lambda: gtn.load({str(path)!r})")
    assert outcome["type"] == "FormatError", outcome
    assert "member 'weight' declares shape (100000000000,) of float64" in outcome["message"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("src", np.zeros((2, 1), np.int64), "member 'src' has dtype int64 and shape (2, 1)"),
        ("num_nodes", np.arange(3), "member 'num_nodes' has dtype int64 and shape (3,)"),
        ("weight", np.array(["a"]), "member 'weight' has dtype <U1 and shape (1,); expected a"),
    ],
)
def test_load_checks_every_members_kind_and_shape(tmp_path, name, value, problem):
    arrays = _graph_arrays(gtn.linear([0]))
    arrays[name] = value
    np.savez(tmp_path / "odd.npz", **arrays)
    with pytest.raises(FormatError, match=re.escape(problem)):
        load(tmp_path / "odd.npz")


def test_a_saved_graph_still_loads(tmp_path):
    g = gtn.linear([0, 3, 1], weights=torch.tensor([0.5, -1.0, 2.0], dtype=F64))
    save(g, tmp_path / "g.npz")
    back = load(tmp_path / "g.npz")
    assert back.ilabel.tolist() == [0, 3, 1] and torch.equal(back.weight, g.weight)


# ---------------------------------------------------------------------------- closure / concat


def _lexicon(num_words: int = 1000, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(26) for _ in range(rng.randint(3, 10))] for _ in range(num_words)]


def test_the_word_loop_of_a_1000_word_lexicon_is_linear():
    words = _lexicon()
    spellings = gtn.union([gtn.linear(w) for w in words])
    letters = sum(len(w) for w in words)
    assert (spellings.num_nodes, spellings.num_arcs) == (letters + 1000, letters)
    loop = gtn.closure(spellings)  # was 1,000,000 + 2 x 1,000 epsilon arcs
    assert loop.num_arcs == letters + 1000 + 1000  # one in, one out per word
    assert loop.num_nodes == spellings.num_nodes + 1
    plus = gtn.closure(spellings, plus=True)
    assert (plus.num_nodes, plus.num_arcs) == (spellings.num_nodes + 1, letters + 2000)
    two_words = gtn.concat(spellings, spellings)
    assert two_words.num_arcs == 2 * letters + 2000
    assert two_words.num_nodes == 2 * spellings.num_nodes + 1


def test_the_word_loop_reads_word_sequences_with_their_energies():
    words = [[0, 1], [2], [1, 1, 0]]
    sw, fw = [0.5, -0.25, 0.0], [1.0, 0.0, -0.5]
    spellings = gtn.union(
        [
            gtn.Graph.from_arrays(
                len(w) + 1,
                range(len(w)),
                range(1, len(w) + 1),
                w,
                weight=torch.full((len(w),), 0.125, dtype=F64),
                start_weight=sw[k],
                final_weight=fw[k],
            )
            for k, w in enumerate(words)
        ]
    )
    loop = gtn.closure(spellings)
    # The string 2 0 1 1 1 0 reads words 1, 0, 2 and no other way.
    path = [2, 0, 1, 1, 1, 0]
    energy = float(gtn.min_energy(gtn.intersect(loop, gtn.linear(path))))
    want = sum(sw[k] + fw[k] + 0.125 * len(words[k]) for k in (1, 0, 2))
    assert energy == pytest.approx(want, abs=1e-12)
    assert float(gtn.min_energy(gtn.intersect(loop, gtn.linear([])))) == 0.0


def _repetitions(g: gtn.Graph, max_len: int, at_least: int) -> Counter:
    """(ilabels, olabels, energy) multiset of sequences of >= at_least paths of g, brute force,
    up to max_len input labels (g's paths are all non-empty)."""
    base = [p for p in enumerate_paths(g) if p.ilabels]
    want, frontier = Counter(), Counter({((), (), 0.0): 1})
    for reps in range(max_len + 1):
        if reps >= at_least:
            want += frontier
        nxt = Counter()
        for (il, ol, e), c in frontier.items():
            for p in base:
                if len(il) + len(p.ilabels) <= max_len:
                    nxt[(il + p.ilabels, ol + p.olabels, round(e + p.energy, 6))] += c
        frontier = nxt
    return want


def _paths_up_to(g: gtn.Graph, max_len: int) -> Counter:
    return Counter(
        (p.ilabels, p.olabels, round(p.energy, 6))
        for p in enumerate_paths(g, max_arcs=3 * max_len + 3)
        if len(p.ilabels) <= max_len
    )


def _without_empty_paths(g: gtn.Graph) -> gtn.Graph | None:
    """g with its start states made non-final (so, having no epsilons, every path of g reads
    a label and repetitions can be enumerated), or None if no final state is left."""
    fw = g.final_weight.clone()
    fw[torch.from_numpy(g.start_nodes.astype(np.int64))] = math.inf
    if not bool(torch.isfinite(fw).any()):
        return None
    return g.with_weights(final_weight=fw)


# Several weighted start and final states, so that the hub arcs carry both weights.
multi_end_graphs = (
    graphs(acceptor=False, min_nodes=2, max_nodes=4, max_arcs=6, epsilon=False)
    .map(_without_empty_paths)
    .filter(lambda g: g is not None)
)


@given(multi_end_graphs, st.booleans())
def test_closure_paths_are_exactly_the_repetitions(g, plus):
    max_len = 3
    got = _paths_up_to(gtn.closure(g, plus=plus), max_len)
    assert got == _repetitions(g, max_len, at_least=1 if plus else 0)


@given(multi_end_graphs, multi_end_graphs)
def test_concat_paths_are_exactly_the_pairs(a, b):
    want = Counter()
    for p in enumerate_paths(a):
        for q in enumerate_paths(b):
            want[(p.ilabels + q.ilabels, p.olabels + q.olabels, round(p.energy + q.energy, 6))] += 1
    joined = gtn.concat(a, b)
    got = Counter((p.ilabels, p.olabels, round(p.energy, 6)) for p in enumerate_paths(joined, 30))
    assert got == want
    finals, starts = a.final_nodes.shape[0], b.start_nodes.shape[0]
    assert joined.num_arcs == a.num_arcs + b.num_arcs + (
        finals + starts if min(finals, starts) > 1 else finals * starts
    )


def test_closure_and_concat_pass_gradients_to_arc_start_and_final_weights():
    two_words = gtn.union(
        gtn.linear([0, 1], weights=torch.tensor([0.5, 0.25], dtype=F64)),
        gtn.linear([1], weights=torch.tensor([-0.5], dtype=F64)),
    )
    two_words = two_words.with_weights(
        start_weight=torch.tensor([0.25, math.inf, math.inf, -0.75, math.inf], dtype=F64),
        final_weight=torch.tensor([math.inf, math.inf, 0.5, math.inf, 1.25], dtype=F64),
    )
    w0, sw0, fw0 = (t.detach().clone().requires_grad_() for t in energies(two_words))

    def free_energy(w, sw, fw):
        g = with_energies(two_words, w, sw, fw)
        loop = gtn.concat(gtn.closure(g), gtn.closure(g, plus=True))
        return gtn.free_energy(gtn.intersect(loop, gtn.linear([1, 0, 1, 1])))

    assert torch.autograd.gradcheck(free_energy, (w0, sw0, fw0))
    free_energy(w0, sw0, fw0).sum().backward()
    assert all(t.grad is not None and bool(t.grad.ne(0).any()) for t in (w0, sw0, fw0))


# ---------------------------------------------------------------------------- compose budget


def test_compose_refuses_a_product_over_its_arc_budget():
    a = gtn.linear([0, 0, 0])
    assert gtn.compose(a, a, max_arcs=3).num_arcs == 3
    with pytest.raises(
        gtn.GraphError, match=r"compose: .* more than max_arcs=2 arcs .* pass a larger max_arcs="
    ):
        gtn.compose(a, a, max_arcs=2)
    loops = gtn.Graph.from_arrays(1, np.zeros(300), np.zeros(300), np.zeros(300), final=[0])
    with pytest.raises(
        gtn.GraphError,
        match=r"intersect: the product of a\[1\] and b\[1\] .* max_arcs=1,000 arcs \(90,000 found",
    ):
        gtn.intersect([a, loops], [a, loops], max_arcs=1000)
    many = gtn.union([a] * 100)
    with pytest.raises(
        gtn.GraphError, match="product of a and b is too large: 10,000 start states"
    ):
        gtn.intersect(many, many, max_arcs=1000)
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(gtn.GraphError, match="max_arcs must be a non-negative integer"):
            gtn.compose(a, a, max_arcs=bad)


def test_compose_of_a_huge_product_is_refused_before_allocating():
    # 10,000 self-loops on each side: 10**8 product arcs (about 4 GB with maps and weights).
    outcome = run_capped(
        """
        import numpy as np
        zeros = np.zeros(10**4)
        loops = gtn.Graph.from_arrays(1, zeros, zeros, zeros, final=[0])
        result = lambda: gtn.compose(loops, loops)
        """
    )
    assert outcome["type"] == "GraphError", outcome
    assert "more than max_arcs=50,000,000 arcs (100,000,000 found" in outcome["message"]


# ---------------------------------------------------------------------------- fuzzing

TOKENS = [
    *"0 1 2 3 7 00 -0 +1 -1 0.5 -3.25 .5 1e3 1.5e-3".split(),
    *"4000000000 2147483647 2147483648 99999999999999999999999 -4000000000".split(),
    *"1e30 1e39 -1e39 3.4028236e38 1e400 -1e400 1e-400 1e308".split(),
    *"inf Infinity +inf -inf -Infinity nan NaN INF".split(),
    *"١ ٣٤ １ ² ½ ⅷ 1_0 1_000 0x10 0x1p3 0b1 1j".split(),
    *"junk <eps> a b é".split(),
    *["\x00", "\ufeff0", "0\u00a01", "1\u20090"],
]
SEPARATORS = [" ", "\t", "  ", " \t ", "\u00a0", "\u2028", "\x0c"]


LINE_SHAPES = [
    ("s", "s", "l"),
    ("s", "s", "l", "w"),
    ("s", "s", "l", "l"),
    ("s", "s", "l", "l", "w"),
]
LINE_SHAPES += [("s",), ("s", "w")]
VALID = {
    "s": ["0", "1", "2", "3", "4"],
    "l": ["0", "1", "2", "3", "a", "b", "<eps>"],
    "w": ["0", "0.5", "-1.25", "3", "Infinity", "inf"],
}


@st.composite
def hostile_lines(draw) -> str:
    """A well-formed line with at most one field replaced by a hostile token, so that the
    hostile token is what the reader meets; sometimes any text at all, or nothing."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=12))
    if kind == 1:
        return ""
    fields = [draw(st.sampled_from(VALID[f])) for f in draw(st.sampled_from(LINE_SHAPES))]
    if draw(st.booleans()):
        fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(TOKENS))
    return draw(st.sampled_from(SEPARATORS[:4] if kind > 2 else SEPARATORS)).join(fields)


@st.composite
def hostile_texts(draw) -> str:
    lines = draw(st.lists(hostile_lines(), max_size=8))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(lines) + draw(st.sampled_from(["", end]))


@st.composite
def hostile_symbol_tables(draw) -> str:
    lines = []
    for k in range(draw(st.integers(0, 6))):
        fields = [draw(st.sampled_from(["<eps>", "a", "b", "c", "é"])), str(k)]
        if draw(st.booleans()):
            fields[draw(st.integers(0, 1))] = draw(st.sampled_from(TOKENS))
        lines.append(draw(st.sampled_from(SEPARATORS)).join(fields))
    return "\n".join(lines)


def _fuzz_readers(tmp: str, examples: int) -> None:
    """Run in a capped subprocess by the tests below: hostile texts through every reader."""
    table = gtn.io.parse_symbols("<eps> 0\na 1\nb 2\né 3\n")
    path = Path(tmp) / "fuzz.fst"
    where = re.compile(rf"^{re.escape(str(path))}, line \d+: ")

    @settings(max_examples=examples, deadline=None, database=None)
    @given(
        hostile_texts(),
        hostile_symbol_tables(),
        st.sampled_from([None, True, False]),
        st.sampled_from([torch.float32, torch.float64]),
        st.booleans(),
    )
    def fuzz(text, symbols_text, acceptor, dtype, named):
        path.write_text(text, encoding="utf-8")
        symbols = table if named else None
        try:
            g = read_att(path, symbols, symbols, acceptor, dtype=dtype)
        except FormatError as e:
            assert where.match(str(e)), str(e)
        else:
            lines = sum(1 for x in text.split("\n") if x.strip(" \t\r\f\v"))
            assert g.num_nodes <= 2 * lines + (1 << 20) + 1
            infinite = torch.isinf(torch.cat([g.weight, g.final_weight[g.final_nodes]]))
            if bool(infinite.any()):  # only from an explicit infinity, never an overflow
                assert re.search("inf", text, re.IGNORECASE), text
        path.write_text(symbols_text, encoding="utf-8")
        try:
            read_symbols(path)
        except FormatError as e:
            assert where.match(str(e)), str(e)

    fuzz()


def test_fuzzed_att_text_and_symbol_tables_give_a_graph_or_a_named_error(tmp_path):
    outcome = run_capped(
        f"""
        from tests.hostile.test_graph_files import _fuzz_readers
        result = lambda: _fuzz_readers({str(tmp_path)!r}, examples=500)
        """
    )
    assert outcome["type"] == "ok", outcome["detail"]
