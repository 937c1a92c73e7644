"""A griffe extension that lets the docstrings' two reStructuredText habits render in Markdown.

Docstrings are read by ``help()`` and doctest first, so they keep plain-text conventions:
Sphinx roles (:func:`compose`) and bare ``>>>`` examples. In Markdown the first shows its
colons and the second becomes a nested block quote, so before mkdocstrings renders a docstring
this turns roles into code spans and each run of ``>>>`` lines (with their printed output)
into a fenced ``pycon`` block. The docstrings themselves are not changed.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|obj|exc|const):`~?([^`]+)`")


def fence_examples(text: str) -> str:
    """Wrap each doctest example run (``>>>`` lines, ``...`` continuations and their output up
    to a blank line) in a ```pycon fence, at the example's own indentation."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [indent + "```pycon", *(indent + b for b in block), indent + "```"]
    return "\n".join(out)


def to_markdown(text: str) -> str:
    return fence_examples(ROLE.sub(r"`\1`", text))


class DocstringMarkup(griffe.Extension):
    """Rewrites every object's docstring text before it is parsed into sections."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
