"""No file can run code: every torch/numpy load in the project refuses pickled objects.

(a) A walk over the syntax of every module finds each ``torch.load`` / ``np.load`` call and
requires the safe keyword literally, and finds no use of pickle-family modules at all.
(b) A file whose pickle would write a marker file when unpickled is handed to every loader the
project has; the marker is never written and each loader names the file in one line.
"""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gtn", "factors", "decoders", "apps", "bench")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
UNSAFE_MODULES |= {"marshal", "jsonpickle"}


# ------------------------------------------------------------------------- (a) call sites
def _sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword_is(call: ast.Call, name: str, value: bool) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value
        for k in call.keywords
    )


def scan(path: Path, root: Path = ROOT) -> tuple[dict[str, int], list[str]]:
    """(call sites found by kind, problems) of one module."""
    tree = ast.parse(path.read_text(), str(path))
    found = {"torch.load": 0, "np.load": 0}
    problems = []
    where = lambda node: f"{path.relative_to(root)}:{node.lineno}"  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES:
                    problems.append(f"{where(node)} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] in UNSAFE_MODULES:
                problems.append(f"{where(node)} imports from {module}")
            if module in ("torch", "numpy", "torch.serialization") and any(
                a.name == "load" for a in node.names
            ):
                problems.append(f"{where(node)} imports load from {module} under another name")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in ("torch.load", "torch.serialization.load"):
                found["torch.load"] += 1
                if not _keyword_is(node, "weights_only", True):
                    problems.append(f"{where(node)}: {name} without weights_only=True")
            elif name in ("np.load", "numpy.load"):
                found["np.load"] += 1
                if not _keyword_is(node, "allow_pickle", False):
                    problems.append(f"{where(node)}: {name} without allow_pickle=False")
            elif name.endswith(("read_pickle", "add_safe_globals", "safe_globals")):
                problems.append(f"{where(node)}: {name}")
    return found, problems


def test_every_load_call_passes_the_safe_keyword_and_nothing_uses_pickle():
    totals, problems, files = {"torch.load": 0, "np.load": 0}, [], 0
    for path in _sources():
        found, trouble = scan(path)
        files += 1
        problems += trouble
        for kind, n in found.items():
            totals[kind] += n
    assert not problems, "\n".join(problems)
    # The walk really sees the project's loaders (a scan that finds nothing proves nothing).
    assert files > 100 and totals["torch.load"] >= 1 and totals["np.load"] >= 5, totals


def test_the_scan_flags_unsafe_calls(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch, numpy as np, pickle\n"
        "torch.load(p)\n"
        "torch.load(p, weights_only=flag)\n"
        "np.load(p)\n"
        "from torch import load\n"
    )
    found, problems = scan(bad, tmp_path)
    assert found == {"torch.load": 2, "np.load": 1} and len(problems) == 5, problems


# ------------------------------------------------------------------------- (b) behaviour
def _write_marker(path):
    Path(path).write_text("code from a file ran")
    return {}


class Payload:
    """Unpickling this object calls _write_marker: what an attacker's checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_write_marker, (self.marker,))


def hostile_files(folder: Path, marker: Path) -> dict[str, Path]:
    """The same attack in every container the project reads."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    tags = (
        "ebgtn.speech.recognizer", "ebgtn.check_reading.segmenting",
        "ebgtn.check_reading.sdnn", "ebgtn.segmentation.segmenter", "ebgtn.factors.trainer",
    )  # fmt: skip
    for tag in tags:  # a plausible checkpoint of each kind with the payload inside
        files[tag] = folder / f"{tag}.pt"
        state = {"format": tag, "version": 2, "payload": Payload(marker), "digest": "0" * 64}
        torch.save(state, files[tag])
    files["legacy torch"] = folder / "legacy.pt"
    torch.save(Payload(marker), files["legacy torch"], _use_new_zipfile_serialization=False)
    files["bare pickle"] = folder / "bare.pt"
    files["bare pickle"].write_bytes(pickle.dumps(Payload(marker)))
    files["npy"] = folder / "objects.npy"
    np.save(files["npy"], np.array([Payload(marker)], dtype=object), allow_pickle=True)
    files["npz"] = folder / "objects.npz"
    objects = np.array([Payload(marker)], dtype=object)
    np.savez(files["npz"], u0=objects, magic=objects, texts=objects, words=objects)
    return files


def test_the_hostile_files_do_run_code_when_unpickled(tmp_path):
    # Without this, a loader "passing" could mean the attack was broken, not refused.
    marker = tmp_path / "marker"
    files = hostile_files(tmp_path / "files", marker)
    torch.load(files["ebgtn.factors.trainer"], weights_only=False)
    assert marker.exists()
    marker.unlink()
    np.load(files["npy"], allow_pickle=True)
    assert marker.exists()


