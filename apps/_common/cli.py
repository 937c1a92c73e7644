"""The apps' command lines share their shape: ``ebgtn <app> <subcommand>``, a ``demo`` and a
``train`` subcommand that run the app's experiment with a configuration built from the
options, and ``python -m apps.<app>`` for the same commands. Bad input is handled by
:mod:`.guard`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from functools import partial
from typing import Any

from .guard import ArgumentParser, add_debug_flag, run_guarded
from .memory import keep_freed_memory

__all__ = ["add_app_parser", "add_options", "add_run_parsers", "config_from_args", "run_app"]


def add_app_parser(sub, command: str, help: str, description: str):
    """(parser, its subcommands) of an app registered as ``command`` on the subparsers
    ``sub`` of ``ebgtn``; ``description`` (the CLI module's docstring) is shown verbatim."""
    parser = sub.add_parser(
        command,
        prog=getattr(sub, "app_prog", None),  # set by run_app: usage shows `python -m apps.<app>`
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser, parser.add_subparsers(dest="command_name", required=True)


def run_app(
    add_parser: Callable[[argparse._SubParsersAction], argparse.ArgumentParser],
    command: str,
    argv: Sequence[str] | None = None,
) -> int:
    """``python -m apps.<app>``: the app's ``add_parser`` (from ``apps.<app>.cli``) under its
    ``command`` (e.g. ``"check-reading"``), guarded like ``ebgtn``: bad input is one line and
    exit status 2."""
    parser = ArgumentParser(prog=f"python -m {add_parser.__module__.rsplit('.', 1)[0]}")
    add_debug_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.app_prog = parser.prog
    add_parser(sub)
    return run_guarded(parser, [command, *(sys.argv[1:] if argv is None else argv)])


def add_run_parsers(
    jobs,
    runs: Sequence[tuple[str, str, str]],
    run: Callable[[argparse.Namespace], int],
    base: Callable[[str], Any],
) -> list[argparse.ArgumentParser]:
    """One subcommand per (name, help, default output folder) of ``runs`` (``demo``,
    ``train``), each with ``--out`` and calling ``run`` after :func:`.memory.keep_freed_memory`
    (these are the long training runs); returns them for the app's options. ``base(name)`` is
    the configuration the options change, whose fields ``--help`` shows as their defaults."""

    def run_training(args: argparse.Namespace) -> int:
        keep_freed_memory()
        return run(args)

    parsers = []
    for name, helptext, out in runs:
        q = jobs.add_parser(name, help=helptext)
        q.add_argument("--out", default=out, help="folder for checkpoints, results, figures")
        q.set_defaults(run=run_training)
        q.help_defaults = partial(base, name)
        parsers.append(q)
    return parsers


def add_options(parser: argparse.ArgumentParser, options: Sequence[tuple]) -> None:
    """One option per (flag, type, help[, more ``add_argument`` keywords]) of ``options``:
    type ``bool`` is a switch (None when not given, so that it leaves a configuration as it
    is), ``str`` a text, None when the keywords give an ``action``; ``help`` may be None."""
    for flag, kind, helptext, *more in options:
        if kind is bool:
            keywords = {"action": "store_true", "default": None}
        else:
            keywords = {} if kind is None else {"type": kind}
        keywords.update(*more)
        parser.add_argument(flag, help=helptext, **keywords)


def config_from_args(args: argparse.Namespace, base: Any, lists: Sequence[str] = ()) -> Any:
    """The dataclass ``base`` with each field the option of that name gave (left as it is when
    the option was not given), and each of ``lists`` split at commas."""
    names = [f.name for f in fields(base)]
    changes = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    changes |= {k: tuple(getattr(args, k).split(",")) for k in lists if getattr(args, k, None)}
    return replace(base, **changes)
