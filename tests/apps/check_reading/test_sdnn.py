import numpy as np
import pytest
import torch

import gtn
from apps.check_reading import CheckpointError, CheckReader
from apps.check_reading.amounts import ALPHABET, is_valid_amount, sample_amount
from apps.check_reading.network import NUM_LABELS, SpaceDisplacementNet
from apps.check_reading.sdnn import BLANK, SdnnReader, decoding_graph, field_strip
from apps.check_reading.sdnn_train import ctc_field_loss, strip_loader, train_sdnn


def collapse(frames: list[int]) -> str:
    """The CTC reading of a frame label sequence: merge repeats, drop blanks."""
    out, prev = [], None
    for f in frames:
        if f != prev and f != BLANK:
            out.append(ALPHABET[f - 1])
        prev = f
    return "".join(out)


def expand(text: str, rng) -> list[int]:
    """A random CTC alignment of ``text``: repeats, optional blanks, required blanks."""
    frames = [BLANK] * int(rng.integers(0, 2))
    for i, c in enumerate(text):
        label = 1 + ALPHABET.index(c)
        if i and text[i - 1] == c or rng.random() < 0.3:
            frames.append(BLANK)
        frames += [label] * int(rng.integers(1, 3))
    return frames + [BLANK] * int(rng.integers(0, 2))


def frame_sequences(n: int, seed: int = 0) -> list[list[int]]:
    """Alignments of valid amounts, half of them corrupted (a frame replaced, a blank between
    repeats dropped, or random frames), so that both outcomes are well represented."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        frames = expand(sample_amount(rng), rng)
        kind = rng.integers(0, 4)
        if kind == 1:
            frames[rng.integers(len(frames))] = int(rng.integers(0, NUM_LABELS))
        elif kind == 2:
            frames = [f for f in frames if f != BLANK]
        elif kind == 3:
            frames = rng.integers(0, NUM_LABELS, len(frames)).tolist()
        out.append(frames)
    return out


def one_hot_energies(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(map(len, sequences))
    em = torch.full((len(sequences), T, NUM_LABELS), float("inf"), dtype=torch.float64)
    for b, s in enumerate(sequences):
        em[b, torch.arange(len(s)), torch.tensor(s)] = 0.0
    return em, torch.tensor([len(s) for s in sequences])


def test_decoding_graph_accepts_exactly_ctc_alignments_of_grammatical_amounts():
    graph, olabel = decoding_graph()
    sequences = frame_sequences(600)
    em, lengths = one_hot_energies(sequences)
    lattice = gtn.intersect_dense(graph, em, lengths)
    accepted = torch.isfinite(lattice.min_energy()).numpy()
    expected = np.array([is_valid_amount(collapse(s)) for s in sequences])
    assert 100 < expected.sum() < 500  # both outcomes tested
    np.testing.assert_array_equal(accepted, expected)
    arcs = lattice.best_alignment().arcs.numpy()
    for b in np.flatnonzero(expected):
        out = [c for c in olabel[arcs[b, : lengths[b]]] if c >= 0]
        assert "".join(ALPHABET[c] for c in out) == collapse(sequences[b])


def test_strip_is_the_ink_band_at_segment_scale(small_train):
    for f in small_train.fields[:5]:
        strip = field_strip(f.image)
        assert strip.shape[0] == 32 and strip.dtype == np.float32
        assert strip[:2].max() == 0 and strip[30:].max() == 0  # 2-row margins as segments
        assert strip[2:30].max() > 0.5 and 0 <= strip.min() and strip.max() <= 1
    blank = field_strip(np.full((40, 100), 255, np.uint8))
    assert blank.shape[0] == 32 and blank.max() == 0


def test_network_gives_normalised_energies_per_two_columns():
    net = SpaceDisplacementNet()
    em = net(torch.rand(3, 1, 32, 50))
    assert em.shape == (3, 25, NUM_LABELS)
    assert torch.allclose(torch.exp(-em).sum(-1), torch.ones(3, 25), atol=1e-5)
    with pytest.raises(ValueError, match="strips must be"):
        net(torch.rand(3, 32, 50))


def test_ctc_field_loss_reaches_every_parameter_and_training_lowers_it(small_train):
    strips = [field_strip(f.image) for f in small_train.fields[:32]]
    texts = small_train.texts[:32]
    reader = SdnnReader()
    x, y = next(iter(strip_loader(strips, texts, batch_size=32)))
    before = ctc_field_loss(reader.network, x, y)
    before.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in reader.network.parameters())
    train_sdnn(reader, strips, texts, epochs=15, batch_size=8, lr=3e-3, progress=False)
    with torch.no_grad():
        after = ctc_field_loss(reader.network, x, y)
    assert after < 0.7 * before.detach()


def test_read_gives_grammatical_answers_with_posterior_confidence(small_train):
    reader = SdnnReader()
    out = reader.read(
        [f.image for f in small_train.fields[:6]] + [np.full((40, 90), 255, np.uint8)]
    )
    assert len(out) == 7 and out[-1] == ("", 0.0)
    for a, c in out:
        assert 0 <= c <= 1 and ((a == "" and c == 0) or is_valid_amount(a))
    with pytest.raises(ValueError, match="image 1 .* colour image"):
        reader.read([small_train.fields[0].image, np.zeros((40, 90, 3), np.uint8)])


def test_checkpoint_round_trip_and_rejection(tmp_path, small_train):
    reader = SdnnReader()
    path = reader.save(tmp_path / "sdnn.pt")
    again = SdnnReader.load(path)
    images = [f.image for f in small_train.fields[:3]]
    assert again.read(images) == reader.read(images)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt is not a readable checkpoint"):
        SdnnReader.load(tmp_path / "bad.pt")
    CheckReader().save(tmp_path / "seg.pt")
    with pytest.raises(CheckpointError, match="is not a SDNN check reader checkpoint"):
        SdnnReader.load(tmp_path / "seg.pt")


@pytest.mark.parametrize("kind", ["segmenting", "space-displacement"])
def test_cli_reads_an_image_file_with_either_kind_of_checkpoint(
    tmp_path, small_train, capsys, kind
):
    from PIL import Image

    from apps.cli import main

    reader = SdnnReader() if kind == "space-displacement" else CheckReader()
    checkpoint = reader.save(tmp_path / "reader.pt")
    image = tmp_path / "field.png"
    Image.fromarray(small_train.fields[0].image).save(image)
    figure = tmp_path / "reading.png"
    args = ["check-reading", "read", str(image), "--checkpoint", str(checkpoint)]
    assert main([*args, "--figure", str(figure)]) == 0
    amount, confidence = capsys.readouterr().out.splitlines()[0].split("\t")[1:]
    assert (amount, float(confidence)) == pytest.approx(
        reader.read([small_train.fields[0].image])[0], abs=1e-4
    )
    assert figure.stat().st_size > 1000


def test_training_batches_hold_strips_of_similar_width_in_random_order():
    widths = np.random.default_rng(0).integers(20, 240, 330)
    strips = [np.zeros((32, w), np.float32) for w in widths]
    loader = strip_loader(strips, ["1.00"] * len(strips), batch_size=32)
    epochs = [[x[1] for x, _ in loader] for _ in range(2)]
    for batches in epochs:
        assert sorted(int(w) for b in batches for w in b) == sorted(widths.tolist())
        assert [len(b) for b in batches] == [32] * 10 + [10]  # the short batch comes last
        padded = sum(len(b) * int(b.max()) for b in batches)
        assert padded < 1.25 * widths.sum()  # random batches: about 1.8 times
    assert [b.tolist() for b in epochs[0]] != [b.tolist() for b in epochs[1]]
