"""Hypothesis-generated emission archives, WAV files and PNG headers thrown at the loaders,
each target in a subprocess whose address space is capped at 1 GiB above what it has mapped
after its imports: a tiny file that asks for gigabytes fails the test, not the machine. Every
file must be read or refused with ValueError / OSError (see _fuzz_targets.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {"ci": 60, "thorough": 600}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 60)


@pytest.mark.parametrize("target", ["emissions", "wavs", "images"])
def test_loaders_refuse_hostile_files_cleanly_under_a_memory_cap(target):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostile._fuzz_targets", target, str(EXAMPLES)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "all clean" in done.stdout
