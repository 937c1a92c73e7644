"""The package boundaries: gtn's namespace shows its API, and the sibling packages use gtn only
through public names (what they need lives in ``gtn.utils``)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gtn

ROOT = Path(__file__).resolve().parents[1]


def test_dir_of_gtn_is_its_api():
    assert dir(gtn) == sorted(gtn.__all__)
    for name in gtn.__all__:
        assert getattr(gtn, name) is not None


def _private_gtn_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module + "." + a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "gtn" and any(p.startswith("_") for p in parts[1:]):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


@pytest.mark.parametrize("package", ["factors", "decoders", "apps", "bench"])
def test_siblings_import_no_private_gtn_names(package):
    bad = [hit for p in sorted((ROOT / package).rglob("*.py")) for hit in _private_gtn_imports(p)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "module",
    ["apps.speech.api", "apps.speech.tune", "apps.check_reading.api", "apps.check_reading.folder"],
)
def test_reading_and_scoring_load_no_training_code(module):
    # Inside an app, dependencies point from training to reading, never back: the user API and
    # the scoring paths share what they need with training through a module both import.
    code = (
        f"import sys, {module}\n"
        "print(sorted(m for m in sys.modules if m.startswith('apps.')\n"
        "             and m.rsplit('.', 1)[-1] in ('train', 'sdnn_train', 'experiment')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert run.stdout.strip() == "[]", f"{module} loads {run.stdout.strip()}"
