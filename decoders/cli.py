"""``ebgtn decode``: decode emission files with a decoding graph, from scripts.

    ebgtn decode --graph G.txt --isymbols in.syms --osymbols words.syms \\
        --emissions feats.npz --beam 12 --max-active 2000 --nbest 5 \\
        --lattice-dir lats/ --output hyps.jsonl --jobs 2

The graph is OpenFst AT&T text; emissions are per-frame label energies (lower is better, e.g.
-log_softmax), see :mod:`decoders.emissions`. Each utterance gives one JSON line: id, status
("ok" or "no path"), text, energy, confidence, frames and n-best (``--format text``: the id and
the words). Lattices are written as
``<lattice-dir>/<id>.txt`` (AT&T text with the symbol tables; state times are recovered with
:meth:`decoders.Lattice.from_graph`). Every file is written atomically, the JSON lines once all
utterances are done, so an interrupted run never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import torch

import gtn
from gtn._atomic import atomic_write

from .beam_search import check_emissions, decode
from .emissions import EmissionsFile
from .result import DecodeResult
from .search_graph import search_graph

CHUNK = 4  # utterances per task: small enough for a smooth progress bar, big enough to amortise


def add_decode_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``decode`` subcommand (its handler is ``run_decode``)."""
    p = sub.add_parser("decode", help="beam-search decode emission files with a decoding graph")
    p.add_argument("--graph", required=True, help="decoding graph, OpenFst AT&T text")
    p.add_argument("--isymbols", help="input (label) symbol table; fixes the label count")
    p.add_argument("--osymbols", help="output (word) symbol table")
    p.add_argument("--emissions", required=True, help=".npz (array per utterance id) or .npy")
    p.add_argument("--beam", type=float, default=16.0, help="energy beam (default 16)")
    p.add_argument("--max-active", type=int, default=10_000, help="tokens kept per frame")
    p.add_argument("--lattice-beam", type=float, help="lattice pruning beam (default: --beam)")
    p.add_argument("--nbest", type=int, default=0, help="distinct outputs per utterance")
    p.add_argument("--beta", type=float, default=1.0, help="inverse temperature of confidences")
    p.add_argument("--lattice-dir", help="write each utterance's lattice here")
    p.add_argument("--output", help="output file (default: standard output)")
    p.add_argument(
        "--format",
        choices=["jsonl", "text"],
        default="jsonl",
        help="JSON lines (default), or text: 'id word word ...' per line",
    )
    p.add_argument("--jobs", type=int, default=1, help="decode in this many processes")
    p.add_argument("--frame-shift", type=float, default=0.01, help="seconds per frame (for RTF)")
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


def _read_table(path: str | None, what: str) -> gtn.SymbolTable | None:
    if path is None:
        return None
    try:
        return gtn.io.read_symbols(path)
    except OSError as err:
        raise gtn.FormatError(path, None, f"cannot read the {what} ({err.strerror})") from None


class Decoder:
    """A job's graph and emissions, loaded once per process."""

    def __init__(self, job: Job):
        self.job = job
        isyms = _read_table(job.isymbols, "input symbol table")
        osyms = _read_table(job.osymbols, "output symbol table")
        try:
            graph = gtn.io.read_att(Path(job.graph), isyms, osyms, dtype=torch.float64)
        except OSError as err:
            msg = f"cannot read the graph ({err.strerror})"
            raise gtn.FormatError(job.graph, None, msg) from None
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
                    f"label {self.sg.num_labels - 1}"
                )

    def decode(self, uid: str) -> tuple[dict, int]:
        """(JSON record, frames) for one utterance."""
        where = f"{self.job.emissions}, utterance {uid}"
        e = check_emissions(self.emissions.load(uid), self.sg, where)
        j = self.job
        r = decode(
            e, self.sg, beam=j.beam, max_active=j.max_active, lattice_beam=j.lattice_beam,
            nbest=j.nbest, beta=j.beta, confidence=True, lattice=j.lattice_dir is not None,
        )  # fmt: skip
        if r.lattice is not None:
            gtn.write_att(r.lattice.graph, Path(j.lattice_dir) / f"{lattice_name(uid)}.txt")
        return record(uid, r, e.shape[0]), e.shape[0]

    def decode_many(self, uids: list[str]) -> list[tuple[dict, int]]:
        return [self.decode(uid) for uid in uids]


