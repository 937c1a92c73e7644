"""A writable place for numba's on-disk kernel cache, chosen before any kernel is defined.

numba caches compiled kernels in the ``__pycache__`` folder beside their source. Where the
package is installed read-only (a system site-packages, a container image) that fails, every
process would compile every kernel again, and where no fallback is writable either, defining a
cached kernel raises at import. So when the user has not set ``NUMBA_CACHE_DIR`` and the
package's ``__pycache__`` is not writable, numba is pointed at a per-user folder:
``$XDG_CACHE_HOME/ebgtn/numba`` (default ``~/.cache/ebgtn/numba``), else a folder in the
temporary directory. Importing this module applies it; ``gtn/__init__`` imports it first.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # gtn/


def writable(folder: Path) -> bool:
    """True if ``folder`` exists or can be made, and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def user_cache_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Where a per-user numba cache may go, most preferred first."""
    out = []
    base = environ.get("XDG_CACHE_HOME")
    home = environ.get("HOME")
    if base:
        out.append(Path(base) / "ebgtn" / "numba")
    elif home:
        out.append(Path(home) / ".cache" / "ebgtn" / "numba")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(Path(tempfile.gettempdir()) / f"ebgtn-numba-{uid}")
    return out


def choose(package_dir: Path, environ: Mapping[str, str]) -> Path | None:
    """The folder numba should cache in, or None to leave numba's own choice (the user set
    NUMBA_CACHE_DIR, or the package's ``__pycache__`` is writable)."""
    if environ.get("NUMBA_CACHE_DIR") or writable(package_dir / "__pycache__"):
        return None
    for folder in user_cache_dirs(environ):
        if writable(folder):
            return folder
    return None


def configure() -> Path | None:
    """Apply :func:`choose` to this process (and the processes it starts); returns the folder
    set, or None."""
    folder = choose(PACKAGE_DIR, os.environ)
    if folder is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        config = sys.modules.get("numba.core.config")
        if config is not None:  # numba read the environment when it was imported
            config.CACHE_DIR = str(folder)
    return folder


configure()
