"""Symbol tables: names for labels, so drawings, files and decoders show words, not integers.

Our labels are 0..V-1 with epsilon = -1. OpenFst reserves id 0 for epsilon, so a table written
in OpenFst form maps our label k to id k+1 and "<eps>" to 0 (see gtn.io)."""

from __future__ import annotations

from collections.abc import Iterable

from .graph import EPSILON, GraphError

EPSILON_SYMBOL = "<eps>"


class SymbolTable:
    """A bijection between labels (0..V-1, plus EPSILON) and names.

    >>> t = SymbolTable(["a", "b"])
    >>> t.id("b"), t.name(0), t.name(-1)
    (1, 'a', '<eps>')
    """

    def __init__(self, names: Iterable[str] = (), epsilon: str = EPSILON_SYMBOL):
        self.epsilon = epsilon
        self._names: dict[int, str] = {}
        self._ids: dict[str, int] = {epsilon: EPSILON}
        for name in names:
            self.add(name)

    def add(self, name: str, label: int | None = None) -> int:
        """Add ``name`` (at ``label``, or the next free label); returns its label."""
        if name in self._ids:
            existing = self._ids[name]
            if label is not None and label != existing:
                raise GraphError(f"symbol {name!r} already has label {existing}, not {label}")
            return existing
        if label is None:
            label = (max(self._names) + 1) if self._names else 0
        if label < 0:
            raise GraphError(f"symbol {name!r}: label {label} is negative")
        if label in self._names:
            raise GraphError(f"label {label} already names {self._names[label]!r}, not {name!r}")
        self._names[label] = name
        self._ids[name] = label
        return label

    def id(self, name: str) -> int:
        try:
            return self._ids[name]
        except KeyError:
            raise GraphError(f"symbol {name!r} is not in the symbol table") from None

    def name(self, label: int) -> str:
        if label == EPSILON:
            return self.epsilon
        try:
            return self._names[int(label)]
        except KeyError:
            return str(int(label))

    def __contains__(self, name: str) -> bool:
        return name in self._ids

    def __len__(self) -> int:
        return len(self._names)

    def items(self) -> list[tuple[str, int]]:
        """(name, label) pairs in label order, epsilon excluded."""
        return [(self._names[k], k) for k in sorted(self._names)]

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, SymbolTable)
            and self.items() == other.items()
            and self.epsilon == other.epsilon
        )

    def __repr__(self) -> str:
        head = ", ".join(f"{n}={k}" for n, k in self.items()[:6])
        return f"SymbolTable({len(self)} symbols: {head}{', ...' if len(self) > 6 else ''})"
