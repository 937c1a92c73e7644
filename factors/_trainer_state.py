"""What a trainer checkpoint must hold before a run resumes from it.

The file's digest shows that it is intact, not that it is sane: a checkpoint can be edited and
signed again, or written by other code. Every value that the trainer, the RNGs or a torch
optimizer would take on trust is checked here first. A bad file is one CheckpointError naming
the file and the field, raised before any state changes. Without these checks such a file
gives an OverflowError from an RNG, a shape error deep inside an optimizer's step, a NaN
learning rate, or a run that silently does nothing.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any

import torch

from .checkpoint import CheckpointError

MT_WORDS = 624  # Mersenne Twister state words (Python's random, numpy's legacy RNG)

# torch.optim's per-parameter state that follows its parameter element for element.
PER_ELEMENT = frozenset(
    {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "momentum_buffer", "square_avg"}
    | {"acc_delta", "grad_avg", "sum", "ax", "prev", "step_size"}
)
NON_NEGATIVE = ("lr", "eps", "weight_decay", "momentum")  # hyperparameters never below 0


@contextmanager
def refusing(path, problem: str):
    """A checkpoint part that torch or the RNGs reject becomes one CheckpointError naming the
    file and the problem."""
    try:
        yield
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as err:
        reason = " ".join(str(err).split())[:240] or type(err).__name__  # one line
        raise CheckpointError(f"{path}: {problem} ({reason})") from None


def check_trainer_state(state, path, optimizer: torch.optim.Optimizer, epochs: int) -> None:
    """Refuse (CheckpointError naming ``path`` and the field) a trainer checkpoint's payload
    that this run cannot resume from: its structure, the epoch (within [0, ``epochs``]),
    the RNG states (types and ranges) and the optimizer state (parameter groups and shapes
    matching ``optimizer``, finite hyperparameters of the optimizer's own kinds)."""

    def fail(problem: str):
        raise CheckpointError(f"{path}: {problem}")

    _check_structure(state, fail)
    epoch, batch = state["epoch"], state["batch"]
    if epoch > epochs or (epoch == epochs and batch > 0):
        fail(f"epoch {_shown(epoch)} (batch {batch}) is past the end of this run's {epochs} epochs")
    _check_python_rng(state["rng"]["python"], fail)
    _check_numpy_rng(state["rng"]["numpy"], fail)
    _check_optimizer(state["optimizer"], optimizer, fail)


def _check_structure(state, fail) -> None:
    """The payload's keys and the types of its counters, losses, RNG states and history."""
    keys = {"model", "optimizer", "step", "epoch", "batch", "epoch_losses", "epoch_metrics"}
    keys |= {"rng", "history"}
    if not isinstance(state, dict) or set(state) != keys:
        fail(f"a trainer checkpoint holds {sorted(keys)}")
    for key in ("step", "epoch", "batch"):
        if type(state[key]) is not int or state[key] < 0:
            fail(f"{key} must be an integer >= 0, got {_shown(state[key])}")
    if not isinstance(state["model"], dict) or not isinstance(state["optimizer"], dict):
        fail("model and optimizer states must be dictionaries")
    for key in ("epoch_losses", "epoch_metrics"):
        t = state[key]
        if not (isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.dim() == 1):
            fail(f"{key} must be a float64 vector")
    n, m = state["epoch_losses"].numel(), state["epoch_metrics"].numel()
    if n != state["batch"] or m not in (0, n):
        fail(f"{n} epoch losses and {m} metrics for {state['batch']} batches done")
    rng = state["rng"]
    if not (isinstance(rng, dict) and set(rng) == {"python", "numpy", "torch"}):
        fail("rng must hold the python, numpy and torch states")
    history = state["history"]
    if not isinstance(history, list) or not all(
        isinstance(r, dict) and all(isinstance(k, str) for k in r) for r in history
    ):
        fail("history must be a list of records (dictionaries with string keys)")


# ---------------------------------------------------------------------------------- RNGs
def _check_python_rng(value, fail) -> None:
    """``random.getstate()``: (3, 624 32-bit words and a position in [0, 624], gauss_next)."""
    words = value[1] if isinstance(value, tuple) and len(value) == 3 else None
    if not (
        isinstance(words, tuple)
        and type(value[0]) is int
        and value[0] == 3
        and len(words) == MT_WORDS + 1
        and all(type(w) is int for w in words)
    ):
        fail("RNG states are malformed: rng['python'] is not a state of Python's random")
    bad = next((i for i, w in enumerate(words[:-1]) if not 0 <= w < 2**32), None)
    if bad is not None:
        fail(
            f"RNG states are malformed: rng['python'] word {bad} is {_shown(words[bad])}, "
            "not a 32-bit word"
        )
    if not 0 <= words[-1] <= MT_WORDS:
        fail(
            f"RNG states are malformed: rng['python'] position {_shown(words[-1])} "
            f"is not in [0, {MT_WORDS}]"
        )
    if not (value[2] is None or (type(value[2]) is float and math.isfinite(value[2]))):
        fail(f"RNG states are malformed: rng['python'] gauss_next is {_shown(value[2])}")


def _check_numpy_rng(value, fail) -> None:
    """``np.random.get_state()`` with its keys as an int64 tensor:
    ("MT19937", keys [624] in [0, 2**32), pos in [0, 624], has_gauss 0 or 1, cached_gaussian)."""
    kind = value[0] if isinstance(value, tuple) and len(value) == 5 else None
    if not (isinstance(kind, str) and kind == "MT19937"):
        fail(
            "RNG states are malformed: rng['numpy'] is not numpy's MT19937 state "
            "(kind, keys, pos, has_gauss, cached_gaussian)"
        )
    _, keys, pos, has_gauss, cached = value

    def bad(field: str, got: str):
        fail(f"RNG states are malformed: rng['numpy'] {field} is {got}")

    if not (isinstance(keys, torch.Tensor) and keys.dtype == torch.int64):
        bad("keys", f"{_shown(keys)}, not an int64 tensor")
    if keys.shape != (MT_WORDS,):
        bad("keys", f"{_shown(keys)}, not {MT_WORDS} words")
    if not bool(((keys >= 0) & (keys < 2**32)).all()):
        bad("keys", "a tensor with values outside [0, 2**32), not 32-bit words")
    if type(pos) is not int or not 0 <= pos <= MT_WORDS:
        bad("pos", f"{_shown(pos)}, not an integer in [0, {MT_WORDS}]")
    if type(has_gauss) is not int or has_gauss not in (0, 1):
        bad("has_gauss", f"{_shown(has_gauss)}, not 0 or 1")
    if type(cached) is not float or not math.isfinite(cached):
        bad("cached_gaussian", f"{_shown(cached)}, not a finite float")


# ---------------------------------------------------------------------------------- optimizer
def _check_optimizer(saved: dict, optimizer: torch.optim.Optimizer, fail) -> None:
    """The saved optimizer state fits ``optimizer``'s parameters and holds sane values."""
    groups, state = saved.get("param_groups"), saved.get("state")
    if not (
        isinstance(groups, list)
        and isinstance(state, dict)
        and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)
        and all(type(i) is int for g in groups for i in g["params"])
    ):
        fail(
            "optimizer state does not fit: it must hold 'state' (a dictionary) and "
            "'param_groups' (dictionaries whose 'params' are parameter numbers)"
        )
    own = optimizer.param_groups
    sizes, own_sizes = [len(g["params"]) for g in groups], [len(g["params"]) for g in own]
    if sizes != own_sizes:
        fail(
            f"optimizer state does not fit: parameter groups of sizes {_shown(sizes)}, "
            f"but the optimizer's are {own_sizes}"
        )
    for i, (group, own_group) in enumerate(zip(groups, own, strict=True)):
        for key, value in group.items():
            if key != "params":
                problem = _hyperparameter_problem(key, value, own_group.get(key, _ABSENT))
                if problem:
                    fail(f"optimizer state is invalid: param_groups[{i}][{_shown(key)}] {problem}")
    params = {
        number: p
        for group, own_group in zip(groups, own, strict=True)
        for number, p in zip(group["params"], own_group["params"], strict=True)
    }
    for number, entry in state.items():
        if number not in params:
            fail(f"optimizer state does not fit: state[{_shown(number)}] is for no parameter")
        if not isinstance(entry, dict):
            fail(f"optimizer state is invalid: state[{number}] is not a dictionary")
        shape = params[number].shape
        for key, value in entry.items():
            where = f"state[{number}][{_shown(key)}]"
            if key in PER_ELEMENT and value is not None:
                if not (isinstance(value, torch.Tensor) and value.shape == shape):
                    fail(
                        f"optimizer state does not fit: {where} is {_shown(value)}, but its "
                        f"parameter has shape {list(shape)}"
                    )
            if key == "step" and not (_is_number(value) and value >= 0):
                fail(f"optimizer state is invalid: {where} is {_shown(value)}, not a number >= 0")
            if not _finite(value):
                fail(f"optimizer state is invalid: {where} is not finite")


