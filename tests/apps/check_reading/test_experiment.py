"""The experiment driver behind ``demo`` and ``train``, on a tiny configuration."""

import json

from apps.check_reading import CheckReader, data
from apps.check_reading.amounts import shape_counts
from apps.check_reading.experiment import Config, run
from apps.check_reading.sdnn import SdnnReader


def tiny(tmp_path, **changes) -> Config:
    """A configuration that trains in seconds, its fields cached under ``tmp_path``."""
    return Config(local_epochs=1, cache_dir=str(tmp_path / "cache"), **changes)


def test_run_trains_every_system_and_writes_results_and_figures(tmp_path):
    config = tiny(tmp_path, train_fields=40, test_fields=12, heldout_fields=6, global_epochs=1,
                  global_fields=8, losses=("nll",), sdnn_epochs=1)  # fmt: skip
    rows = run(config, tmp_path / "out", progress=False, figure_fields=1)
    assert list(rows) == ["local", "global nll", "space displacement", "global nll x sdnn"]
    for row in rows.values():
        assert row["fields"] == 12 and 0 <= row["char_accuracy"] <= 1
        point = row["zero_reject"]
        assert abs(point.correct + point.error - 1) < 1e-9 and point.reject == 0
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(saved["rows"]) == set(rows) and saved["config"]["sdnn_epochs"] == 1
    # every held-out style is evaluated beside the own test fields, each its own table (the
    # ledger's first), every reader on each
    titles = ["own test fields", "held-out style (ledger)", "held-out style (phone)"]
    assert list(saved["tables"]) == titles
    for title in titles[1:]:
        heldout = saved["tables"][title]
        assert set(heldout) == set(rows) and all(r["fields"] == 6 for r in heldout.values())
    report = (tmp_path / "out" / "results.md").read_text()
    assert all(f"{title}:" in report for title in titles)
    for name in ("local.pt", "global_nll.pt", "sdnn.pt", "error_reject.png", "field_0.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    # every reader reads with the amount prior of the training fields
    texts = data.load_or_generate("train", 40, config.seed, cache_dir=config.cache_dir).texts
    for name in ("local.pt", "global_nll.pt"):
        assert CheckReader.load(tmp_path / "out" / name).model.prior == shape_counts(texts)
    assert SdnnReader.load(tmp_path / "out" / "sdnn.pt").prior == shape_counts(texts)


def test_run_can_start_from_a_saved_local_recogniser(tmp_path):
    config = tiny(tmp_path, train_fields=30, test_fields=10, heldout_fields=0, losses=(),
                  sdnn_epochs=0)  # fmt: skip
    first = run(config, tmp_path / "a", progress=False, figure_fields=0)
    again = Config(**{**config.__dict__, "local_checkpoint": str(tmp_path / "a" / "local.pt")})
    second = run(again, tmp_path / "b", progress=False, figure_fields=0)
    assert list(second) == ["local"] and second["local"] == first["local"]
