"""Old public names kept for one release after a rename: each use warns with the new name.

Module attributes go through a module ``__getattr__`` (so the old names stay out of
``__all__`` and ``dir()``), keywords through a decorator, attributes through a descriptor.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

_WHEN = "is deprecated and will be removed in the next release"


def _warn(message: str, stacklevel: int = 3) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)


def deprecated_aliases(module: str, aliases: dict[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving old names: ``aliases`` maps each old name to
    (the new name as users write it, the object). Unknown names raise AttributeError as usual.
    """

    def __getattr__(name: str) -> Any:
        try:
            new, obj = aliases[name]
        except KeyError:
            raise AttributeError(f"module {module!r} has no attribute {name!r}") from None
        _warn(f"{module}.{name} {_WHEN}: use {new}")
        return obj

    return __getattr__


def renamed_keywords(**renames: str) -> Callable[[Callable], Callable]:
    """Decorator accepting each old keyword (``old="new"``) with a warning naming the new one;
    TypeError when a call passes both."""

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def call(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{f.__qualname__}() got both {new}= and its deprecated name {old}="
                        )
                    _warn(f"{f.__qualname__}({old}=...) {_WHEN}: use {new}=")
                    kwargs[new] = kwargs.pop(old)
            return f(*args, **kwargs)

        return call

    return decorate


class deprecated_attribute:  # noqa: N801 (used like ``property``)
    """A class attribute that reads ``new`` (another attribute) with a warning, e.g.
    ``nbest = deprecated_attribute("hypotheses")`` in a class body."""

    def __init__(self, new: str):
        self.new = new
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"{owner.__qualname__}.{name}"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        _warn(f"{self.name} {_WHEN}: use {self.new}")
        return getattr(obj, self.new)