_ABSENT = object()


def _hyperparameter_problem(key, value, own) -> str | None:
    """What is wrong with a saved hyperparameter (None: nothing), compared with the value
    ``own`` the optimizer was built with (``_ABSENT`` if it has none)."""
    if not _finite(value):
        return f"is {_shown(value)}, not finite"
    if own is not _ABSENT and not _same_kind(value, own):
        return f"is {_shown(value)}, but this optimizer's is {_shown(own)}"
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if (key == "lr" and not _is_number(value)) or (
        key in NON_NEGATIVE and any(_is_number(v) and v < 0 for v in parts)
    ):
        return f"is {_shown(value)}, not a number >= 0"
    if key == "betas" and not all(_is_number(b) and 0 <= b < 1 for b in parts):
        return f"is {_shown(value)}, not numbers in [0, 1)"
    return None


def _same_kind(value, own) -> bool:
    """Whether ``value`` has the kind of the optimizer's own ``own``: numbers for numbers,
    flags for flags, sequences of the same length alike; where ``own`` is None or a name
    (torch's "default" and choices), any of None, a flag, a number or a name."""
    if own is None:
        return value is None or isinstance(value, str) or _is_number(value)  # bool: a number
    if isinstance(own, str):
        return value is None or isinstance(value, str)
    if isinstance(own, bool):
        return isinstance(value, bool)
    if _is_number(own):
        return _is_number(value)
    if isinstance(own, (tuple, list)):
        return (
            isinstance(value, (tuple, list))
            and len(value) == len(own)
            and all(_same_kind(v, o) for v, o in zip(value, own, strict=True))
        )
    if isinstance(own, torch.Tensor):
        return isinstance(value, torch.Tensor) and value.shape == own.shape
    return True  # nothing a checkpoint can hold: torch decides


def _is_number(value) -> bool:
    """A real number: int or float (not bool), or a 0-d real tensor."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 0 and not (value.is_complex() or value.dtype == torch.bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:
    """No NaN or infinity anywhere in ``value`` (numbers, tensors, sequences, dictionaries)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, torch.Tensor):
        return not (value.is_floating_point() or value.is_complex()) or bool(
            torch.isfinite(value).all()
        )
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def _shown(value: Any) -> str:
    """``value`` for a one-line message: tensors by dtype and shape, the rest by a short repr."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return f"tensor({value.item()!r})"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)} ({str(value.dtype).removeprefix('torch.')})"
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else f"{text[:57]}..."
