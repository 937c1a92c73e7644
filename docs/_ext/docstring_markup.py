"""A griffe extension that lets the docstrings' two reStructuredText habits render in Markdown.

Docstrings are read by ``help()`` and doctest first, so they keep plain-text conventions:
Sphinx roles (:func:`compose`), bare ``>>>`` examples and attributes sharing one entry
("src, dst: ..."). In Markdown the first shows its colons, the second becomes a nested block
quote and griffe reads the third's second name as a type, so before mkdocstrings renders a
docstring this turns roles into code spans, each run of ``>>>`` lines (with their printed
output) into a fenced ``pycon`` block, and shared attribute entries into one per name. The
docstrings themselves are not changed.
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


def split_shared_attributes(text: str) -> str:
    """In an ``Attributes:`` section, "a, b: description" documents two attributes; griffe
    would read "a," as a name and "b" as a type, so give each name its own entry."""
    lines = text.split("\n")
    out: list[str] = []
    section_indent = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if stripped == "Attributes:":
            section_indent = indent
            out.append(line)
            i += 1
            continue
        if section_indent is not None and stripped and indent <= section_indent:
            section_indent = None
        m = SHARED.match(line) if section_indent is not None else None
        if m is None:
            out.append(line)
            i += 1
            continue
        body = [m["rest"]]
        i += 1
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > len(m["indent"]):
            body.append(lines[i].strip())
            i += 1
        for name in m["names"].split(","):
            out.append(f"{m['indent']}{name.strip()}: {' '.join(body)}")
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


SHARED = re.compile(r"^(?P<indent>\s+)(?P<names>\w+(?:, \w+)+): (?P<rest>.*)$")


def to_markdown(text: str) -> str:
    return fence_examples(split_shared_attributes(ROLE.sub(r"`\1`", text)))


class DocstringMarkup(griffe.Extension):
    """Rewrites every object's docstring text before it is parsed into sections."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
