"""One error guard for every command line: bad input is one line on stderr and exit status 2.

A user who passes a missing file, a corrupt archive or an out-of-range option gets one line
naming the problem and the file or argument, never a traceback. Tracebacks are kept for bugs,
and for everything when ``--debug`` is given (anywhere on the command line) or the environment
variable ``EBGTN_DEBUG`` is set to anything but ``""`` or ``0``.

What counts as bad input: ``gtn.GtnError`` (graph and file-format errors, a missing or failing
Graphviz), ``ValueError`` (the apps' checkpoint errors and every validation error derive from
it), ``TypeError`` raised by validation, ``OSError`` (missing, unreadable or unwritable files;
Pillow's ``UnidentifiedImageError``), the errors of a truncated or foreign archive
(``zipfile``, ``EOFError``; checkpoints are read by ``factors.checkpoint``, which turns every
failure of ``torch.load(weights_only=True)`` into a ``CheckpointError``), and a missing speech
synthesiser. A third-party module that is not installed (an extra left out) is one line too,
naming the module and the install command.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Callable, Sequence

import gtn

DEBUG_FLAG = "--debug"
DEBUG_ENV = "EBGTN_DEBUG"
BAD_INPUT_STATUS = 2

_ALWAYS: tuple[type[BaseException], ...] = (
    gtn.GtnError,  # GraphError, FormatError, GraphvizError (a missing or failing `dot`)
    ValueError,
    TypeError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
)
# Errors of optional programs, looked up only in modules already imported (an error class of
# a module never imported cannot have been raised).
_OPTIONAL = (("apps.speech.synth", "SynthesizerMissing"),)


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """The exception types reported as one line instead of a traceback."""
    extra = []
    for module, name in _OPTIONAL:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            extra.append(cls)
    return _ALWAYS + tuple(extra)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with one-line argument errors (``prog: problem``, exit status 2)
    instead of the usage block; subcommand parsers inherit the class.

    ``help_defaults``, when set, returns the configuration (a dataclass) whose fields are the
    defaults of the options of the same names (those without a default of their own): ``--help``
    shows them. It is called only for help, because an app's configuration imports the whole
    app."""

    help_defaults: Callable[[], object] | None = None

    def error(self, message: str):
        self.exit(BAD_INPUT_STATUS, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def format_help(self) -> str:
        if self.help_defaults is not None:
            config = self.help_defaults()
            for action in self._actions:
                value = getattr(config, action.dest, None)
                said = "default" in (action.help or "")
                if action.default is not None or value in (None, False) or said:
                    continue  # argparse's own default wins, or nothing worth showing
                if isinstance(value, tuple):
                    value = ",".join(map(str, value))
                action.help = f"{action.help or ''} (default: {value})".lstrip()
            self.help_defaults = None  # once: the helps now hold them
        return super().format_help()


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Document ``--debug`` on a top-level parser (the guard reads it anywhere in argv)."""
    parser.add_argument(
        DEBUG_FLAG,
        action="store_true",
        help=f"show Python tracebacks for every error (also: {DEBUG_ENV}=1)",
    )


def split_debug(argv: Sequence[str] | None) -> tuple[bool, list[str]]:
    """(debug requested, argv without ``--debug``); arguments after ``--`` are left alone."""
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:end] if a != DEBUG_FLAG]
    flag = len(head) != end
    env = os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    return flag or env, head + argv[end:]


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line, with the file of an ``OSError``."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = str(err)
    words = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return words or type(err).__name__


# A module missing at run time is an extra left out of the install, unless it is one of ours.
PROJECT_PACKAGES = ("apps", "gtn", "factors", "decoders")
APPS_EXTRA = "pip install 'ebgtn[apps]'"


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """The one line for a third-party module that is not installed; None for one of ours (a
    bug, whose traceback is kept)."""
    if err.name is None or err.name.split(".")[0] in PROJECT_PACKAGES:
        return None
    return f"needs the module {err.name.split('.')[0]!r}, part of the apps extra: {APPS_EXTRA}"


def command_words(args: argparse.Namespace) -> list[str]:
    """The subcommand path of parsed arguments, e.g. ``["speech", "decode"]``."""
    return [w for w in (getattr(args, "command", None), getattr(args, "command_name", None)) if w]


def run_guarded(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    prog: str | None = None,
) -> int:
    """Parse ``argv``, run ``args.run(args)`` and return its exit status; bad input (see the
    module docstring) prints ``"<prog> <command>: <problem>"`` on stderr and returns 2.

    Argument errors exit with status 2 from argparse (one line with :class:`ArgumentParser`)."""
    debug, argv = split_debug(argv)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    if debug:
        return run(args)
    try:
        return run(args)
    except bad_input_errors() as err:
        problem = one_line(err)
    except ModuleNotFoundError as err:
        problem = missing_extra(err)
        if problem is None:
            raise
    words = ([prog] if prog else []) + command_words(args)
    prefix = " ".join(words) or parser.prog
    print(f"{prefix}: {problem}", file=sys.stderr)
    return BAD_INPUT_STATUS
