"""The error for text or files that are not in the expected format (shared by gtn's readers)."""

from __future__ import annotations

from ..graph import GraphError


class FormatError(GraphError):
    """Text or a file that is not in the expected format.

    Attributes:
        source: the file path, or ``"<text>"`` for text given directly.
        line: 1-based line number, or None when the problem is not on one line.
        problem: what is wrong.
    """

    def __init__(self, source: str, line: int | None, problem: str):
        self.source, self.line, self.problem = source, line, problem
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {problem}")
