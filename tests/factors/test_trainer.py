"""The trainer: checkpoints are atomic, a killed run resumes to the same parameters, and two
data-parallel processes end equal to one process on the same global batches."""

import os
import socket

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from factors import StructuredLoss, Trainer, TrainingOptions, chain
from factors.checkpoint import read_checkpoint
from factors.trainer import FORMAT, cosine_schedule

K, N, D = 3, 5, 4


class Labeller(nn.Module):
    """Unary energies from a small network with dropout, so that RNG state matters."""

    def __init__(self, dropout=0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 8), nn.Dropout(dropout), nn.Tanh(), nn.Linear(8, K))

    def forward(self, x):
        return -self.net(x)


def make_model(seed=0, dropout=0.2):
    torch.manual_seed(seed)
    return chain(N, K, unary=Labeller(dropout), pairwise="full")


def dataset(size=40, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(size, N, D, generator=gen), torch.randint(0, K, (size, N), generator=gen)
    )


class Crash(Exception):
    pass


class CrashingLoss:
    """The NLL loss, raising at step ``at`` to simulate a killed process."""

    def __init__(self, at=None):
        self.loss, self.at, self.calls = StructuredLoss("nll"), at, 0

    def __call__(self, model, x, y):
        self.calls += 1
        if self.at is not None and self.calls == self.at:
            raise Crash
        return self.loss(model, x, y)


def adam(params):
    return torch.optim.Adam(params, lr=0.05)


def run(tmp_path, crash_at=None, resume=False, model=None, schedule=None, optimizer=adam):
    model = model or make_model()
    opt = optimizer(model.parameters())
    loader = DataLoader(dataset(), batch_size=8, shuffle=True)
    trainer = Trainer(
        model,
        CrashingLoss(crash_at),
        opt,
        epochs=3,
        seed=7,
        grad_clip=1.0,
        checkpoint=tmp_path / "ckpt.pt",
        checkpoint_every=4,
        resume=resume,
        progress=False,
        validate=lambda m: {"n": 1.0},
        schedule=schedule,
    )
    return model, trainer.fit(loader), trainer


@pytest.mark.parametrize("schedule", [None, cosine_schedule()], ids=["fixed-lr", "cosine-lr"])
@pytest.mark.parametrize("crash_at", [11, 14], ids=["after-epoch-end", "mid-epoch"])
def test_a_killed_run_resumes_to_the_same_parameters(tmp_path, crash_at, schedule):
    # 5 batches per epoch, checkpoints every 4 steps and after each epoch: crashing in step 11
    # resumes from the end of epoch 2 (step 10), in step 14 from the middle of epoch 3 (step 12).
    reference, history, _ = run(tmp_path / "a", schedule=schedule)
    with pytest.raises(Crash):
        run(tmp_path / "b", crash_at=crash_at, schedule=schedule)
    assert (tmp_path / "b" / "ckpt.pt").exists()
    resumed, resumed_history, trainer = run(
        tmp_path / "b", resume=True, model=make_model(seed=99), schedule=schedule
    )
    assert trainer.step == 15
    for (name, a), b in zip(
        reference.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert resumed_history == history  # every epoch's mean over all its batches


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True),
        lambda p: torch.optim.Adam(p, lr=torch.tensor(0.05), amsgrad=True),
        lambda p: torch.optim.Adam(p, lr=0.05, fused=True),  # as the apps train
        lambda p: torch.optim.Adafactor(p, lr=0.05),  # per-row and per-column state
        lambda p: torch.optim.Rprop(p, lr=0.01),
    ],
    ids=["sgd-nesterov", "rmsprop-centered", "adam-tensor-lr", "adam-fused", "adafactor", "rprop"],
)
def test_resuming_accepts_each_optimizers_own_state(tmp_path, optimizer):
    # The checks on a resumed checkpoint (hyperparameters, state shapes) refuse no valid file.
    _, history, _ = run(tmp_path / "a", optimizer=optimizer)
    with pytest.raises(Crash):
        run(tmp_path / "b", crash_at=14, optimizer=optimizer)
    _, resumed_history, _ = run(tmp_path / "b", resume=True, optimizer=optimizer)
    assert resumed_history == history


def test_schedule_sets_each_steps_learning_rate(tmp_path):
    seen = []
    _, _, trainer = run(tmp_path, schedule=lambda p: seen.append(p) or 1.0 - p)
    assert seen == pytest.approx([k / 15 for k in range(15)])  # 3 epochs x 5 batches
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * (1 - 14 / 15))
    decay = cosine_schedule(floor=0.1)
    assert (decay(0.0), decay(0.5), decay(1.0)) == pytest.approx((1.0, 0.55, 0.1))


def test_checkpoints_leave_no_temporary_files(tmp_path):
    run(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    state = read_checkpoint(tmp_path / "ckpt.pt", FORMAT)
    assert (
        state["step"] == 15
        and state["epoch"] == 3
        and set(state["rng"]) == {"python", "numpy", "torch"}
    )


def test_training_lowers_the_loss(tmp_path):
    _, history, _ = run(tmp_path)
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["n"] == 1.0


# ---------------------------------------------------------------- distributed
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world)
    )
    torch.set_num_threads(1)
    model = make_model(seed=rank, dropout=0.0)  # different seeds: rank 0's weights are broadcast
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(dataset(32), batch_size=4, shuffle=False)
    Trainer(model, StructuredLoss("nll"), opt, epochs=2, progress=False).fit(loader)
    torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_two_data_parallel_processes_equal_one_process_on_the_global_batch(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single = make_model(seed=0, dropout=0.0)
    opt = torch.optim.SGD(single.parameters(), lr=0.1)
    Trainer(single, StructuredLoss("nll"), opt, epochs=2, progress=False).fit(
        DataLoader(dataset(32), batch_size=8, shuffle=False)
    )
    for name, value in single.state_dict().items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-5, atol=1e-6)


def test_options_given_as_an_object_or_as_keywords_train_alike():
    def train(*options, **keywords):
        model = make_model()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        trainer = Trainer(model, StructuredLoss("nll"), opt, *options, **keywords)
        history = trainer.fit(DataLoader(dataset(), batch_size=8, shuffle=True))
        return history, model.state_dict()

    chosen = TrainingOptions(epochs=2, seed=4, grad_clip=1.0, progress=False)
    by_object, by_keywords = train(chosen), train(epochs=2, seed=4, grad_clip=1.0, progress=False)
    overridden = train(TrainingOptions(epochs=5, seed=4, grad_clip=1.0), epochs=2, progress=False)
    assert by_object[0] == by_keywords[0] == overridden[0] and len(by_object[0]) == 2
    for name, value in by_object[1].items():
        assert torch.equal(value, by_keywords[1][name]) and torch.equal(value, overridden[1][name])


def test_an_unknown_option_is_named():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        Trainer(model, StructuredLoss("nll"), opt, epoch=3)
