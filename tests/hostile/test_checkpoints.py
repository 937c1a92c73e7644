"""The apps' model files are verified and validated before a model is built.

Every app (speech recogniser, segmenting and SDNN check readers, segmenter) loads through
:mod:`apps._common.checkpoint`; each hostile or broken file below must give one
``CheckpointError`` line naming the file and the problem. Files that ask for large models are
loaded in a subprocess whose address space is capped a little above what the imports use, so
a model allocated from the file's word fails the test instead of the machine.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from apps._common.checkpoint import CheckpointError
from factors.checkpoint import read_checkpoint, write_checkpoint
from tests.fresh_interpreter import run_python

ROOT = Path(__file__).resolve().parents[2]
HEADROOM = 256 << 20  # bytes of address space a capped loader may use beyond its imports


def _speech(path):
    from apps.speech.api import SpeechRecognizer
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN

    topology = Topology("hmm", states_per_word=2)
    SpeechRecognizer(TDNN(topology.num_columns, width=8), topology).save(path)


def _segmenting(path):
    from apps.check_reading import CheckReader

    CheckReader().save(path)


def _sdnn(path):
    from apps.check_reading.sdnn import SdnnReader

    SdnnReader(width=1).save(path)


def _segmenter(path):
    from apps.segmentation.cleanup import CleanupModel
    from apps.segmentation.labeller import Labeller
    from apps.segmentation.segmenter import Segmenter

    Segmenter(Labeller(3, channels=4, dilations=(1,)), CleanupModel(3, 4), "abc").save(path)


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(config):
        for k in keys[:-1]:
            config = config[k]
        config[keys[-1]] = value

    return edit


# name: (writer, loader "module:Class", format tag, edits asking for a huge model
#        (out of range), for the largest model the schema allows, and a non-finite setting)
APPS = {
    "speech": (
        _speech, "apps.speech.api:SpeechRecognizer", "ebgtn.speech.recognizer",
        [_set("model", "width", 6000), _set("model", "width", 30000)],
        _set("model", "width", 4096), _set("dither", math.nan),
    ),
    "segmenting reader": (
        _segmenting, "apps.check_reading.api:CheckReader", "ebgtn.check_reading.segmenting",
        [_set("recognizer", "width", 6000), _set("recognizer", "width", 30000)],
        _set("recognizer", "width", 64), _set("beta", math.nan),
    ),
    "sdnn reader": (
        _sdnn, "apps.check_reading.sdnn:SdnnReader", "ebgtn.check_reading.sdnn",
        [_set("width", 6000), _set("width", 30000)], _set("width", 64), None,
    ),
    "segmenter": (
        _segmenter, "apps.segmentation.segmenter:Segmenter", "ebgtn.segmentation.segmenter",
        [_set("labeller", "channels", 30000), _set("labeller", "dilations", [1] * 6000)],
        lambda c: c["labeller"].update(channels=1024, dilations=[1] * 64), None,
    ),
}  # fmt: skip


def _load(name, path):
    module, cls = APPS[name][1].split(":")
    return getattr(__import__(module, fromlist=[cls]), cls).load(path)


def forge(path: Path, fmt: str, edit) -> Path:
    """Rewrite ``path`` with ``edit`` applied to its payload and a correct digest: what an
    attacker (or a buggy tool) can always do, since a digest is not a signature."""
    payload = read_checkpoint(path, fmt)
    edit(payload)
    return write_checkpoint(path, fmt, payload)


def refused(name: str, path: Path, match: str) -> str:
    with pytest.raises(CheckpointError) as err:
        _load(name, path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    assert match in message, message
    return message


def capped_load(name: str, path: Path) -> str:
    """Load in a subprocess capped at its import footprint + HEADROOM; the error line."""
    module, cls = APPS[name][1].split(":")
    return capped(f"from {module} import {cls} as Loader", f"Loader.load({str(path)!r})")


def capped(imports: str, statement: str) -> str:
    """Run ``statement`` after ``imports`` in a subprocess whose address space is capped at
    what the imports use + HEADROOM; its output line ("CheckpointError: ..." or "loaded")."""
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        {imports}
        from apps._common.checkpoint import CheckpointError
        status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
        limit = int(status) * 1024 + {HEADROOM}
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            {statement}
        except CheckpointError as err:
            print("CheckpointError:", err)
        else:
            print("loaded")
    """)
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_the_memory_cap_stops_an_allocation_of_a_large_model():
    # The capped tests below can fail: building the model a file asks for is refused here.
    with pytest.raises(AssertionError, match="MemoryError|Cannot allocate|bad_alloc"):
        capped("from apps.speech.network import TDNN", "TDNN(10, width=4096)")


