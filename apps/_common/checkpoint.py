"""Model checkpoints of the apps: one format, validated before any model is built.

A model file is a :mod:`factors.checkpoint` file (format tag, version, sha256 content digest,
read with ``torch.load(weights_only=True)``) whose payload is::

    {"config": {...settings...}, "tensors": {group: {name: tensor}}}

Loading checks, in order, before a single module is constructed: the file (see
:func:`factors.checkpoint.read_checkpoint`), every config value against the app's schema
(types, finite numbers, ranges; a bad value is named with its key), then every tensor's name,
shape and dtype against those of a module built on the ``meta`` device from that config (no
memory). A module is then allocated only at the size of tensors the file really holds.

>>> import tempfile, torch
>>> schema = Record({"width": Int(1, 64)})
>>> path = save_model(tempfile.mkdtemp() + "/m.pt", "doc.demo", schema, {"width": 3},
...                   {"net": torch.nn.Linear(2, 3).state_dict()})
>>> config, tensors = load_model(path, "doc.demo", schema)
>>> build_module(path, tensors, "net", lambda: torch.nn.Linear(2, config["width"])).out_features
3
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from factors.checkpoint import CheckpointError, read_checkpoint, read_format, write_checkpoint

__all__ = [
    "Bool",
    "CheckpointError",
    "Choice",
    "Int",
    "IntList",
    "Json",
    "Optional",
    "Real",
    "Record",
    "Texts",
    "build_module",
    "load_model",
    "read_format",
    "save_model",
]


# ------------------------------------------------------------------------------ config schema
class Int:
    """An integer in [lo, hi] (bools refused)."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def check(self, value: Any, key: str) -> int:
        if type(value) is not int:
            raise CheckpointError(f"{key} must be an integer, got {_show(value)}")
        return _within(value, self.lo, self.hi, key)


