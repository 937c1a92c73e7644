"""The documentation cannot go stale: every code block of the README and of the pages under
docs/ runs as written, the figures a page shows are the ones its code draws, and the site
builds with MkDocs in strict mode (broken links and anchors, pages left out of the navigation
and docstrings that do not render are errors) with an entry for every public name.

Blocks run in order, per page, in one namespace (a tutorial builds on its earlier blocks), in a
temporary folder: python blocks are executed, ``ebgtn`` command lines are run through
``apps.cli.main``. A block that cannot run in a test (installs, long training, the user's own
files) says why on the line above it: ``<!-- docs: not run (the reason) -->``. A ``text``
block marked ``<!-- docs: prints -->`` right after a python block is what that block prints.
A figure a block writes to ``figures/NAME.svg`` must equal ``figures/NAME.svg`` beside the
page (run with ``EBGTN_DOCS_UPDATE=1`` to rewrite them).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from apps.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- docs: (?P<mark>not run \((?P<reason>[^)]*)\)|prints) -->\n)?"
    r"(?P<indent>[ \t]*)```(?P<lang>\w+)[^\n]*\n(?P<code>.*?)^(?P=indent)```",
    re.S | re.M,
)
PACKAGES = ("gtn", "factors", "decoders")


def blocks(text: str):
    """(lang, code, mark, reason, line) of each fenced block, code dedented to its fence."""
    for m in BLOCK.finditer(text):
        code = m["code"]
        if m["indent"]:
            code = "".join(line.removeprefix(m["indent"]) for line in code.splitlines(True))
        yield m["lang"], code, m["mark"], m["reason"], text.count("\n", 0, m.start("code")) + 1


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def run_sh(code: str, where: str) -> None:
    for line in code.replace("\\\n", " ").splitlines():  # backslash-newline continues a line
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        assert argv[0] == "ebgtn", f"{where}: sh line {line!r} is neither run nor marked"
        assert main(argv[1:]) == 0, f"{where}: {line}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_code_runs_as_written(page, tmp_path, monkeypatch, capsys, no_dot):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures").mkdir()
    namespace: dict = {"__name__": "__docs__"}
    printed = None  # what the last python block printed, for a `prints` block after it
    ran = 0
    for lang, code, mark, reason, line in blocks(page.read_text()):
        where = f"{page_id(page)}:{line}"
        if mark == "prints":
            assert printed is not None, f"{where}: a `prints` block must follow a python block"
            assert printed == code, f"{where}: the block above printed\n{printed}"
            printed = None
            continue
        printed = None
        if reason is not None:
            assert reason.strip(), f"{where}: a block that is not run must say why"
            continue
        if lang in ("python", "py"):
            exec(compile(code, where, "exec"), namespace)
            printed = capsys.readouterr().out
        elif lang in ("sh", "bash", "console"):
            run_sh(code, where)
            capsys.readouterr()
        elif lang in ("text", "pycon", "yaml", "toml", "dot", "svg"):
            continue  # shown, not run: output, doctest transcripts (run as doctests), files
        else:
            pytest.fail(f"{where}: a {lang} block; run it here or mark it not run")
        ran += 1
    for written in sorted((tmp_path / "figures").glob("*.svg")):
        shown = page.parent / "figures" / written.name
        if os.environ.get("EBGTN_DOCS_UPDATE"):
            shown.parent.mkdir(exist_ok=True)
            shown.write_text(written.read_text())
        assert shown.exists(), f"{page_id(page)} draws {written.name} but docs do not hold it"
        assert shown.read_text() == written.read_text(), f"{shown} is stale: EBGTN_DOCS_UPDATE=1"


def test_the_readme_keeps_its_tour_and_the_tutorials_run():
    text = (ROOT / "README.md").read_text()
    assert 'gtn.draw(g, "g.dot")' in text
    run = [b[0] for b in blocks(text) if b[2] is None]
    assert run.count("python") >= 2 and "sh" in run
    for page in sorted((DOCS / "tutorials").glob("*.md")):
        langs = [b[0] for b in blocks(page.read_text()) if b[2] is None]
        assert page.name == "index.md" or langs.count("python") >= 2, page


def test_every_figure_a_page_links_is_drawn_by_its_code():
    for page in PAGES:
        for name in re.findall(r"\]\(figures/([\w.-]+\.svg)\)", page.read_text()):
            assert f'"figures/{name}"' in page.read_text(), f"{page}: nothing draws {name}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as `make docs` builds it (--strict: every warning is an error; not -q,
    which hides warnings from the strict count)."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_the_site_builds_in_strict_mode_with_every_page(site):
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).with_suffix("")
        html = site / ("index.html" if rel.name == "index" else rel / "index.html")
        if rel.name == "index" and rel.parent != Path("."):
            html = site / rel.parent / "index.html"
        assert html.exists(), f"{page} was not built"


def test_every_public_name_has_an_api_entry(site):
    ids = set()
    for html in (site / "api").rglob("*.html"):
        ids |= set(re.findall(r'id="([\w.]+)"', html.read_text()))
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            # An entry under the exported name, or under the defining module's (needed where a
            # function shares its module's name, which hides it from the package's namespace).
            canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            assert f"{package}.{name}" in ids or canonical in ids, (
                f"{package}.{name} has no entry in the API reference"
            )


def test_a_broken_link_or_anchor_fails_the_strict_build(tmp_path):
    """The link check: the site's own validation settings, on a two-page site."""
    settings = (ROOT / "mkdocs.yml").read_text()
    validation = re.search(r"^validation:\n(?:  .*\n)+", settings, re.M)[0]
    assert validation.count(": warn") == 7  # every check on; --strict turns warnings into errors
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n[next](other.md#there)\n")
    for target, ok in (("# Other\n\n## there\n", True), ("# Other\n\n## elsewhere\n", False)):
        (tmp_path / "docs" / "other.md").write_text(target)
        (tmp_path / "mkdocs.yml").write_text("site_name: t\n" + validation)
        done = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert (done.returncode == 0) == ok, done.stderr
        if not ok:
            assert "there" in done.stderr


def documented_parameters(doc: str) -> list[str]:
    """Names in a docstring's Args section ("a, b: ..." documents two)."""
    section = re.search(r"^(\s*)Args:\n((?:\1 {4}.*\n|\s*\n)+)", doc + "\n", re.M)
    if section is None:
        return []
    indent = section[1] + " " * 4
    names = []
    for line in section[2].splitlines():
        m = re.match(rf"^{indent}([*\w][\w, *]*?)(?: \(.*?\))?:", line)
        if m and not line.startswith(indent + " "):
            names += [n.strip().lstrip("*") for n in m[1].split(",")]
    return names


def test_documented_parameters_exist():
    """griffe's unknown-parameter warning is off (it reads "a, b:" as one name): this is it."""
    checked = 0
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            members = [obj]
            if inspect.isclass(obj):
                members += [m for k, m in vars(obj).items() if callable(m) and k[0] != "_"]
                members.append(obj.__init__)
            for f in members:
                f = getattr(f, "__func__", f)
                if not callable(f) or not f.__doc__:
                    continue
                try:
                    params = inspect.signature(f).parameters
                except (TypeError, ValueError):
                    continue
                owner = obj if f is obj.__init__ and inspect.isclass(obj) else f
                for p in documented_parameters(inspect.getdoc(owner) or ""):
                    assert p in params, f"{package}.{name}: documents {p!r}, not a parameter"
                    checked += 1
    assert checked >= 50


def test_docstrings_render_as_markdown(site):
    """Sphinx roles become code, ``>>>`` examples code blocks (not nested quotes), and shared
    attribute entries one row per name (docs/_ext/docstring_markup.py)."""
    text = "\n".join(p.read_text() for p in (site / "api").rglob("*.html"))
    assert ":func:`" not in text and ":class:`" not in text
    assert not re.search(r"<blockquote>\s*<blockquote>", text)
    assert (
        text.count('<span class="gp">&gt;&gt;&gt; </span>') >= 20
    )  # prompts of highlighted examples
    graph_page = (site / "api" / "gtn-graphs" / "index.html").read_text()
    for name in ("src", "dst", "start_weight", "final_weight"):  # "src, dst: ..." and so on
        assert f'title="gtn.Graph.{name}">{name}</span>' in graph_page


def test_shared_attribute_entries_are_split():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from docstring_markup import to_markdown
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    doc = "Doc.\n\n    Attributes:\n        a, b: shared\n            text.\n        c: own.\n"
    entries = "        a: shared text.\n        b: shared text.\n        c: own.\n"
    assert to_markdown(doc) == "Doc.\n\n    Attributes:\n" + entries
    assert to_markdown("See :func:`gtn.compose`.") == "See `gtn.compose`."
    assert to_markdown("Text\n>>> 1 + 1\n2\n") == "Text\n\n```pycon\n>>> 1 + 1\n2\n```\n"


def test_every_ebgtn_subcommand_is_documented():
    from apps.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    page = (DOCS / "applications" / "cli.md").read_text()
    for name, sub in commands.choices.items():
        assert f"`ebgtn {name}`" in page, f"ebgtn {name} is missing from applications/cli.md"
        jobs = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        (row,) = [line for line in page.splitlines() if line.startswith(f"| `ebgtn {name}` |")]
        for job in jobs[0].choices if jobs else ():
            assert f"`{job}`" in row, f"ebgtn {name} {job} is missing from its row in cli.md"
            assert job in (sub.description or "").splitlines()[0], f"{name}'s docstring: {job}"
