"""``ebgtn decode``: decode emission files with a decoding graph, from scripts.

    ebgtn decode --graph G.txt --isymbols in.syms --osymbols words.syms \\
        --emissions energies.npz --beam 12 --max-active 2000 --nbest 5 \\
        --lattice-dir lats/ --output hyps.jsonl --jobs 2

The graph is OpenFst AT&T text; what the emissions and the symbol ids must be is in ``HELP``
(``ebgtn decode --help``) and :mod:`decoders.emissions`. Each utterance gives one JSON line: id,
status ("ok" or "no path"), text, energy, confidence, frames and n-best (``--format text``: the
id and the words). Lattices are written as ``<lattice-dir>/<id>.txt`` (AT&T text with the
symbol tables; state times are recovered with :meth:`decoders.Lattice.from_graph`). Every file
is written atomically, the JSON lines once all utterances are done, so an interrupted run never
leaves a truncated file that looks complete.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import quote

import torch

import gtn
from gtn.utils import atomic_write

from .beam_search import check_emissions, decode
from .emissions import EmissionsFile, not_energies
from .result import DecodeResult, Hypothesis
from .search_layout import search_graph

CHUNK = 4  # utterances per task: small enough for a smooth progress bar, big enough to amortise


HELP = """Decode per-frame label energies with a decoding graph (beam search).

