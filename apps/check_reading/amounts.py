"""Courtesy amounts: the alphabet, a realistic distribution of amount strings, and the amount
grammar as a ``gtn`` acceptor.

Labels: the 14 characters of ``ALPHABET`` are labels 0..13; the recogniser's extra rubbish
class (``RUBBISH`` = 14) never appears in an answer. The grammar's arcs all have energy 0, so
composing with it removes ill-formed readings without favouring any well-formed one.

Grammar (at most six integer digits):
    amount   = ["$"] ["*" | "**" | "***"] integer ["." digit digit]
    integer  = "0" | nonzero digit{0..5} | nonzero digit{0..2} "," digit digit digit
"""

from __future__ import annotations

import re

import numpy as np

import gtn

ALPHABET = "0123456789$,.*"
RUBBISH = len(ALPHABET)
NUM_CLASSES = len(ALPHABET) + 1  # recogniser outputs: the characters plus rubbish
SYMBOLS = gtn.SymbolTable(list(ALPHABET))

_AMOUNT = re.compile(r"^\$?\*{0,3}(0|[1-9][0-9]{0,5}|[1-9][0-9]{0,2},[0-9]{3})(\.[0-9]{2})?$")


def encode(text: str) -> list[int]:
    """Labels of an amount string; ValueError for a character outside the alphabet."""
    bad = [c for c in text if c not in ALPHABET]
    if bad:
        raise ValueError(f"{text!r}: character {bad[0]!r} is not in the alphabet {ALPHABET!r}")
    return [ALPHABET.index(c) for c in text]


def decode(labels) -> str:
    return "".join(ALPHABET[int(k)] for k in labels)


def is_valid_amount(text: str) -> bool:
    """True when ``text`` is in the amount grammar (the same language as :func:`grammar`)."""
    return _AMOUNT.match(text) is not None


def sample_amount(rng: np.random.Generator) -> str:
    """One amount string. Values are roughly log-uniform between $1 and $999,999 with most
    mass on 2-3 integer digits, as on personal and business checks; "$" appears half the time,
    a "*" fill 15%, cents 70% (".00" a third of those), a thousands comma 70% of the time it
    can appear."""
    digits = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.12, 0.28, 0.30, 0.18, 0.08, 0.04]))
    lead = str(rng.integers(1, 10)) if digits > 1 else str(rng.integers(0, 10))
    integer = lead + "".join(str(d) for d in rng.integers(0, 10, digits - 1))
    if digits >= 4 and rng.random() < 0.7:
        integer = integer[:-3] + "," + integer[-3:]
    cents = ""
    if rng.random() < 0.7:
        cents = ".00" if rng.random() < 1 / 3 else f".{int(rng.integers(0, 100)):02d}"
    stars = "*" * int(rng.integers(1, 4)) if rng.random() < 0.15 else ""
    dollar = "$" if rng.random() < 0.5 else ""
    return dollar + stars + integer + cents


def grammar() -> gtn.Graph:
    """The amount grammar as a deterministic acceptor over labels 0..13 (energies 0). States: S
    the start, D after "$", *k after k stars, Z the integer "0", Ik k integer digits (no comma),
    Ak k digits after the comma, P after the point, Ck k cents digits."""
    b = gtn.GraphBuilder(isymbols=SYMBOLS)
    integer = [f"I{k}" for k in range(1, 7)]
    names = ["S", "D", "*1", "*2", "*3", "Z", *integer, "A0", "A1", "A2", "A3", "P", "C1", "C2"]
    finals = {"Z", *integer, "A3", "C2"}
    state = {name: b.add_node(start=name == "S", final=name in finals) for name in names}

    def arcs(src: str, chars: str, dst: str) -> None:
        for c in chars:
            b.add_arc(state[src], state[dst], c)

    nonzero, digit = "123456789", "0123456789"
    arcs("S", "$", "D")
    for src in ("S", "D", "*1", "*2", "*3"):
        arcs(src, "0", "Z")
        arcs(src, nonzero, "I1")
    for src, dst in (("S", "*1"), ("D", "*1"), ("*1", "*2"), ("*2", "*3")):
        arcs(src, "*", dst)
    for k in range(1, 6):
        arcs(f"I{k}", digit, f"I{k + 1}")
    for k in (1, 2, 3):
        arcs(f"I{k}", ",", "A0")
    for k in (0, 1, 2):
        arcs(f"A{k}", digit, f"A{k + 1}")
    for src in ("Z", "I1", "I2", "I3", "I4", "I5", "I6", "A3"):
        arcs(src, ".", "P")
    arcs("P", digit, "C1")
    arcs("C1", digit, "C2")
    return b.build()
