"""Every code block in the README runs as written (a newcomer's first contact must not be
stale): python blocks are executed, ``ebgtn`` command lines are run through ``apps.cli.main``.
A block that cannot run in a test (installs, hours of training, the user's own files) says so
on the line above it: ``<!-- readme: not run (the reason) -->``."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from apps.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"(?:<!-- readme: not run \((?P<reason>[^)]*)\) -->\n)?"
    r"```(?P<lang>\w+)\n(?P<code>.*?)```",
    re.S,
)

# What some blocks print, checked line by line (keyed by a line of the block).
PRINTS = {
    "both = gtn.intersect(g, word)": ["2.5"],
    "H = gtn.ctc_transducer(4)": ["True", "[0]"],
}


def blocks():
    text = README.read_text()
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("code"))  # 1-based line of the block's first line
        yield pytest.param(m["lang"], m["code"], m["reason"], id=f"{m['lang']}-line{line}")


@pytest.mark.parametrize(("lang", "code", "reason"), list(blocks()))
def test_readme_block_runs(lang, code, reason, tmp_path, monkeypatch, capsys, no_dot):
    if reason is not None:
        assert reason.strip(), "a block that is not run must say why"
        pytest.skip(f"README says: not run ({reason})")
    monkeypatch.chdir(tmp_path)
    if lang == "python":
        exec(compile(code, str(README), "exec"), {})
        printed = capsys.readouterr().out.splitlines()
        for key, expected in PRINTS.items():
            if key in code:
                assert printed == expected
    elif lang == "sh":
        for line in code.splitlines():
            argv = shlex.split(line, comments=True)
            assert argv[0] == "ebgtn", f"README sh line {line!r} is neither run nor marked"
            assert main(argv[1:]) == 0, line
    else:
        pytest.fail(f"README has a {lang} block; run it here or mark it not run")


def test_the_tour_writes_its_dot_file_and_every_python_block_is_run():
    text = README.read_text()
    assert 'gtn.draw(g, "g.dot")' in text
    langs = [m["lang"] for m in BLOCK.finditer(text) if m["reason"] is None]
    assert langs.count("python") >= 6 and "sh" in langs