def lattice_name(uid: str) -> str:
    """A file name for an utterance id (path separators and the like percent-encoded)."""
    return quote(uid, safe="-_.@+=,")


def record(uid: str, r: DecodeResult, frames: int) -> dict:
    """The JSON line of one utterance (energies as numbers; "no path" gives nulls)."""
    if not r.found:
        return {"id": uid, "status": "no path", "text": None, "energy": None,
                "confidence": None, "frames": frames, "nbest": []}  # fmt: skip
    return {
        "id": uid,
        "status": "ok",
        "text": r.text,
        "energy": r.energy,
        "confidence": r.confidence,
        "frames": frames,
        "nbest": [{"text": h.text, "energy": h.energy, "posterior": h.posterior} for h in r.nbest],
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


def _work(uids: list[str]) -> list[tuple[dict, int]]:
    assert _WORKER is not None
    return _WORKER.decode_many(uids)


def _decode_all(decoder: Decoder, jobs: int, progress) -> list[tuple[dict, int]]:
    ids = decoder.emissions.ids
    if jobs <= 1 or len(ids) <= CHUNK:
        out = []
        for uid in ids:
            out.append(decoder.decode(uid))
            progress.update(1)
        return out
    chunks = [ids[k : k + CHUNK] for k in range(0, len(ids), CHUNK)]
    results: list[list | None] = [None] * len(chunks)
    # spawn: workers start clean instead of inheriting torch / numba thread pools by fork.
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        jobs,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(decoder.job, max(1, torch.get_num_threads() // jobs)),
    ) as pool:
        futures = {pool.submit(_work, chunk): k for k, chunk in enumerate(chunks)}
        try:
            for future in cf.as_completed(futures):
                k = futures[future]
                results[k] = future.result()
                progress.update(len(chunks[k]))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # don't decode the rest in vain
            raise
    return [line for chunk in results for line in chunk]


def run_decode(args: argparse.Namespace) -> int:
    """Decode every utterance, write the JSON lines, print a summary to stderr. Returns 0, or 1
    when no utterance had a path (each such line says "no path")."""
    from tqdm import tqdm

    if args.jobs < 1 or args.nbest < 0 or args.max_active < 1 or not args.beam > 0:
        raise gtn.GraphError("need --jobs >= 1, --nbest >= 0, --max-active >= 1, --beam > 0")
    job = Job(
        args.graph, args.isymbols, args.osymbols, args.emissions, args.beam, args.max_active,
        args.lattice_beam, args.nbest, args.beta, args.lattice_dir,
    )  # fmt: skip
    decoder = Decoder(job)
    decoder.check()
    if args.lattice_dir:
        Path(args.lattice_dir).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tqdm(total=len(decoder.emissions.ids), unit="utt", disable=None, file=sys.stderr) as bar:
        lines = _decode_all(decoder, args.jobs, bar)
    seconds = time.perf_counter() - started
    text = "".join(_format(line, args.format) + "\n" for line, _ in lines)
    if args.output:
        with atomic_write(args.output) as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    failed = [line["id"] for line, _ in lines if line["status"] != "ok"]
    for uid in failed:
        print(f"ebgtn decode: {args.emissions}, utterance {uid}: no path", file=sys.stderr)
    frames = sum(n for _, n in lines)
    audio = frames * args.frame_shift
    rtf = seconds / audio if audio > 0 else math.nan
    print(
        f"decoded {len(lines)} utterances ({len(failed)} without a path), {frames} frames "
        f"in {seconds:.2f} s: real-time factor {rtf:.4f} at {args.frame_shift:g} s per frame",
        file=sys.stderr,
    )
    return 1 if lines and len(failed) == len(lines) else 0
