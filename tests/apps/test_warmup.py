"""ebgtn warmup: compiles kernels in worker processes and reports each task."""

import io

from apps import warmup
from apps.cli import build_parser


def test_warmup_runs_its_tasks_in_worker_processes_and_reports_each():
    out = io.StringIO()
    assert warmup.run(jobs=1, names=["structure"], stream=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("warmup 1/1: structure ")
    assert lines[-1].startswith("warmup: compiled in")


def test_a_failing_task_makes_warmup_fail_and_is_named():
    out = io.StringIO()
    assert warmup.run(jobs=1, names=["no such task"], stream=out) == 1
    assert "no such task FAILED" in out.getvalue()


def test_warmup_is_an_ebgtn_subcommand():
    args = build_parser().parse_args(["warmup", "--jobs", "2"])
    assert args.command == "warmup" and args.jobs == 2
