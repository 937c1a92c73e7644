"""The trainer's checkpoints under interruption and bad paths.

What resuming mid-epoch means: the run continues the interrupted epoch from the next batch,
and the epoch's history record is the mean loss (and metric) over *all* of its batches, those
before the interruption included, so the history equals an uninterrupted run's exactly.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from factors import StructuredLoss, Trainer, chain
from factors.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from factors.trainer import FORMAT

ROOT = Path(__file__).resolve().parents[2]
K, N, D = 3, 4, 4  # labels, positions, features; 20 examples in batches of 4: 5 per epoch


class Stop(Exception):
    """Stands for the process being killed."""


def make_model(seed=0):
    torch.manual_seed(seed)
    unary = nn.Sequential(nn.Linear(D, 8), nn.Dropout(0.2), nn.Tanh(), nn.Linear(8, K))
    return chain(N, K, unary=unary, pairwise="full")


def loader():
    gen = torch.Generator().manual_seed(1)
    data = TensorDataset(
        torch.randn(20, N, D, generator=gen), torch.randint(0, K, (20, N), generator=gen)
    )
    return DataLoader(data, batch_size=4, shuffle=True)


class Counting:
    """The NLL loss, stopping the run at call ``stop_at`` (1-based); counts calls."""

    def __init__(self, stop_at=None):
        self.loss, self.stop_at, self.calls = StructuredLoss("nll"), stop_at, 0

    def __call__(self, model, x, y):
        self.calls += 1
        if self.calls == self.stop_at:
            raise Stop
        return self.loss(model, x, y)


def trainer(path, loss=None, resume=False, every=3, validate=None, model=None):
    model = model or make_model()
    return Trainer(
        model, loss or Counting(), torch.optim.Adam(model.parameters(), lr=0.05),
        epochs=3, seed=3, checkpoint=path, checkpoint_every=every, resume=resume,
        metric=lambda m, x, y: float(x.abs().mean()), validate=validate, progress=False,
    )  # fmt: skip


@pytest.mark.parametrize("stop_at", [5, 8, 12], ids=["epoch-1-batch-5", "mid-epoch-2", "epoch-3"])
def test_history_after_a_resume_equals_an_uninterrupted_run(tmp_path, stop_at):
    reference = trainer(tmp_path / "a.pt").fit(loader())
    with pytest.raises(Stop):
        trainer(tmp_path / "b.pt", Counting(stop_at)).fit(loader())
    resumed = trainer(tmp_path / "b.pt", resume=True, model=make_model(seed=5)).fit(loader())
    assert resumed == reference
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["metric"]) for r in resumed)


def test_a_checkpoint_taken_at_the_last_batch_of_an_epoch_resumes_without_nan(tmp_path):
    # Checkpoints every 5 steps = at each epoch's last batch; stopping in the epoch's
    # validation leaves that checkpoint (epoch 0, after batch 5), not the epoch-end one.
    def failing(model):
        raise Stop

    reference = trainer(tmp_path / "a.pt", every=5).fit(loader())
    with pytest.raises(Stop):
        trainer(tmp_path / "b.pt", every=5, validate=failing).fit(loader())
    assert read_checkpoint(tmp_path / "b.pt", FORMAT)["batch"] == 5
    loss = Counting()
    resumed = trainer(tmp_path / "b.pt", loss, resume=True, every=5).fit(loader())
    assert resumed == reference and loss.calls == 10


# ------------------------------------------------------------------------------ killed saves
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_save_killed_by_sigkill_leaves_a_temporary_file_the_next_start_removes(tmp_path):
    path = tmp_path / "ckpt.pt"
    code = textwrap.dedent(f"""
        import os, signal, sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        import factors.checkpoint as ck
        def dying_save(obj, f):
            f.write(b"x" * 100_000)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        ck.torch.save = dying_save
        ck.write_checkpoint({str(path)!r}, "ebgtn.factors.trainer", {{"w": torch.zeros(3)}})
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    assert done.returncode == -9
    orphans = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(orphans) == 1 and orphans[0].startswith(".ckpt.pt.") and not path.exists()
    alive = tmp_path / f".ckpt.pt.{os.getpid()}-0123456789ab.tmp"  # a write in progress
    alive.write_bytes(b"")
    with pytest.raises(Stop):  # the start alone cleans up, before any step
        trainer(path, Counting(stop_at=1)).fit(loader())
    assert sorted(os.listdir(tmp_path)) == [alive.name]


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "ckpt.pt"
    stale = [
        tmp_path / f".ckpt.pt.{_dead_pid()}-a1b2c3d4e5f6.tmp",
        tmp_path / ".ckpt.pt.a1b2c3d4e5f6.tmp",  # the older name, without a process id
    ]
    kept = [
        tmp_path / f".ckpt.pt.{os.getppid()}-a1b2c3d4e5f6.tmp",  # a running process's
        tmp_path / ".other.pt.a1b2c3d4e5f6.tmp",  # another file's
        tmp_path / "notes.tmp",
    ]
    for p in stale + kept:
        p.write_bytes(b"partial")
    trainer(path).fit(loader())
    assert sorted(os.listdir(tmp_path)) == sorted([path.name] + [p.name for p in kept])


# ------------------------------------------------------------------------------ bad paths
def test_a_checkpoint_under_a_file_is_one_clear_error_before_training(tmp_path):
    (tmp_path / "results").write_text("a file, not a folder")
    loss = Counting()
    with pytest.raises(CheckpointError, match=r"results is a file, so no directory") as err:
        trainer(tmp_path / "results" / "run" / "ckpt.pt", loss).fit(loader())
    assert loss.calls == 0 and "\n" not in str(err.value)


