"""The apps' results: markdown tables, the results files of an experiment, and the list of
what a run wrote. Every app reports the same way, so results pages can quote any of them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from gtn.utils import atomic_write

__all__ = ["markdown_table", "print_written", "write_results"]


def markdown_table(head: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A markdown table: ``head`` names the columns; each row gives one cell per column (cells
    are formatted by the caller). The first column (names) is left-aligned, the rest right.

    >>> print(markdown_table(["system", "WER"], [["mmi", "1.0%"]]))
    | system | WER |
    |---|---:|
    | mmi | 1.0% |
    """
    rule = "|" + "".join("---|" if k == 0 else "---:|" for k in range(len(head)))
    return "\n".join([_line(head), rule, *(_line(row) for row in rows)])


def _line(cells: Sequence) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def write_results(
    out: str | os.PathLike, text: str, record: dict, name: str = "results"
) -> list[Path]:
    """Write ``out/<name>.md`` (the tables, for people) and ``out/<name>.json`` (``record``,
    for scripts), atomically; returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    with atomic_write(md) as f:
        f.write(text.rstrip("\n") + "\n")
    with atomic_write(js) as f:
        json.dump(record, f, indent=1)
    return [md, js]


def print_written(
    say: Callable[[str], object], out: Path, written: Sequence[Path], seconds: float
) -> None:
    """Tell the user how long the run took and which files it wrote to ``out``."""
    say(f"done in {seconds:.0f}s; wrote to {out}/:")
    for p in written:
        say(f"  {p.name}")