def _trainer(path):
    from torch.utils.data import DataLoader, TensorDataset

    from factors import StructuredLoss, Trainer, chain

    model = chain(3, 2)
    data = TensorDataset(torch.randn(4, 3, 2), torch.zeros(4, 3, dtype=torch.long))
    trainer = Trainer(
        model, StructuredLoss("nll"), torch.optim.SGD(model.parameters(), lr=0.1),
        checkpoint=path, resume=True, progress=False,
    )  # fmt: skip
    trainer.fit(DataLoader(data, batch_size=2))


def _speech_training(path):
    # What `ebgtn speech train --resume` runs with a planted OUT/mmi.trainer.pt.
    from apps.speech.data import PreparedSet
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN
    from apps.speech.train import train

    planted = path.parent / "mmi.trainer.pt"
    planted.write_bytes(path.read_bytes())
    topology = Topology("hmm", states_per_word=2)
    data = PreparedSet([torch.zeros(20, 40)] * 2, [(1,), (2,)], [np.zeros(1)] * 2, ["clean"] * 2)
    model = TDNN(topology.num_columns, width=8)
    train(model, topology, data, "mmi", epochs=1, checkpoint=planted, resume=True, progress=False)


def _speech_recognizer(path):
    from apps.speech.api import SpeechRecognizer

    SpeechRecognizer.load(path)


def _segmenting_reader(path):
    from apps.check_reading import CheckReader

    CheckReader.load(path)


def _sdnn_reader(path):
    from apps.check_reading.sdnn import SdnnReader

    SdnnReader.load(path)


def _check_reading_cli_loader(path):
    from apps.check_reading.api import load_reader

    load_reader(str(path))


def _segmenter(path):
    from apps.segmentation.segmenter import Segmenter

    Segmenter.load(path)


def _graph(path):
    import gtn

    gtn.load(path)


def _emissions(path):
    from decoders.emissions import EmissionsFile

    f = EmissionsFile(path)
    f.load(f.ids[0] if f.ids else "u0")


def _check_reading_data(path):
    from apps.check_reading.data import _read

    _read(path, "train")


def _speech_corpus(path):
    from apps.speech.corpus import _read

    _read(path, "train")


CHECKPOINT_LOADERS = {
    "factors.Trainer(resume=True)": _trainer,
    "speech train --resume (OUT/mmi.trainer.pt)": _speech_training,
    "SpeechRecognizer.load": _speech_recognizer,
    "CheckReader.load": _segmenting_reader,
    "SdnnReader.load": _sdnn_reader,
    "check-reading read (load_reader)": _check_reading_cli_loader,
    "Segmenter.load": _segmenter,
}
ARRAY_LOADERS = {
    "gtn.load": _graph,
    "EmissionsFile": _emissions,
    "check_reading data cache": _check_reading_data,
    "speech corpus cache": _speech_corpus,
}
CHECKPOINT_KINDS = (
    "ebgtn.speech.recognizer", "ebgtn.check_reading.segmenting", "ebgtn.check_reading.sdnn",
    "ebgtn.segmentation.segmenter", "ebgtn.factors.trainer", "legacy torch", "bare pickle",
)  # fmt: skip


@pytest.mark.parametrize("loader", list(CHECKPOINT_LOADERS))
def test_no_checkpoint_loader_runs_code_from_a_file(tmp_path, loader):
    from apps._common.checkpoint import CheckpointError

    marker = tmp_path / "marker"
    files = hostile_files(tmp_path / "files", marker)
    for kind in CHECKPOINT_KINDS:
        with pytest.raises(CheckpointError) as err:
            CHECKPOINT_LOADERS[loader](files[kind])
        message = str(err.value)
        assert not marker.exists(), f"{loader} ran code from a {kind} file"
        name = "mmi.trainer.pt" if "mmi.trainer.pt" in loader else files[kind].name
        assert "\n" not in message and f"/{name} " in message, message
        assert "readable checkpoint" in message, message


@pytest.mark.parametrize("loader", list(ARRAY_LOADERS))
@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_no_array_loader_runs_code_from_a_file(tmp_path, loader, kind):
    marker = tmp_path / "marker"
    files = hostile_files(tmp_path / "files", marker)
    path = files[kind]
    with pytest.raises((ValueError, KeyError, OSError)):
        ARRAY_LOADERS[loader](path)
    assert not marker.exists(), f"{loader} ran code from a {kind} file"


def test_refusal_says_nothing_was_run(tmp_path):
    from apps._common.checkpoint import CheckpointError
    from apps.speech.api import SpeechRecognizer

    files = hostile_files(tmp_path, tmp_path / "marker")
    with pytest.raises(CheckpointError, match="refused, nothing from the file was run"):
        SpeechRecognizer.load(files["ebgtn.speech.recognizer"])
    assert os.path.exists(files["ebgtn.speech.recognizer"])
