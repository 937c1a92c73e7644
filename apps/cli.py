"""The ``ebgtn`` command: one entry point, a subcommand per job.

ebgtn tour                      walk through the graph algebra, writing files to out/tour
ebgtn info G.txt                describe a graph file (OpenFst AT&T text)
ebgtn draw G.txt -o G.svg       draw a graph file with its symbol tables
ebgtn warmup                    compile the common numba kernels now, in parallel processes

Bad input (a missing or malformed file, an out-of-range option) is reported as one line on
stderr with exit status 2; ``--debug`` or ``EBGTN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from functools import partial
from pathlib import Path

import gtn

from ._common.guard import APPS_EXTRA, ArgumentParser, add_debug_flag, missing_extra, run_guarded


def _read_graph(args) -> gtn.Graph:
    isyms = gtn.io.read_symbols(args.isymbols) if args.isymbols else None
    osyms = gtn.io.read_symbols(args.osymbols) if args.osymbols else None
    return gtn.io.read_att(Path(args.graph), isymbols=isyms, osymbols=osyms)


def _add_graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="graph in OpenFst AT&T text format")
    p.add_argument("--isymbols", help="input symbol table (OpenFst text: 'name id' lines)")
    p.add_argument("--osymbols", help="output symbol table")


def _info(args) -> int:
    g = _read_graph(args)
    acyclic = gtn.is_acyclic(g)
    print(f"file        {args.graph}")
    print(f"kind        {'acceptor' if g.is_acceptor() else 'transducer'}")
    print(f"states      {g.num_nodes}")
    print(f"arcs        {g.num_arcs}")
    eps = int(((g.ilabel == gtn.EPSILON) & (g.olabel == gtn.EPSILON)).sum())
    print(f"epsilons    {eps}")
    print(f"start       {g.start_nodes.tolist()}")
    print(f"final       {len(g.final_nodes)} states")
    print(f"acyclic     {acyclic}")
    if acyclic:
        print(f"min energy  {gtn.min_energy(g).item():.6g}")
        print(f"free energy {gtn.free_energy(g).item():.6g}")
    return 0


def _draw(args) -> int:
    g = _read_graph(args)
    gtn.draw(g, args.output)  # an unknown extension is a ValueError: one line, from main
    print(f"wrote {args.output}")
    return 0


def _tour(args) -> int:
    from . import tour

    tour.run(Path(args.out), args.seed)
    return 0


def _warmup(args) -> int:
    from . import warmup

    return warmup.run(args.jobs)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="ebgtn", description="Energy-based graph transformer networks.")
    add_debug_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tour", help="walk through the graph algebra on a tiny recogniser")
    p.add_argument("--out", default="out/tour", help="folder for the files it writes")
    p.add_argument("--seed", type=int, default=0, help="seed of the tiny model's weights and data")
    p.set_defaults(run=_tour)

    p = sub.add_parser("info", help="describe a graph file")
    _add_graph_args(p)
    p.set_defaults(run=_info)

    p = sub.add_parser(
        "draw",
        help="draw a graph file (.dot text always; .svg, .png, .pdf need Graphviz's dot)",
    )
    _add_graph_args(p)
    p.add_argument("-o", "--output", required=True, help="output file; its suffix picks the format")
    p.set_defaults(run=_draw)

    p = sub.add_parser("warmup", help="compile the common numba kernels ahead of first use")
    p.add_argument("--jobs", type=int, help="processes (default: one per core)")
    p.set_defaults(run=_warmup)

    from decoders.cli import add_decode_parser

    add_decode_parser(sub)
    for command, package in APPS:
        _add_app(sub, command, package)
    return parser


# The applications (command, package), registered even when the `apps` extra is missing, so
# that the core commands above work on a plain `pip install ebgtn` and an app's command says
# what to install instead of failing at import.
APPS = (("check-reading", "check_reading"), ("speech", "speech"), ("segment", "segmentation"))


def _add_app(sub, command: str, package: str) -> None:
    try:
        cli = importlib.import_module(f"apps.{package}.cli")
    except ModuleNotFoundError as err:
        if missing_extra(err) is None:
            raise
        p = sub.add_parser(command, help=f"(needs the apps extra: {APPS_EXTRA})", add_help=False)
        p.add_argument("-h", "--help", action="store_true")  # answered by the line below
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(run=partial(_raise, err))
        return
    cli.add_parser(sub)


def _raise(err: BaseException, args: argparse.Namespace) -> int:
    raise err


def main(argv: list[str] | None = None) -> int:
    """Run ``ebgtn``; bad input is one line on stderr and exit status 2 (see apps._common.guard)."""
    return run_guarded(build_parser(), argv, prog="ebgtn")


if __name__ == "__main__":
    sys.exit(main())
