"""Python code run in a fresh interpreter from the repository root: for tests of import-time
behaviour, and for anything that could allocate gigabytes (run under ``RLIMIT_AS``, so that a
regression fails the test instead of the machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: float = 300, **options) -> subprocess.CompletedProcess:
    """``python -c code`` in ROOT, its text output captured. ``options`` go to
    ``subprocess.run``: ``env`` replaces the environment, ``preexec_fn`` runs in the child
    first (e.g. to set a resource limit)."""
    settings = {"capture_output": True, "text": True, "cwd": ROOT, "timeout": timeout}
    return subprocess.run([sys.executable, "-c", code], **settings, **options)
