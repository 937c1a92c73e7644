"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Write to a temporary file in the same directory, flush and fsync it, then ``os.replace`` it over
the target (atomic on POSIX and Windows when both are on the same filesystem). On any error the
temporary file is removed and the target is left untouched.

A process killed mid-write (SIGKILL, power loss) cannot clean up, so the temporary file is named
``.<name>.<pid>-<random>.tmp``: :func:`remove_stale_temporaries` recognises the ones whose writer
is no longer running and removes them.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on clean exit it replaces ``path``.

    Args:
        path: the file to (re)write.
        mode: ``"w"`` (text, ``encoding``) or ``"wb"`` (bytes).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(p) as f:
    ...     _ = f.write("hello")
    >>> p.read_text()
    'hello'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    shown = os.fspath(path)  # what errors name: the user's path, never the temporary file
    target = os.path.abspath(shown)
    directory, name = os.path.split(target)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file to write", shown)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "no such directory to write into", shown)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
    try:
        # 0o666 lets the process umask decide permissions, as for an ordinary open(path, "w").
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666)
    except OSError as e:
        raise _naming(e, tmp, shown) from None
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(target):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and tmp in (e.filename, e.filename2):
            raise _naming(e, tmp, shown) from None
        raise
    _fsync_directory(directory)


def _naming(err: OSError, tmp: str, shown: str) -> OSError:
    """``err`` about the temporary file, told of the user's path instead (the temporary name
    means nothing to them); the same class, errno and reason."""
    if err.errno is None or tmp not in (err.filename, err.filename2):
        return err
    return type(err)(err.errno, err.strerror, shown)


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files that killed writers of ``path`` left beside it.

    A temporary file is stale when the process named in it is no longer running (or it has the
    older name ``.<name>.<random>.tmp``, which carries no process id). Files of running writers
    are kept. Returns the removed paths.
    """
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(\d+)-)?[0-9a-f]{{12}}\.tmp")
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None or (match.group(1) and _running(int(match.group(1)))):
            continue
        try:
            os.unlink(os.path.join(directory, entry))
            removed.append(os.path.join(directory, entry))
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":
        # Our own write may be in progress in another thread; on Windows os.kill(pid, 0)
        # would terminate the process rather than probe it.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but belongs to someone else, or cannot be checked: keep it
    return True


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