def test_a_checkpoint_path_that_is_a_directory_is_refused_before_training(tmp_path):
    loss = Counting()
    with pytest.raises(CheckpointError, match="is a directory"):
        trainer(tmp_path, loss).fit(loader())
    assert loss.calls == 0


def _writable(folder: Path) -> bool:
    probe = folder / f".ebgtn-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def unwritable(tmp_path):
    """A folder this process cannot write in: a read-only one, or /sys when running as root."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if not _writable(folder):
            yield folder
        elif Path("/sys").is_dir() and not _writable(Path("/sys")):
            yield Path("/sys")
        else:
            pytest.skip("no unwritable folder on this machine")
    finally:
        folder.chmod(0o700)


def test_an_unwritable_checkpoint_is_reported_at_start_not_at_the_first_save(unwritable):
    loss = Counting()
    with pytest.raises(CheckpointError, match="cannot be written") as err:
        trainer(unwritable / "ckpt.pt", loss).fit(loader())
    assert loss.calls == 0 and "\n" not in str(err.value)


# ------------------------------------------------------------------------------ bad files
def test_a_truncated_trainer_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "ckpt.pt"
    trainer(path).fit(loader())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="ckpt.pt is not a readable checkpoint") as err:
        trainer(path, resume=True).fit(loader())
    assert "\n" not in str(err.value)


def _forge(path, edit):
    state = read_checkpoint(path, FORMAT)
    edit(state)
    write_checkpoint(path, FORMAT, state)


def _python_word(value):
    """An edit setting the first word of Python's RNG state."""

    def edit(state):
        version, words, gauss = state["rng"]["python"]
        state["rng"]["python"] = (version, (value, *words[1:]), gauss)

    return edit


def _numpy_rng(index, value):
    """An edit setting field ``index`` of numpy's (kind, keys, pos, has_gauss, cached) state."""

    def edit(state):
        fields = list(state["rng"]["numpy"])
        fields[index] = value(fields[index]) if callable(value) else value
        state["rng"]["numpy"] = tuple(fields)

    return edit


def _group(**values):
    return lambda s: s["optimizer"]["param_groups"][0].update(values)


def _adam_state(**values):
    return lambda s: s["optimizer"]["state"][0].update(values)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda s: s.update(step=-1), "step must be an integer >= 0"),
        (lambda s: s.update(epoch=10**30), "epoch 1000000000000000000000000000000 .* past the end"),
        (lambda s: s.update(epoch=4), "epoch 4 .* past the end of this run's 3 epochs"),
        (_python_word(2**70), r"rng\['python'\] word 0 is 1180591620717411303424, not a 32-bit"),
        (_python_word(-1), r"rng\['python'\] word 0 is -1"),
        (_numpy_rng(2, 2**70), r"rng\['numpy'\] pos is 1180591620717411303424"),
        (_numpy_rng(1, lambda keys: keys + 2**32), r"keys .* outside \[0, 2\*\*32\)"),
        (_numpy_rng(4, math.nan), r"rng\['numpy'\] cached_gaussian is nan"),
        (_group(lr=math.nan), r"param_groups\[0\]\['lr'\] is nan, not finite"),
        (_group(lr=-0.5), r"param_groups\[0\]\['lr'\] is -0.5, not a number >= 0"),
        (_group(betas="xy"), r"param_groups\[0\]\['betas'\] is 'xy', but this optimizer's"),
        (_group(betas=(0.9, 1.5)), r"param_groups\[0\]\['betas'\] .* not numbers in \[0, 1\)"),
        (_adam_state(exp_avg=torch.zeros(1)), r"\['exp_avg'\] is a tensor of shape \[1\]"),
        (_adam_state(step=torch.tensor(-5.0)), r"state\[0\]\['step'\] is tensor\(-5.0\), not"),
        (lambda s: s.update(batch=2.5), "batch must be an integer"),
        (lambda s: s.update(batch=3), "0 epoch losses and 0 metrics for 3 batches"),
        (lambda s: s.pop("rng"), "a trainer checkpoint holds"),
        (lambda s: s["rng"].update(numpy=("MT19937",)), "RNG states are malformed"),
        (lambda s: s.update(history=[{1: 2.0}]), "history must be a list of records"),
        (lambda s: s["model"].popitem(), "model weights do not fit"),
        (lambda s: s["optimizer"].update(param_groups=[]), "optimizer state does not fit"),
    ],
)
def test_a_malformed_trainer_checkpoint_names_the_problem(tmp_path, edit, match):
    path = tmp_path / "ckpt.pt"
    trainer(path).fit(loader())
    _forge(path, edit)
    loss = Counting()
    with pytest.raises(CheckpointError, match=match) as err:
        trainer(path, loss, resume=True).fit(loader())
    assert "\n" not in str(err.value) and "ckpt.pt" in str(err.value) and loss.calls == 0


def test_a_checkpoint_past_the_end_of_a_smaller_epoch_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(Stop):
        trainer(path, Counting(stop_at=5), every=4).fit(loader())  # saved after batch 4
    small = DataLoader(TensorDataset(torch.randn(8, N, D), torch.zeros(8, N).long()), 4)
    with pytest.raises(CheckpointError, match="stopped after batch 4 .* has 2 batches"):
        trainer(path, resume=True).fit(small)