class Real:
    """A finite number in [lo, hi] (an integer of any size is compared exactly, before it is
    converted to a float)."""

    def __init__(self, lo: float, hi: float):
        self.lo, self.hi = lo, hi

    def check(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CheckpointError(f"{key} must be a number, got {_show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise CheckpointError(f"{key} = {value} is not a finite number")
        return float(_within(value, self.lo, self.hi, key))


class Bool:
    """True or False."""

    def check(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise CheckpointError(f"{key} must be true or false, got {_show(value)}")
        return value


class Choice:
    """One of a fixed set of values (compared with their types: 4 is not 4.0 nor True)."""

    def __init__(self, *values):
        self.values = values

    def check(self, value: Any, key: str):
        if not any(type(value) is type(v) and value == v for v in self.values):
            raise CheckpointError(
                f"{key} = {_show(value)} is not one of {', '.join(map(repr, self.values))}"
            )
        return value


class Optional:
    """None, or a value that ``schema`` accepts."""

    def __init__(self, schema):
        self.schema = schema

    def check(self, value: Any, key: str):
        return None if value is None else self.schema.check(value, key)


class IntList:
    """A list of ``min_len``..``max_len`` integers in [lo, hi], optionally distinct."""

    def __init__(self, lo: int, hi: int, min_len: int, max_len: int, distinct: bool = False):
        self.item, self.distinct = Int(lo, hi), distinct
        self.min_len, self.max_len = min_len, max_len

    def check(self, value: Any, key: str) -> list[int]:
        if not isinstance(value, (list, tuple)):
            raise CheckpointError(f"{key} must be a list of integers, got {_show(value)}")
        _within(len(value), self.min_len, self.max_len, f"the length of {key}")
        out = [self.item.check(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if self.distinct and len(set(out)) != len(out):
            raise CheckpointError(f"{key} = {out} repeats a value")
        return out


class Texts:
    """A list of ``min_len``..``max_len`` non-empty strings of at most ``max_chars`` each."""

    def __init__(self, min_len: int, max_len: int, max_chars: int = 200):
        self.min_len, self.max_len, self.max_chars = min_len, max_len, max_chars

    def check(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise CheckpointError(f"{key} must be a list of strings, got {_show(value)}")
        _within(len(value), self.min_len, self.max_len, f"the length of {key}")
        for i, v in enumerate(value):
            if not 0 < len(v) <= self.max_chars:
                raise CheckpointError(f"{key}[{i}] must have 1 to {self.max_chars} characters")
        return list(value)


class Json:
    """Free-form metadata: nested dicts (str keys), lists, str, numbers, bools, None; at most
    ``max_nodes`` values and ``max_depth`` levels. Not used to build anything."""

    def __init__(self, max_nodes: int = 100_000, max_depth: int = 16):
        self.max_nodes, self.max_depth = max_nodes, max_depth

    def check(self, value: Any, key: str):
        count = [0]

        def walk(v, where: str, depth: int):
            count[0] += 1
            if count[0] > self.max_nodes or depth > self.max_depth:
                raise CheckpointError(f"{key} is larger or deeper than metadata may be")
            if isinstance(v, dict):
                for k, item in v.items():
                    if not isinstance(k, str):
                        raise CheckpointError(f"{where} has a key that is not a string")
                    walk(item, f"{where}[{k!r}]", depth + 1)
            elif isinstance(v, (list, tuple)):
                for i, item in enumerate(v):
                    walk(item, f"{where}[{i}]", depth + 1)
            elif not (v is None or isinstance(v, (str, int, float, bool))):
                raise CheckpointError(f"{where} is a {type(v).__name__}, not plain data")

        walk(value, key, 0)
        return value


class Record:
    """A dictionary with exactly the keys of ``fields``, each checked by its schema.
    ``defaults``: keys a later version added whose absence has one meaning (the value every
    older file implicitly holds, e.g. one ensemble member); any other key is required."""

    def __init__(self, fields: dict[str, Any], defaults: dict[str, Any] | None = None):
        self.fields, self.defaults = fields, defaults or {}

    def check(self, value: Any, key: str = "config") -> dict:
        if not isinstance(value, dict):
            raise CheckpointError(f"{key} must be a dictionary, got {_show(value)}")
        value = self.defaults | value
        missing = [k for k in self.fields if k not in value]
        extra = [str(k) for k in value if k not in self.fields]
        if missing:
            raise CheckpointError(f"{key} lacks {', '.join(missing)}")
        if extra:
            raise CheckpointError(f"{key} has unexpected keys {', '.join(extra)[:120]}")
        return {k: schema.check(value[k], f"{key}.{k}") for k, schema in self.fields.items()}


def _within(value, lo, hi, key: str):
    if not lo <= value <= hi:
        raise CheckpointError(f"{key} = {_number(value)} is outside [{lo}, {hi}]")
    return value


def _number(value: int | float) -> str:
    """``value`` for a message; an integer of more than 20 digits by its size (Python refuses
    to print more than 4300 digits, and a forged file may hold millions)."""
    if isinstance(value, int) and abs(value) >= 10**20:
        digits = int(abs(value).bit_length() * math.log10(2)) + 1
        return f"{'a negative' if value < 0 else 'an'} integer of about {digits} digits"
    return str(value)


def _show(value: Any) -> str:
    try:
        text = _number(value) if isinstance(value, int) else repr(value)
    except ValueError:  # a container holding an integer too long to print
        text = "..."
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


# ------------------------------------------------------------------------------ save / load
def save_model(
    path: str | os.PathLike,
    fmt: str,
    schema: Record,
    config: dict,
    tensors: dict[str, dict[str, torch.Tensor]],
) -> Path:
    """Write a model file atomically: ``config`` (checked against ``schema`` first, so the
    project never writes a file it would refuse) and named groups of state tensors."""
    try:
        config = schema.check(config)
    except CheckpointError as err:
        raise ValueError(f"cannot save {path}: {err}") from None
    return write_checkpoint(
        path, fmt, {"config": config, "tensors": {g: dict(sd) for g, sd in tensors.items()}}
    )


def load_model(
    path: str | os.PathLike,
    fmt: str,
    schema: Record,
    *,
    what: str | None = None,
    legacy: tuple[str, ...] = (),
    retrain: str = "",
) -> tuple[dict, dict[str, dict[str, torch.Tensor]]]:
    """(config, tensor groups) of a file written by :func:`save_model` with tag ``fmt``,
    verified and validated; CheckpointError naming the file and the problem otherwise.
    ``what``/``legacy``/``retrain``: see :func:`factors.checkpoint.read_checkpoint`."""
    payload = read_checkpoint(path, fmt, what=what, legacy=legacy, retrain=retrain)
    if not isinstance(payload, dict) or set(payload) != {"config", "tensors"}:
        raise CheckpointError(f"{path}: the payload must hold a config and tensors")
    try:
        config = schema.check(payload["config"])
    except CheckpointError as err:
        if retrain and " lacks " in str(err):  # a setting this version added
            raise CheckpointError(
                f"{path}: {err} (written by an earlier version?); {retrain}"
            ) from None
        raise CheckpointError(f"{path}: {err}") from None
    groups = payload["tensors"]
    if not isinstance(groups, dict) or not all(
        isinstance(g, str) and isinstance(sd, dict) for g, sd in groups.items()
    ):
        raise CheckpointError(f"{path}: tensors must be named groups of tensors")
    return config, groups


def build_module(
    path: str | os.PathLike,
    tensors: dict[str, dict[str, torch.Tensor]],
    group: str,
    factory: Callable[[], torch.nn.Module],
) -> torch.nn.Module:
    """``factory()`` loaded with ``tensors[group]``, after checking every name, shape and dtype
    against a copy built on the meta device (which allocates nothing)."""
    if group not in tensors:
        raise CheckpointError(f"{path}: no {group} weights")
    given = tensors[group]
    with torch.device("meta"):
        expected = factory().state_dict()
    missing = [k for k in expected if k not in given]
    extra = [str(k) for k in given if k not in expected]
    if missing or extra:
        names = [f"{group}.{k} missing" for k in missing[:3]]
        names = ", ".join(names + [f"{group}.{k} unexpected" for k in extra[:3]])
        raise CheckpointError(f"{path}: weights do not fit the config ({names})")
    for name, spec in expected.items():
        t = given[name]
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{path}: {group}.{name} is not a tensor")
        if tuple(t.shape) != tuple(spec.shape) or t.dtype != spec.dtype:
            raise CheckpointError(
                f"{path}: {group}.{name} is {t.dtype} {list(t.shape)}; the config implies "
                f"{spec.dtype} {list(spec.shape)}"
            )
    module = factory()
    module.load_state_dict(given)
    return module
