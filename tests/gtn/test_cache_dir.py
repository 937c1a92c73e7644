"""numba's kernel cache goes to a writable folder even when the package is installed read-only."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import gtn
from gtn._internal import cache_dir as _cache_dir

# Compiles the smallest cached kernel, then reports where numba was told to cache.
PROBE = """
import numpy as np, numba, gtn
from gtn._internal.csr import csr
csr(2, np.array([0, 1], np.int32), np.ones(2, np.bool_))
print(gtn.__file__)
print(numba.config.CACHE_DIR)
"""


def _read_only_copy(tmp_path: Path) -> Path:
    """A copy of the gtn package that cannot be written to, even by root: its files and folders
    lose their write bits, and each ``__pycache__`` is a plain file, so no folder can be made
    there (root ignores permission bits but not that)."""
    root = tmp_path / "site"
    shutil.copytree(
        Path(gtn.__file__).parent, root / "gtn", ignore=shutil.ignore_patterns("__pycache__")
    )
    for folder, _, files in os.walk(root, topdown=False):
        (Path(folder) / "__pycache__").write_text("")
        for name in [*files, "__pycache__"]:
            (Path(folder) / name).chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        Path(folder).chmod(stat.S_IRUSR | stat.S_IXUSR)
    return root


def _run_probe(site: Path, home: Path, **env: str) -> str:
    """The cache folder numba used in a fresh process importing gtn from ``site``."""
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    clean.update(PYTHONPATH=str(site), HOME=str(home), **env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean,
        cwd=home.parent,  # not the checkout: `-c` puts the working folder first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    imported, cache = out.stdout.strip().splitlines()
    assert Path(imported).is_relative_to(site)
    return cache


def _writable_again(root: Path) -> None:
    for folder, _, _ in os.walk(root):
        Path(folder).chmod(stat.S_IRWXU)


def test_a_read_only_package_caches_kernels_in_the_users_cache_folder(tmp_path):
    site, home = _read_only_copy(tmp_path), tmp_path / "home"
    try:
        reported = _run_probe(site, home)
    finally:
        _writable_again(site)
    expected = home / ".cache" / "ebgtn" / "numba"
    assert reported == str(expected)
    assert any(p.suffix == ".nbi" for p in expected.rglob("*")), "no kernel was cached there"


def test_a_cache_folder_the_user_chose_is_kept(tmp_path):
    site, home = _read_only_copy(tmp_path), tmp_path / "home"
    mine = tmp_path / "mine"
    try:
        reported = _run_probe(site, home, NUMBA_CACHE_DIR=str(mine))
    finally:
        _writable_again(site)
    assert reported == str(mine)
    assert not (home / ".cache").exists()


def test_a_writable_package_keeps_numbas_in_tree_cache(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    assert _cache_dir.choose(package, {"HOME": str(tmp_path / "home")}) is None


def test_without_a_writable_home_the_temporary_folder_is_used(tmp_path):
    package, blocked = tmp_path / "pkg", tmp_path / "file"
    package.mkdir()
    (package / "__pycache__").write_text("")  # not a folder: unwritable even for root
    blocked.write_text("")
    chosen = _cache_dir.choose(package, {"HOME": str(blocked)})  # HOME/.cache cannot be made
    assert chosen is not None and chosen.parent == Path(_cache_dir.tempfile.gettempdir())
