"""Courtesy amounts: the alphabet, a realistic distribution of amount strings, and the amount
grammar as a ``gtn`` acceptor.

Labels: the 14 characters of ``ALPHABET`` are labels 0..13; the recogniser's extra rubbish
class (``RUBBISH`` = 14) never appears in an answer. The grammar's arcs all have energy 0, so
composing with it removes ill-formed readings without favouring any well-formed one.

Grammar (at most six integer digits):
    amount   = ["$"] ["*" | "**" | "***"] integer ["." digit digit]
    integer  = "0" | nonzero digit{0..5} | nonzero digit{0..2} "," digit digit digit

The amount prior weighs the same grammar by how often the training amounts take each of its
branches (:func:`shape_counts`, :func:`grammar` with counts): part of the segmenting reader's
energy in training and reading, added to the SDNN's when it reads (its CTC training has no
grammar); docs/results/check-reading.md, "An amount prior".
"""

from __future__ import annotations

import re

import numpy as np

import gtn
from gtn.composition import intersect

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


def amount_value(text: str) -> int | None:
    """The amount ``text`` is worth, in cents (None: not an amount of the grammar). "$", the
    "*" fill and the thousands comma do not change it, nor do missing cents: "$**1,234.00",
    "1234" and "1234.00" are all worth 123400."""
    if not is_valid_amount(text):
        return None
    integer, _, cents = text.lstrip("$*").replace(",", "").partition(".")
    return 100 * int(integer) + int(cents or 0)


def same_amount(answer: str, truth: str) -> bool:
    """True when ``answer`` is an amount worth what ``truth`` is worth (:func:`amount_value`)."""
    value = amount_value(answer)
    return value is not None and value == amount_value(truth)


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


# Energy scale of the amount prior: chosen on own-style fields, and on fields whose amounts
# follow another distribution (docs/results/check-reading.md, "An amount prior").
PRIOR_WEIGHT = 0.5


def _structure():
    """(state names, final state names, arcs [(src, dst, char)]) of the amount grammar. States:
    S the start, D after "$", *k after k stars, Z the integer "0", Ik k integer digits (no
    comma), Ak k digits after the comma, P after the point, Ck k cents digits."""
    integer = [f"I{k}" for k in range(1, 7)]
    names = ["S", "D", "*1", "*2", "*3", "Z", *integer, "A0", "A1", "A2", "A3", "P", "C1", "C2"]
    finals = {"Z", *integer, "A3", "C2"}
    arcs: list[tuple[str, str, str]] = []

    def add(src: str, chars: str, dst: str) -> None:
        arcs.extend((src, dst, c) for c in chars)

    nonzero, digit = "123456789", "0123456789"
    add("S", "$", "D")
    for src in ("S", "D", "*1", "*2", "*3"):
        add(src, "0", "Z")
        add(src, nonzero, "I1")
    for src, dst in (("S", "*1"), ("D", "*1"), ("*1", "*2"), ("*2", "*3")):
        add(src, "*", dst)
    for k in range(1, 6):
        add(f"I{k}", digit, f"I{k + 1}")
    for k in (1, 2, 3):
        add(f"I{k}", ",", "A0")
    for k in (0, 1, 2):
        add(f"A{k}", digit, f"A{k + 1}")
    for src in ("Z", "I1", "I2", "I3", "I4", "I5", "I6", "A3"):
        add(src, ".", "P")
    add("P", digit, "C1")
    add("C1", digit, "C2")
    return names, finals, arcs


def _branches():
    """The grammar's branches, in a fixed order: per state, one per destination (the digits
    that lead from a state to one destination are one branch: the prior weighs an amount's
    shape, not which digits it holds), then its end if it is final. (branch keys [(state,
    destination or None)], branch of each arc [A], branch of each final state {name: i})."""
    names, finals, arcs = _structure()
    keys: list[tuple[str, str | None]] = []
    for q in names:
        keys += sorted({(src, dst) for src, dst, _ in arcs if src == q}, key=lambda k: k[1])
        if q in finals:
            keys.append((q, None))
    index = {k: i for i, k in enumerate(keys)}
    return keys, [index[(src, dst)] for src, dst, _ in arcs], {q: index[(q, None)] for q in finals}


NUM_BRANCHES = len(_branches()[0])


def shape_counts(texts) -> list[int]:
    """How many of the amounts ``texts`` take each branch of the grammar (the order of
    ``_branches``): the statistics of the amount prior. ValueError for a text outside it."""
    names, _, arcs = _structure()
    keys, arc_branch, final_branch = _branches()
    step = {(src, c): (dst, b) for (src, dst, c), b in zip(arcs, arc_branch, strict=True)}
    counts = [0] * len(keys)
    for text in texts:
        if not is_valid_amount(text):
            raise ValueError(f"{text!r} is not an amount of the grammar")
        state = names[0]
        for c in text:
            state, b = step[(state, c)]
            counts[b] += 1
        counts[final_branch[state]] += 1
    return counts


def grammar(counts=None) -> gtn.Graph:
    """The amount grammar as a deterministic acceptor over labels 0..13. Without ``counts``
    every energy is 0. With ``counts`` (:func:`shape_counts` of training amounts) it is the
    amount prior: each arc and final state weighs ``PRIOR_WEIGHT`` x -log p(branch | state),
    p estimated from the counts with add-one smoothing, so that every amount of the grammar
    keeps a finite energy."""
    names, finals, arcs = _structure()
    energy = np.zeros(len(arcs))
    final_energy = dict.fromkeys(finals, 0.0)
    if counts is not None:
        keys, arc_branch, final_branch = _branches()
        if len(counts) != len(keys) or any(int(c) != c or c < 0 for c in counts):
            raise ValueError(
                f"amount prior counts must be {len(keys)} non-negative integers, got {len(counts)}"
            )
        smoothed = np.asarray(counts, np.float64) + 1.0
        state_of = [q for q, _ in keys]
        total = dict.fromkeys(names, 0.0)
        for q, c in zip(state_of, smoothed, strict=True):
            total[q] += c
        branch = PRIOR_WEIGHT * -np.log(smoothed / np.array([total[q] for q in state_of]))
        energy = branch[arc_branch]
        final_energy = {q: float(branch[final_branch[q]]) for q in finals}
    b = gtn.GraphBuilder(isymbols=SYMBOLS)
    state = {q: b.add_node(start=q == "S", final=final_energy.get(q, False)) for q in names}
    for (src, dst, c), e in zip(arcs, energy, strict=True):
        b.add_arc(state[src], state[dst], c, weight=float(e))
    return b.build()


def prior_energies(grammar_graph: gtn.Graph, labels) -> np.ndarray:
    """float64 [B]: the energy ``grammar_graph`` (from :func:`grammar`) gives each label list
    of ``labels`` (0 for every amount without a prior; +inf outside the grammar)."""
    if not labels:
        return np.zeros(0)
    paths = intersect([grammar_graph] * len(labels), [gtn.linear(list(t)) for t in labels])
    return gtn.min_energy(paths).double().numpy()
