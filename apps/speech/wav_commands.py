"""Running the commands of ``wav.scp`` lines (``<recording-id> <command ...> |``), whose
standard output is a WAV file. They are code taken from a data file: :mod:`.kaldi` refuses
them unless the user opts in; allowed, a command runs without a shell when it has no shell
syntax, with no standard input, a time limit and a limit on its output, in its own process
group so that a pipeline is killed whole."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading

COMMAND_TIMEOUT = 60.0  # seconds a wav.scp command may run
# A command's output is held in memory before it is read as a WAV file.
MAX_COMMAND_BYTES = 1 << 28
_SHELL_SYNTAX = set("$`*?[]{}~")  # expansions: such a command goes to /bin/sh as written
_OPERATORS = set("();<>|&")


def command_argv(command: str) -> list[str] | None:
    """The argument vector of a ``wav.scp`` command that needs no shell (one program, no
    operators, no expansions), or None when only ``/bin/sh -c`` can run it as written.

    >>> command_argv("sph2pipe -f wav -p -c 1 'a b.sph'")
    ['sph2pipe', '-f', 'wav', '-p', '-c', '1', 'a b.sph']
    >>> command_argv("gunzip -c a.wav.gz | sox -t wav - -r 16000 -t wav -") is None
    True
    """
    if _SHELL_SYNTAX & set(command):
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: let the shell report it
        return None
    if not tokens or any(set(t) <= _OPERATORS for t in tokens):
        return None
    return tokens


def run_wav_command(
    command: str,
    where: str,
    timeout: float = COMMAND_TIMEOUT,
    max_bytes: int = MAX_COMMAND_BYTES,
) -> bytes:
    """The standard output of a ``wav.scp`` command (without its final ``|``), run without a
    shell where :func:`command_argv` allows, with no standard input, killed (with its process
    group) after ``timeout`` seconds or ``max_bytes`` of output. ValueError naming ``where``
    when it cannot start, fails, runs too long or writes too much."""
    argv = command_argv(command)
    try:
        proc = subprocess.Popen(
            argv if argv is not None else ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a pipeline is killed whole
        )
    except OSError as err:
        raise ValueError(f"{where}: cannot run {quoted(command)}: {err.strerror}") from None
    out, err = bytearray(), bytearray()
    too_much = threading.Event()

    def pump(stream, buffer: bytearray, limit: int | None) -> None:
        while chunk := stream.read1(1 << 16):
            if limit is not None and len(buffer) + len(chunk) > limit:
                too_much.set()
                _kill(proc)
                return
            buffer += chunk
            if limit is None and len(buffer) > 4096:
                del buffer[:-4096]  # keep the end of standard error for the message

    readers = [
        threading.Thread(target=pump, args=(proc.stdout, out, max_bytes), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err, None), daemon=True),
    ]
    for r in readers:
        r.start()
    try:
        status = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.wait()
        raise ValueError(
            f"{where}: the command did not finish in {timeout:g} s ({quoted(command)})"
        ) from None
    finally:
        for r in readers:
            r.join(5)
        proc.stdout.close()
        proc.stderr.close()
    if too_much.is_set():
        raise ValueError(f"{where}: the command wrote more than {max_bytes} bytes; cut it shorter")
    if status != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()
        said = f": {last[-1]}" if last else ""
        raise ValueError(f"{where}: the command exited with status {status}{said}")
    return bytes(out)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def quoted(text: str, limit: int = 60) -> str:
    """``text`` as a repr for an error message, cut to ``limit`` characters with "..."."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