@pytest.fixture(params=list(APPS))
def app(request, tmp_path):
    name = request.param
    path = tmp_path / f"{name.replace(' ', '_')}.pt"
    APPS[name][0](path)
    return name, path


# ------------------------------------------------------------------------------ the file
def test_a_saved_model_loads_and_its_file_carries_a_digest(app):
    name, path = app
    _load(name, path)
    state = torch.load(path, weights_only=True)
    assert state["format"] == APPS[name][2] and len(state["digest"]) == 64


def _tensor_records(path: Path):
    """(data offset, size) of each tensor record in a torch zip archive, largest first."""
    out = []
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for info in z.infolist():
            if "/data/" in info.filename and info.file_size >= 64:
                f.seek(info.header_offset + 26)
                name_len, extra_len = (int.from_bytes(f.read(2), "little") for _ in range(2))
                out.append((info.header_offset + 30 + name_len + extra_len, info.file_size))
    return sorted(out, key=lambda r: -r[1])


def test_a_64_byte_corruption_inside_the_weights_is_refused(app):
    name, path = app
    offset, size = _tensor_records(path)[0]
    data = bytearray(path.read_bytes())
    middle = offset + (size - 64) // 2
    data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    refused(name, path, "content digest does not match")


def test_edited_settings_under_the_old_digest_are_refused(app):
    name, path = app
    state = torch.load(path, weights_only=True)
    state["payload"]["config"] = json.loads(json.dumps(state["payload"]["config"]))
    first = next(iter(state["payload"]["tensors"].values()))
    key = next(k for k, v in first.items() if v.is_floating_point())
    first[key] = first[key] + 1.0
    torch.save(state, path)
    refused(name, path, "content digest does not match")


@pytest.mark.parametrize(
    "content,match",
    [
        (b"a text file, not a checkpoint\n", "not a torch zip archive"),
        (b"", "not a torch zip archive"),
    ],
)
def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, content, match):
    for name in APPS:
        path = tmp_path / "notes.pt"
        path.write_bytes(content)
        refused(name, path, match)


def test_a_truncated_file_is_refused(app):
    name, path = app
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 100):
        path.write_bytes(data[:cut])
        refused(name, path, "not a readable checkpoint")


def test_missing_file_and_directory(tmp_path):
    for name in APPS:
        refused(name, tmp_path / "absent.pt", "no such checkpoint file")
        refused(name, tmp_path, "is not a file")


def test_another_apps_file_names_both_formats(tmp_path):
    _speech(tmp_path / "speech.pt")
    message = refused("segmenter", tmp_path / "speech.pt", "is not a segmenter checkpoint")
    assert "ebgtn.speech.recognizer" in message


