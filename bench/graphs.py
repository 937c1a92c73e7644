"""Graph-algebra benchmarks: ours vs OpenFst (kaldifst), same process, same inputs.

    .venv/bin/python bench/graphs.py

Prints medians after warm-up and the ratio ours/OpenFst (lower is better for us). Machines are
noisy: compare ratios, not absolute times."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import graphs_compose  # noqa: E402
import graphs_scoring  # noqa: E402


def main() -> None:
    print("== compose ==")
    graphs_compose.run()
    print()
    print("== scoring ==")
    graphs_scoring.run()


if __name__ == "__main__":
    main()
