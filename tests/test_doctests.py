"""Every ``>>>`` example in gtn, factors, decoders and apps is a doctest that pytest runs
(``--doctest-modules`` over the packages, in pyproject.toml), none hidden where doctest cannot
see it (a comment, a string that is not a docstring)."""

from __future__ import annotations

import doctest
import importlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gtn", "factors", "decoders", "apps")


def test_pytest_runs_the_packages_doctests():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = config["ini_options"]
    assert "--doctest-modules" in options["addopts"].split()
    assert set(PACKAGES) <= set(options["testpaths"])


def test_every_example_is_inside_a_docstring_doctest_finds():
    checked = 0
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            written = len(re.findall(r"^\s*>>> ", path.read_text(), flags=re.M))
            if not written:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            module = importlib.import_module(name)
            found = sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
            assert found == written, f"{path}: {written} examples written, {found} run"
            checked += 1
    assert checked >= 20
