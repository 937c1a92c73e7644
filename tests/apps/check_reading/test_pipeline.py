import numpy as np
import pytest
import torch

import gtn
from apps._common.checkpoint import read_format
from apps.check_reading import CheckpointError, CheckReader, CheckReaderModel
from apps.check_reading.amounts import sample_amount, shape_counts
from apps.check_reading.api import read_batch
from apps.check_reading.model import make_batch
from apps.check_reading.train import GraphLoss
from factors.model import StructuredLoss


@pytest.fixture
def tiny(small_prepared):
    batch = make_batch(small_prepared.segmentations[:3])
    return batch, small_prepared.targets[:3]


def test_shapes_through_the_stack(tiny):
    batch, _ = tiny
    model = CheckReaderModel()
    energies = model.segment_energies(batch)
    assert energies.shape == (int(batch.offsets[-1]), 15)
    assert torch.allclose(torch.exp(-energies).sum(1), torch.ones(energies.shape[0]), atol=1e-5)
    interps = model.interpretation_graphs(batch, energies)
    for g, seg in zip(interps, batch.segmentations, strict=True):
        assert g.num_arcs == 14 * seg.num_segments and g.num_nodes == len(seg.cuts)
    answers = model.infer(batch)
    assert len(answers) == 3 and all(max(a, default=0) < 14 for a in answers)


def test_reading_runs_the_recogniser_in_chunks_with_the_same_energies(tiny, monkeypatch):
    from apps.check_reading import model as model_module

    batch, _ = tiny
    model = CheckReaderModel().eval()
    whole = model.segment_energies(batch)  # gradients on: one call
    sizes = []
    forward = model.recognizer.forward
    monkeypatch.setattr(
        model.recognizer, "forward", lambda x, a: sizes.append(len(x)) or forward(x, a)
    )
    monkeypatch.setattr(model_module, "READ_CHUNK", 50)
    with torch.no_grad():
        chunked = model.segment_energies(batch)
    assert len(sizes) > 1 and max(sizes) <= 50 and sum(sizes) == whole.shape[0]
    torch.testing.assert_close(chunked, whole.detach(), rtol=1e-5, atol=1e-5)


def amount_prior() -> list[int]:
    rng = np.random.default_rng(0)
    return shape_counts([sample_amount(rng) for _ in range(300)])


@pytest.mark.parametrize("prior", [False, True])
@pytest.mark.parametrize("name", ["nll", "perceptron", "hinge"])
def test_global_losses_are_nonnegative_and_reach_every_layer(tiny, name, prior):
    batch, targets = tiny
    model = CheckReaderModel(
        latent="sum" if name == "nll" else "min", prior=amount_prior() if prior else None
    )
    per = GraphLoss(name).per_example(model, batch, targets)
    finite = torch.isfinite(per)
    assert finite.any() and (per[finite] >= -1e-4).all()
    GraphLoss(name)(model, batch, targets).backward()
    for p in model.recognizer.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert all(float(p.grad.abs().sum()) > 0 for p in model.recognizer.parameters())


# hinge is left out: factors.model.cost_of needs tensor answers (ours are ragged label lists).
@pytest.mark.parametrize("prior", [False, True])
@pytest.mark.parametrize("name,latent", [("nll", "sum"), ("perceptron", "min")])
def test_fused_loss_equals_factors_structured_loss(tiny, name, latent, prior):
    """Also with the amount prior: the generic loss sees it only through ``energy``,
    ``free_energy`` and ``infer``, the fused one through the lattices and ``answers``."""
    batch, targets = tiny
    model = CheckReaderModel(latent=latent, prior=amount_prior() if prior else None)
    fused = GraphLoss(name).per_example(model, batch, targets)
    generic = StructuredLoss(name).per_example(model, batch, targets)
    finite = torch.isfinite(fused)
    assert finite.any()
    assert torch.allclose(fused[finite], generic[finite], atol=1e-4)


def test_confidence_is_a_posterior_in_unit_interval(small_prepared):
    model = CheckReaderModel()
    answers, conf, _ = read_batch(model, small_prepared.segmentations[:6])
    assert len(answers) == 6 and np.all((conf >= 0) & (conf <= 1))


def test_reader_round_trip_and_read(tmp_path, small_train):
    reader = CheckReader()
    path = reader.save(tmp_path / "r.pt")
    assert read_format(path).startswith("ebgtn.check_reading")
    loaded = CheckReader.load(path)
    images = small_train.images[:3]
    assert loaded.read(images) == reader.read(images)
    as_float = [im.astype(np.float64) / 255 for im in images]
    assert [a for a, _ in loaded.read(as_float)] == [a for a, _ in reader.read(images)]


@pytest.mark.parametrize(
    "image,error,match",
    [
        (np.zeros((0, 0), np.uint8), ValueError, "empty"),
        (np.full((40, 80, 3), 255, np.uint8), ValueError, "colour"),
        (np.full((40, 80), 255, np.int32), TypeError, "dtype"),
        (np.full((40, 80), 2.0), ValueError, r"\[0, 1\]"),
        ([[255] * 40] * 40, TypeError, "numpy"),
    ],
)
def test_bad_images_get_clear_errors(image, error, match):
    with pytest.raises(error, match=match):
        CheckReader().read([image])


def test_corrupt_or_foreign_checkpoints_get_clear_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        CheckReader.load(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="is not a segmenting check reader checkpoint"):
        CheckReader.load(other)
    with pytest.raises(CheckpointError, match="no such"):
        CheckReader.load(tmp_path / "missing.pt")


def test_best_path_energy_is_the_lattice_minimum(tiny):
    batch, _ = tiny
    model = CheckReaderModel()
    lattices = model.lattices(model.interpretation_graphs(batch))
    best = gtn.best_path(lattices)
    assert torch.allclose(gtn.min_energy(lattices), gtn.min_energy(best))
