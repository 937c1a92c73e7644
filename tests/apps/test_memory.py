"""keep_freed_memory: large blocks come back from malloc's heap without page faults, nothing
changes off glibc, and the apps' demo and train commands set it."""

import argparse
import platform
import subprocess
import sys

import pytest

from apps._common import cli, memory

# Allocates, touches and frees a 64 MB tensor ten times after a first one, and prints the
# page faults of those ten (the first one only grows the heap).
_FAULTS = """
import resource, sys
import torch
from apps._common.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.ones(16_000_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(16_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(run.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_large_blocks_are_reused_without_page_faults():
    default, kept = _faults("default"), _faults("keep")
    assert default > 10 * 15_000  # 64 MB is 15,625 pages of 4 KB, faulted in again each time
    assert kept < default / 5  # the heap grows once or twice, then serves every block


def test_off_glibc_nothing_is_called(monkeypatch):
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))

    def no_library(*args):
        raise AssertionError("the C library was opened")

    monkeypatch.setattr(memory.ctypes, "CDLL", no_library)
    assert memory.keep_freed_memory() is False


def test_demo_and_train_commands_keep_freed_memory_before_they_run(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("memory"))
    jobs = argparse.ArgumentParser().add_subparsers(dest="job")
    parsers = cli.add_run_parsers(
        jobs,
        [("demo", "", "out/demo"), ("train", "", "out/train")],
        lambda a: calls.append(a.out),
        base=lambda name: None,
    )
    assert len(parsers) == 2
    for name in ("demo", "train"):
        args = jobs._name_parser_map[name].parse_args([])
        args.run(args)
    assert calls == ["memory", "out/demo", "memory", "out/train"]