Emissions are energies, lower is better: -log p (e.g. -log_softmax of a network's outputs),
not log-probabilities (wrong sign) and not probabilities. A .npz holds one [T, V] array per
utterance id; a .npy one [T, V] array or a [B, T, V] stack.

Emission column k scores the input symbol of OpenFst id k+1 in the graph and --isymbols: id 0
is epsilon and has no column. A k2/icefall tokens.txt that gives the blank id 0 ("<blk> 0")
therefore makes the blank an epsilon; shift its ids by one (put "<eps> 0" first) and keep the
emission columns in the same order.

Without --osymbols the words printed are the graph file's output ids."""


def add_decode_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``decode`` subcommand (its handler is ``run_decode``)."""
    p = sub.add_parser(
        "decode",
        help="beam-search decode emission files with a decoding graph",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--graph", required=True, help="decoding graph, OpenFst AT&T text")
    p.add_argument("--isymbols", help="input (label) symbol table; id k+1 is emission column k")
    p.add_argument("--osymbols", help="output (word) symbol table")
    p.add_argument(
        "--emissions",
        required=True,
        help="energies (-log p): .npz (one [T, V] array per utterance id) or .npy",
    )

    def number(flag, kind, low, default, what, *, strict=False, infinite=False):
        """A ``kind`` option > low (strict) or >= low, never NaN, +inf only when ``infinite``;
        refusals are argument errors naming the option, and the help gives the default."""

        def parse(text: str):
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
            too_low = value <= low if strict else value < low
            if math.isnan(value) or (math.isinf(value) and not (infinite and value > 0)) or too_low:
                bound = f"> {low:g}" if strict else f">= {low:g}"
                also = " (inf: no limit)" if infinite else ""
                raise argparse.ArgumentTypeError(f"must be a number {bound}{also}, got {text!r}")
            return value

        parse.__name__ = kind.__name__  # argparse names the type in its messages
        also = "" if default is None else " (default %(default)s)"
        p.add_argument(flag, type=parse, default=default, help=what + also)

    number("--beam", float, 0.0, 16.0, "energy beam", strict=True, infinite=True)
    number("--max-active", int, 1, 10_000, "tokens kept per frame")
    number(
        "--lattice-beam", float, 0.0, None, "lattice pruning beam (default: --beam)", infinite=True
    )
    number("--nbest", int, 0, 0, "distinct outputs per utterance")
    number("--beta", float, 0.0, 1.0, "inverse temperature of confidences", strict=True)
    p.add_argument("--lattice-dir", help="write each utterance's lattice here")
    p.add_argument("--output", help="output file (default: standard output)")
    p.add_argument(
        "--format",
        choices=["jsonl", "text"],
        default="jsonl",
        help="jsonl: JSON lines (default); text: 'id word word ...' per line",
    )
    number("--jobs", int, 1, 1, "decode in this many processes")
    shift = "seconds per frame, for the real-time factor"
    number("--frame-shift", float, 0.0, 0.01, shift, strict=True)
    p.set_defaults(run=run_decode)


@dataclass(frozen=True)
class Job:
    """Everything a process needs to decode utterances (picklable: paths and options)."""

    graph: str
    isymbols: str | None
    osymbols: str | None
    emissions: str
    beam: float
    max_active: int
    lattice_beam: float | None
    nbest: int
    beta: float
    lattice_dir: str | None


def _read(reader, path: str | None, what: str, *args, **kwargs):
    """``reader(path, ...)``, or None without a path; a file it cannot open is a FormatError."""
    if path is None:
        return None
    try:
        return reader(path, *args, **kwargs)
    except OSError as err:
        raise gtn.FormatError(path, None, f"cannot read the {what} ({err.strerror})") from None


class Decoder:
    """A job's graph and emissions, loaded once per process."""

    def __init__(self, job: Job):
        self.job = job
        isyms = _read(gtn.io.read_symbols, job.isymbols, "input symbol table")
        osyms = _read(gtn.io.read_symbols, job.osymbols, "output symbol table")
        graph = _read(gtn.io.read_att, job.graph, "graph", isyms, osyms, dtype=torch.float64)
        # Without an output table, print the file's OpenFst ids (gtn label k is id k+1).
        self.file_ids = graph.osymbols is None
        try:
            self.sg = search_graph(graph)
        except gtn.GraphError as err:
            raise gtn.GraphError(f"{job.graph}: {err}") from None
        self.num_labels = max((k for _, k in isyms.items()), default=-1) + 1 if isyms else None
        self.emissions = EmissionsFile(job.emissions)

    def check(self) -> None:
        """Refuse, before any decoding, emissions whose label dimension does not fit."""
        for uid, shape in self.emissions.shapes.items():
            where = f"{self.job.emissions}, utterance {uid}"
            if len(shape) != 2:
                raise gtn.GraphError(f"{where}: expected energies [T, V], got shape {list(shape)}")
            v = shape[1]
            if self.num_labels is not None and v != self.num_labels:
                raise gtn.GraphError(
                    f"{where}: {v} labels per frame, but the input symbol table "
                    f"{self.job.isymbols} names {self.num_labels}"
                )
            if v < self.sg.num_labels:
                raise gtn.GraphError(
                    f"{where}: {v} labels per frame, but the graph {self.job.graph} uses input "
                    f"label {self.sg.num_labels - 1} (OpenFst id {self.sg.num_labels}: emission "
                    f"column k is id k+1)"
                )

    def decode(self, uid: str) -> tuple[dict, int, str | None]:
        """(JSON record, frames, what the emissions look like if not energies) for one
        utterance (see :func:`decoders.emissions.not_energies`)."""
        where = f"{self.job.emissions}, utterance {uid}"
        e = check_emissions(self.emissions.load(uid), self.sg, where)
        suspect = not_energies(e)
        j = self.job
        r = decode(
            e, self.sg, beam=j.beam, max_active=j.max_active, lattice_beam=j.lattice_beam,
            num_hypotheses=j.nbest, beta=j.beta, confidence=True,
            lattice=j.lattice_dir is not None,
        )  # fmt: skip
        if r.lattice is not None:
            name = quote(uid, safe="-_.@+=,")  # path separators and the like percent-encoded
            gtn.write_att(r.lattice.graph, Path(j.lattice_dir) / f"{name}.txt")
        return record(uid, r, e.shape[0], self.file_ids), e.shape[0], suspect

    def decode_many(self, uids: list[str]) -> list[tuple[dict, int, str | None]]:
        return [self.decode(uid) for uid in uids]


def record(uid: str, r: DecodeResult, frames: int, file_ids: bool = False) -> dict:
    """The JSON line of one utterance (energies as numbers; "no path" gives nulls). With
    ``file_ids`` (a graph without an output table) words are OpenFst ids: label k is k+1."""

    def text(h: Hypothesis) -> str:
        return " ".join(str(k + 1) for k in h.output) if file_ids else h.text

    return {  # no path: no hypotheses, no confidence
        "id": uid,
        "status": "ok" if r.found else "no path",
        "text": text(r.best) if r.found else None,
        "energy": r.energy if r.found else None,
        "confidence": r.confidence,
        "frames": frames,
        "nbest": [
            {"text": text(h), "energy": h.energy, "posterior": h.posterior} for h in r.hypotheses
        ],
    }


def _format(line: dict, fmt: str) -> str:
    if fmt == "text":  # Kaldi-style: the id alone when there is no path
        return line["id"] if line["text"] is None else f"{line['id']} {line['text']}".rstrip()
    return json.dumps(line)


_WORKER: Decoder | None = None


def _init_worker(job: Job, threads: int) -> None:
    global _WORKER
    torch.set_num_threads(threads)  # the workers share the parent's budget (numba follows torch)
    _WORKER = Decoder(job)


def _work(uids: list[str]) -> list[tuple[dict, int, str | None]]:
    assert _WORKER is not None
    try:
        return _WORKER.decode_many(uids)
    except gtn.GraphError as err:  # subclasses such as FormatError do not survive pickling
        raise gtn.GraphError(str(err)) from None


def _decode_all(decoder: Decoder, jobs: int, progress) -> list[tuple[dict, int, str | None]]:
    """Every utterance's (record, frames, suspect), in file order, by ``jobs`` processes."""
    ids = decoder.emissions.ids
    chunks = [ids[k : k + CHUNK] for k in range(0, len(ids), CHUNK)]
    if jobs <= 1 or len(chunks) <= 1:
        return _collect(decoder, chunks, map(decoder.decode_many, chunks), progress)
    # spawn: workers start clean instead of inheriting torch / numba thread pools by fork.
    ctx = multiprocessing.get_context("spawn")
    threads = max(1, torch.get_num_threads() // jobs)
    with cf.ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_init_worker, initargs=(decoder.job, threads)
    ) as pool:
        try:
            return _collect(decoder, chunks, pool.map(_work, chunks), progress)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # don't decode the rest in vain
            raise


def _collect(decoder: Decoder, chunks, results, progress) -> list[tuple[dict, int, str | None]]:
    """The chunks' results in order, as they arrive; the first time emissions look like
    (log-)probabilities, one warning on stderr."""
    out, warned = [], False
    for chunk, lines in zip(chunks, results, strict=True):
        for uid, (_, _, suspect) in zip(chunk, lines, strict=True):
            if suspect is not None and not warned:
                warned = True
                print(
                    f"ebgtn decode: warning: {decoder.job.emissions}, utterance {uid}: the "
                    f"emissions look like {suspect}; decode wants energies -log p (lower is "
                    "better), so answers will be wrong",
                    file=sys.stderr,
                )
        progress.update(len(chunk))
        out += lines
    return out


def run_decode(args: argparse.Namespace) -> int:
    """Decode every utterance, write the JSON lines, print a summary to stderr. Returns 0, or 1
    when no utterance had a path (each such line says "no path")."""
    from tqdm import tqdm

    job = Job(**{f.name: getattr(args, f.name) for f in fields(Job)})
    decoder = Decoder(job)
    decoder.check()
    if args.lattice_dir:
        Path(args.lattice_dir).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tqdm(total=len(decoder.emissions.ids), unit="utt", disable=None, file=sys.stderr) as bar:
        lines = _decode_all(decoder, args.jobs, bar)
    seconds = time.perf_counter() - started
    text = "".join(_format(line, args.format) + "\n" for line, _, _ in lines)
    if args.output:
        with atomic_write(args.output) as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    failed = [line["id"] for line, _, _ in lines if line["status"] != "ok"]
    for uid in failed:
        print(f"ebgtn decode: {args.emissions}, utterance {uid}: no path", file=sys.stderr)
    frames = sum(n for _, n, _ in lines)
    audio = frames * args.frame_shift
    rtf = seconds / audio if audio > 0 else math.nan
    print(
        f"decoded {len(lines)} utterances ({len(failed)} without a path), {frames} frames "
        f"in {seconds:.2f} s: real-time factor {rtf:.4f} at {args.frame_shift:g} s per frame",
        file=sys.stderr,
    )
    return 1 if lines and len(failed) == len(lines) else 0
