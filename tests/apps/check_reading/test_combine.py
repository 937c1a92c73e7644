import functools
import itertools

import numpy as np
import pytest

from apps.check_reading import CheckReader, data, experiment
from apps.check_reading import combine as combine_module
from apps.check_reading.amounts import ALPHABET, is_valid_amount
from apps.check_reading.api import answer_log_posteriors, in_batches, read_batch
from apps.check_reading.combine import CombinedReader, combine
from apps.check_reading.model import CheckReaderModel
from apps.check_reading.sdnn import SdnnReader, field_strip
from apps.check_reading.segment import segment


def two_blob_field() -> np.ndarray:
    """Two thin bars with a blank gap: 2 pieces, so readings of 1 or 2 characters."""
    image = np.full((40, 70), 255, np.uint8)
    image[8:32, 10:12] = 0
    image[10:30, 40:42] = 0
    return image


def test_answer_posteriors_sum_to_one_over_every_amount():
    seg = segment(two_blob_field())
    assert seg.cuts.shape[0] == 3  # two pieces, three segments
    model = CheckReaderModel().eval()
    amounts = [
        "".join(t)
        for n in (1, 2)
        for t in itertools.product(ALPHABET, repeat=n)
        if is_valid_amount("".join(t))
    ]
    log_p = answer_log_posteriors(model, [seg] * len(amounts), amounts)
    assert np.isclose(np.exp(log_p).sum(), 1.0, atol=1e-5)
    assert answer_log_posteriors(model, [seg, seg], ["1,", "123"]).tolist() == [-np.inf] * 2


def test_answer_posteriors_agree_with_each_readers_confidence(small_train, small_prepared):
    segs = small_prepared.segmentations[:5]
    strips = [field_strip(f.image) for f in small_train.fields[:5]]
    model, sdnn = CheckReaderModel().eval(), SdnnReader()
    answers, conf, _ = read_batch(model, segs)
    assert np.allclose(np.exp(answer_log_posteriors(model, segs, answers)), conf)
    answers, conf = sdnn.read_strips(strips)
    assert np.allclose(np.exp(sdnn.answer_log_posteriors(strips, answers)), conf)


def test_combination_takes_the_better_geometric_mean_of_the_two_answers(
    small_train, small_prepared
):
    n = 8
    segs = small_prepared.segmentations[:n]
    strips = [field_strip(f.image) for f in small_train.fields[:n]]
    model, sdnn = CheckReaderModel().eval(), SdnnReader()
    answers, conf = combine(model, sdnn, segs, strips)
    seg_answers, _, _ = read_batch(model, segs)
    sdnn_answers, _ = sdnn.read_strips(strips)

    def geometric_mean(candidates):
        return np.exp(
            0.5
            * (
                answer_log_posteriors(model, segs, candidates)
                + sdnn.answer_log_posteriors(strips, candidates)
            )
        )

    by_seg, by_sdnn = geometric_mean(seg_answers), geometric_mean(sdnn_answers)
    assert np.allclose(conf, np.maximum(by_seg, by_sdnn))
    for a, s, d in zip(answers, seg_answers, sdnn_answers, strict=True):
        assert a in (s, d)
    assert np.all((conf >= 0) & (conf <= 1))


def test_combined_reader_reads_images_and_names_bad_input(small_train):
    reader = CombinedReader(CheckReader(), SdnnReader())
    images = small_train.images[:3] + [np.full((40, 90), 255, np.uint8)]
    out = reader.read(images)
    assert len(out) == 4 and out[-1] == ("", 0.0)
    assert all(0 <= c <= 1 and (a == "" or is_valid_amount(a)) for a, c in out)
    with pytest.raises(ValueError, match="image 1 .* colour image"):
        reader.read([images[0], np.zeros((40, 90, 3), np.uint8)])
    with pytest.raises(ValueError, match="2 segmentations but 1 strips"):
        combine(CheckReaderModel(), SdnnReader(), [segment(images[0])] * 2, [images[0]])


def test_cli_evaluate_adds_the_product_of_a_segmenting_and_an_sdnn_checkpoint(tmp_path, capsys):
    from apps.cli import main

    CheckReader().save(tmp_path / "seg.pt")
    SdnnReader().save(tmp_path / "sdnn.pt")
    argv = ["check-reading", "evaluate", str(tmp_path / "seg.pt"), str(tmp_path / "sdnn.pt")]
    options = ["--test-fields", "6", "--cache-dir", str(tmp_path), "--out", str(tmp_path)]
    assert main([*argv, *options, "--quiet"]) == 0
    table = capsys.readouterr().out.splitlines()[2:5]  # a markdown table: head, rule, rows
    rows = [[cell.strip() for cell in line.split("|")[1:3]] for line in table]
    assert rows == [["seg", "6"], ["sdnn", "6"], ["seg x sdnn", "6"]]
    assert (tmp_path / "error_reject.png").stat().st_size > 1000
    # --heldout-fields adds the same readers' table on fields of each held-out style, in turn
    assert main([*argv, *options, "--quiet", "--heldout-fields", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    titles = [line for line in out if line.startswith("held-out style")]
    assert titles == ["held-out style (ledger):", "held-out style (phone):"]
    for title in titles:
        at = out.index(title)
        rows = [[cell.strip() for cell in line.split("|")[1:3]] for line in out[at + 4 : at + 7]]
        assert rows == [["seg", "4"], ["sdnn", "4"], ["seg x sdnn", "4"]]


def test_evaluation_reads_each_batch_once_and_gets_what_each_reader_gets_alone(
    small_train, small_prepared, monkeypatch
):
    n, batch = 7, 3
    monkeypatch.setattr(experiment, "READ_BATCH", batch)
    fields, prepared = data.FieldSet("train", small_train.fields[:n]), small_prepared.head(n)
    readers = {"a": CheckReaderModel(), "b": CheckReaderModel(), "s": SdnnReader()}
    built = []
    graphs = experiment.field_graphs

    def counted(model, segs):
        built.append(model)
        return graphs(model, segs)

    monkeypatch.setattr(experiment, "field_graphs", counted)
    monkeypatch.setattr(combine_module, "field_graphs", counted)
    rows, _ = experiment.evaluate_all(readers, fields, prepared)
    assert list(rows) == ["a", "b", "s", "a x s", "b x s"]
    assert len(built) == 2 * -(-n // batch)  # each segmenting reader, once per batch

    def alone(read, *columns):
        return experiment.evaluate.results(
            *in_batches(read, *columns, batch_size=batch), fields.texts
        )[0]

    segs, strips = prepared.segmentations, prepared.strips
    for name in ("a", "b"):
        model = readers[name].eval()
        assert rows[name] == alone(lambda s, m=model: read_batch(m, s)[:2], segs)
        both = functools.partial(combine, model, readers["s"])
        assert rows[f"{name} x s"] == alone(both, segs, strips)
    assert rows["s"] == alone(readers["s"].read_strips, strips)
