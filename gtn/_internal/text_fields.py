"""Fields of OpenFst's text formats (AT&T graphs, symbol tables), read strictly.

Python's ``int`` and ``float`` accept more than OpenFst writes: Unicode digits (``"١"``),
underscores (``"1_0"``), and ``float`` turns ``"1e400"`` into +inf without a word. Files come
from strangers, so ids are ASCII digits only and are bounded before anything is sized by them,
and a number too large for its type is an error, never a silent infinity."""

from __future__ import annotations

import re

from .format_error import FormatError

INT32_MAX = 2**31 - 1
"""OpenFst's labels and state ids are 32-bit; so are ours (int32 arrays)."""

_INTEGER = re.compile(r"-?[0-9]+")
# What OpenFst's writers and Python's repr print: decimal, optional exponent. No hex floats,
# no underscores, no Unicode digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Explicit infinities ("Infinity" is what fstprint writes) and NaN spellings, any case.
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
# OpenFst splits fields on tabs and spaces; a trailing \r (a CRLF file) is whitespace too.
_FIELD_SEPARATOR = re.compile(r"[ \t\r\f\v]+")

Where = tuple[str, int]


def lines(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank lines as (1-based number, fields). Lines end at "\\n" only, so the numbers are
    the ones an editor shows; fields are separated by ASCII blanks (OpenFst: tabs and spaces)."""
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        fields = [f for f in _FIELD_SEPARATOR.split(line) if f]
        if fields:
            out.append((number, fields))
    return out


def shown(field: str) -> str:
    """A field as an error message quotes it: long ones cut short."""
    return field if len(field) <= 40 else f"{field[:16]}...({len(field)} characters)"


def is_integer(field: str) -> bool:
    """An optionally negative run of ASCII digits."""
    return _INTEGER.fullmatch(field) is not None


def integer(field: str, what: str, where: Where, limit: int, why: str) -> int:
    """A non-negative ASCII integer at most ``limit``; ``why`` explains the limit in the error.

    Raises:
        FormatError: "<what> 'x' is not an integer", "<what> -3 is negative", or
            "<what> N is too large (at most <limit>: <why>)", naming ``where`` (file, line).
    """
    if not is_integer(field):
        raise FormatError(*where, f"{what} {shown(field)!r} is not an integer")
    if field.startswith("-"):
        if field.strip("-0"):
            raise FormatError(*where, f"{what} {shown(field)} is negative")
        return 0
    # Longer than the limit's digits cannot fit: don't build a big int from a huge token.
    digits = field.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise FormatError(*where, f"{what} {shown(digits)} is too large (at most {limit}: {why})")
    return int(digits)


def is_number(field: str) -> bool:
    """A decimal number or an infinity / NaN spelling (what :func:`energy` parses)."""
    return _DECIMAL.fullmatch(field) is not None or _SPECIAL.fullmatch(field) is not None


def energy(field: str, where: Where) -> float:
    """A weight: a decimal number, or +inf spelled ``Infinity`` / ``inf`` (any case, optional
    ``+``). NaN and -inf are not energies; a decimal that overflows float64 (``1e400``) is an
    error rather than +inf, which would silently delete the arc.

    Raises:
        FormatError: naming ``where`` (file, line) and the field.
    """
    if _SPECIAL.fullmatch(field):
        value = float(field)
        if value != value or value < 0:
            raise FormatError(*where, f"weight {field} is not an energy (must be finite or +inf)")
        return value
    if not _DECIMAL.fullmatch(field):
        raise FormatError(*where, f"weight {shown(field)!r} is not a number")
    value = float(field)
    if value in (float("inf"), float("-inf")):
        raise FormatError(
            *where,
            f"weight {shown(field)} is out of range for float64 (write Infinity for an absent arc)",
        )
    return value