def test_a_file_without_a_digest_says_how_to_retrain(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": "ebgtn-speech", "version": 1, "model": {}, "state": {}}, path)
    message = refused("speech", path, "without a content digest")
    assert "ebgtn speech train" in message
    torch.save({"format": "ebgtn.check_reading/1", "recognizer": {}, "beta": 1.0}, path)
    refused("segmenting reader", path, "ebgtn check-reading train")


# ------------------------------------------------------------------------------ the settings
def _schema(name: str):
    module = APPS[name][1].split(":")[0]
    return __import__(module, fromlist=["SCHEMA"]).SCHEMA


def test_every_settings_key_is_required(app):
    """Every key but those a later version added with one meaning for older files (the
    schema's defaults, e.g. the check readers' amount prior: tested with each app)."""
    name, path = app
    config = read_checkpoint(path, APPS[name][2])["config"]
    original = path.read_bytes()
    for key in [k for k in config if k not in _schema(name).defaults]:
        path.write_bytes(original)
        forge(path, APPS[name][2], lambda p, k=key: p["config"].pop(k))
        message = refused(name, path, f"config lacks {key}")
        assert "earlier version?); train a new one with `ebgtn " in message  # says what to do
    path.write_bytes(original)
    forge(path, APPS[name][2], lambda p: p.pop("tensors"))
    refused(name, path, "must hold a config and tensors")


def test_settings_of_the_wrong_type_are_refused(app):
    name, path = app
    config = read_checkpoint(path, APPS[name][2])["config"]
    key = next(k for k, v in config.items() if not isinstance(v, (dict, list)))
    forge(path, APPS[name][2], lambda p: p["config"].__setitem__(key, {"not": "a value"}))
    refused(name, path, f"config.{key}")


def test_non_finite_settings_are_refused(app):
    name, path = app
    edit = APPS[name][5]
    if edit is None:
        pytest.skip("this app has no real-valued setting")
    forge(path, APPS[name][2], lambda p: edit(p["config"]))
    refused(name, path, "is not a finite number")


def test_non_finite_weights_are_refused(app):
    name, path = app

    def poison(payload):
        group = next(iter(payload["tensors"].values()))
        key = next(k for k, v in group.items() if v.is_floating_point())
        group[key] = torch.full_like(group[key], math.nan)

    forge(path, APPS[name][2], poison)
    refused(name, path, "holds non-finite values")


def test_weights_of_the_wrong_shape_name_the_tensor(app):
    name, path = app

    def reshape(payload):
        group = next(iter(payload["tensors"].values()))
        key = next(k for k, v in group.items() if v.dim() >= 1 and v.is_floating_point())
        group[key] = torch.zeros(group[key].numel() + 1)

    forge(path, APPS[name][2], reshape)
    refused(name, path, "the config implies")


def test_missing_and_extra_weights_are_named(app):
    name, path = app
    original = path.read_bytes()
    forge(path, APPS[name][2], lambda p: next(iter(p["tensors"].values())).popitem())
    refused(name, path, "missing")
    path.write_bytes(original)
    forge(path, APPS[name][2], lambda p: next(iter(p["tensors"].values())).update(x=torch.ones(1)))
    refused(name, path, "unexpected")


# ------------------------------------------------------------------------------ blow-ups
def test_a_small_file_asking_for_a_huge_model_is_refused_before_allocation(app):
    name, path = app
    assert path.stat().st_size < 2_000_000
    original = path.read_bytes()
    for edit in APPS[name][3]:
        path.write_bytes(original)
        forge(path, APPS[name][2], lambda p, e=edit: e(p["config"]))
        line = capped_load(name, path)
        assert line.startswith("CheckpointError:") and str(path) in line, line
        assert "outside" in line or "entries" in line, line


def test_the_largest_allowed_settings_with_small_weights_allocate_nothing(app):
    # In range, but the file's tensors are tiny: the shapes are compared with a model built
    # on the meta device, so no model of the size the settings describe is ever allocated.
    name, path = app
    forge(path, APPS[name][2], lambda p: APPS[name][4](p["config"]))
    line = capped_load(name, path)
    assert line.startswith("CheckpointError:"), line
    assert "the config implies" in line or "do not fit the config" in line, line


def test_a_compressed_archive_member_is_refused_before_inflating(tmp_path):
    # 1 MB of deflated zeros inflates to the 1 GiB tensor its pickle declares.
    _sdnn(tmp_path / "small.pt")
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(tmp_path / "small.pt") as src, zipfile.ZipFile(bomb, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            kind = zipfile.ZIP_DEFLATED if "/data/" in info.filename else zipfile.ZIP_STORED
            out.writestr(info.filename, data, compress_type=kind)
    line = capped_load("sdnn reader", bomb)
    assert "is compressed" in line, line


def _edited_sdnn(path: Path, edit) -> Path:
    """An SDNN reader file at ``path`` whose saved state ``edit`` has changed in place
    (saved by plain ``torch.save``: no digest)."""
    _sdnn(path)
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)
    return path


def test_a_view_claiming_a_huge_shape_over_a_tiny_storage_is_refused(tmp_path):
    def huge_view(state):
        group = state["payload"]["tensors"]["network"]
        group[next(iter(group))] = torch.zeros(1).expand(1 << 30)  # 4 GiB as a dense copy

    path = _edited_sdnn(tmp_path / "view.pt", huge_view)
    assert path.stat().st_size < 2_000_000
    line = capped_load("sdnn reader", path)
    assert "is a view into a storage of 4 bytes" in line, line


def test_repeated_references_cannot_make_the_walk_exponential(tmp_path):
    def laughs(state):
        nested: list = [0]
        for _ in range(50):
            nested = [nested, nested]  # 2**50 leaves, 50 lists in the file, within the depth limit
        state["payload"]["config"]["width"] = nested

    path = _edited_sdnn(tmp_path / "laughs.pt", laughs)
    line = capped_load("sdnn reader", path)  # in a subprocess: a regression times out there
    assert "repeated references" in line, line


def test_a_deeply_nested_payload_is_refused_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.pt"
    _sdnn(path)
    state = torch.load(path, weights_only=True)
    nested: list = []
    for _ in range(5000):  # deeper than Python's recursion limit
        nested = [nested]
    state["payload"]["config"]["width"] = nested
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # only to let pickle write it
    try:
        torch.save(state, path)
    finally:
        sys.setrecursionlimit(limit)
    refused("sdnn reader", path, "nested deeper than")


def test_a_version_that_is_not_a_number_is_refused(tmp_path):
    path = tmp_path / "version.pt"
    _sdnn(path)
    state = torch.load(path, weights_only=True)
    state["version"] = torch.ones(2)
    torch.save(state, path)
    refused("sdnn reader", path, "checkpoint version")
