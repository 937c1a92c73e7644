"""``ebgtn segment``: generate, clean and clear failures (training runs are in test_training)."""

import numpy as np
import pytest
import torch
from PIL import Image

from apps.cli import main
from apps.segmentation import Segmenter
from apps.segmentation.cleanup import CleanupModel
from apps.segmentation.labeller import Labeller


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """``--threads`` sets torch's thread count for the whole process: restore it after each
    test, so that later tests run as they would alone."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_generate_caches_and_describes_the_sets(tmp_path, capsys):
    args = ["segment", "generate", "--task", "horse", "--cache-dir", str(tmp_path)]
    sizes = ["--labeller-images", "2", "--interaction-images", "1"]
    sizes += ["--validation-images", "1", "--test-images", "2"]
    assert main(args + sizes) == 0
    out = capsys.readouterr().out
    assert "horse   train" in out and "horse   test" in out and "ground" in out
    assert len(list(tmp_path.glob("*.npz"))) == 3


def _tiny_model(path):
    torch.manual_seed(0)
    labeller = Labeller(2, channels=4, dilations=(1,))
    Segmenter(labeller, CleanupModel(2, 4), ("ground", "horse"), "icm", {"task": "horse"}).save(
        path
    )


def test_clean_labels_an_image_file(tmp_path, capsys):
    _tiny_model(tmp_path / "m.pt")
    image = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((12, 15)) * 255).astype(np.uint8)).save(image)
    labels = tmp_path / "labels.npy"
    args = ["segment", "clean", str(image), "--model", str(tmp_path / "m.pt")]
    assert main(args + ["--method", "mean-field", "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "12×15 pixels" in out and "energy" in out
    assert np.load(labels).shape == (12, 15)
    assert (tmp_path / "in.labels.png").exists()


def test_clean_refuses_a_file_that_is_not_an_image(tmp_path, capsys):
    _tiny_model(tmp_path / "m.pt")
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    assert main(["segment", "clean", str(bad), "--model", str(tmp_path / "m.pt")]) == 2
    assert "is not an image file" in capsys.readouterr().err


def test_unknown_inference_method_is_reported(tmp_path, capsys):
    _tiny_model(tmp_path / "m.pt")
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    args = ["segment", "clean", str(image), "--model", str(tmp_path / "m.pt"), "--method", "bp"]
    assert main(args) == 2
    assert "unknown inference method 'bp'" in capsys.readouterr().err


def test_clean_writes_the_label_map_as_png_too(tmp_path):
    _tiny_model(tmp_path / "m.pt")
    image = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(1).random((10, 9)) * 255).astype(np.uint8)).save(image)
    model = ["--model", str(tmp_path / "m.pt"), "--method", "icm"]
    assert main(["segment", "clean", str(image), *model, "--labels", str(tmp_path / "a.npy")]) == 0
    assert main(["segment", "clean", str(image), *model, "--labels", str(tmp_path / "a.png")]) == 0
    png = np.asarray(Image.open(tmp_path / "a.png"))
    assert png.shape == (10, 9) and (png == np.load(tmp_path / "a.npy")).all()


def test_evaluate_writes_its_report_into_a_new_folder(tmp_path):
    _tiny_model(tmp_path / "m.pt")
    out = tmp_path / "new" / "folder"
    args = ["segment", "evaluate", str(tmp_path / "m.pt"), "--cache-dir", str(tmp_path)]
    args += ["--validation-images", "1", "--test-images", "1", "--methods", "icm", "--quiet"]
    assert main(args + ["--out", str(out)]) == 0
    assert (out / "horse_results.md").read_text().startswith("## horse")
