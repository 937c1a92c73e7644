"""``ebgtn decode --jobs J`` splits the parent's thread budget among its J worker processes."""

from __future__ import annotations

import pytest
import torch

import decoders.cli
from apps.cli import main

from .test_cli import _args, files  # noqa: F401 (a fixture)


class _Started(Exception):
    pass


def test_decode_workers_split_the_thread_budget(files, monkeypatch):  # noqa: F811
    seen = {}

    def pool(jobs, mp_context, initializer, initargs):
        seen["jobs"], seen["threads"] = jobs, initargs[-1]
        initializer(*initargs)  # what each worker runs first, here in this process
        seen["worker torch threads"] = torch.get_num_threads()
        raise _Started

    threads = torch.get_num_threads()
    monkeypatch.setattr(decoders.cli.cf, "ProcessPoolExecutor", pool)
    try:
        torch.set_num_threads(4)
        with pytest.raises(_Started):
            main(_args(files, "--jobs", "3"))
    finally:
        torch.set_num_threads(threads)
    assert seen == {"jobs": 3, "threads": 1, "worker torch threads": 1}
