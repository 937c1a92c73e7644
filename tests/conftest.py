import os

import pytest
from hypothesis import HealthCheck, settings

from gtn import drawing

# numba compiles on first call: no per-example deadline. CI runs the "ci" profile.
settings.register_profile(
    "ci", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# A stand-in for Graphviz's `dot` (shell builtins only): it checks the format flag, reads the DOT
# text on stdin and writes a minimal valid SVG that says how many DOT lines it read. It lets the
# rendering path run on machines without Graphviz, and masks any real `dot` installed.
FAKE_DOT = """#!/bin/sh
if [ "$1" != "-Tsvg" ]; then echo "fake dot: format $1 is not supported" >&2; exit 1; fi
n=0
while IFS= read -r line; do n=$((n + 1)); done
printf '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
printf '<desc>%s lines</desc></svg>\n' "$n"
"""


@pytest.fixture(autouse=True, scope="session")
def _own_data_cache(tmp_path_factory):
    """The apps' generated data (apps.cache) goes to a folder of this test run, never the user's
    ~/.cache/ebgtn: a test that generates thousands of examples then costs that on every run, not
    only on a fresh machine, and no test reads what an earlier run left behind."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EBGTN_CACHE", str(tmp_path_factory.mktemp("ebgtn_cache")))
    yield
    patch.undo()


@pytest.fixture
def no_dot(monkeypatch):
    """Graphviz hidden, whatever this machine has installed."""
    monkeypatch.setattr(drawing, "find_dot", lambda: None)


@pytest.fixture
def fake_dot(tmp_path, monkeypatch):
    """Only the fake `dot` on the PATH (found by the real lookup)."""
    folder = tmp_path / "fake_bin"
    folder.mkdir()
    (folder / "dot").write_text(FAKE_DOT)
    (folder / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    assert drawing.find_dot() == str(folder / "dot")
