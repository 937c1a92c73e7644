"""Global training of any energy model with any loss and any torch optimizer.

The trainer runs epochs over a ``DataLoader`` of (x, y) batches, shows a progress bar with the
running loss (and metric), writes checkpoints atomically (a reader sees the old file or the
new one), resumes exactly where it stopped, and runs data-parallel over ``torch.distributed``
when launched by torchrun (gloo on CPU).

Exact resumption: each epoch's data order is fixed by (seed, epoch); a checkpoint stores the
model, optimizer, step, position in the epoch, the losses (and metrics) of the epoch's batches
so far and every RNG state. Resuming replays the epoch's order, skips the batches already seen,
then restores the RNG states, so the run continues as if never interrupted: the model, the
optimizer and the history (each epoch's mean over all its batches, those before the
interruption included) equal an uninterrupted run's.

Checkpoints are :mod:`factors.checkpoint` files (content digest; loaded with
``torch.load(weights_only=True)``, so a planted file cannot run code). The checkpoint path is
checked when training starts, and temporary files left by a killed save are removed then. A
checkpoint to resume from is checked before anything changes (``factors._trainer_state``): its
epoch lies within the run, its RNG states within their ranges, and its optimizer state fits the
optimizer (state shaped like the parameters, finite hyperparameters of the optimizer's kinds).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from ._trainer_state import check_trainer_state, refusing
from .checkpoint import CheckpointError, ensure_writable, read_checkpoint, write_checkpoint

LossFn = Callable[[Any, Any, Any], torch.Tensor]
FORMAT = "ebgtn.factors.trainer"


def cosine_schedule(floor: float = 0.02) -> Callable[[float], float]:
    """Cosine decay from 1 to ``floor`` over training: fast early, settled late."""
    return lambda progress: floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    """Every RNG state as plain data (numpy's key array as a tensor)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict) -> None:
    kind, keys, pos, has_gauss, cached = state["numpy"]
    random.setstate(state["python"])
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def _plain_number(value):
    """A history value as plain data (numpy and 0-d torch numbers become Python numbers)."""
    if isinstance(value, (np.generic, torch.Tensor)) and np.ndim(value) == 0:
        return value.item()
    return value


def distributed_group():
    """``torch.distributed`` when running under torchrun (initialising gloo), else None."""
    import torch.distributed as dist

    if not dist.is_available():
        return None
    if dist.is_initialized():
        return dist
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")
        return dist
    return None


@dataclass(frozen=True)
class TrainingOptions:
    """How :class:`Trainer` trains: schedule, checkpoints, hooks.

    Args:
        epochs: passes over the data.
        seed: fixes initial RNG states and each epoch's data order.
        grad_clip: clip the gradient norm to this value (None: no clipping).
        checkpoint: file to write checkpoints to (atomically); None disables them.
        checkpoint_every: steps between checkpoints (one is also written after each epoch).
        resume: continue from ``checkpoint`` if it exists.
        metric: (model, x, y) -> float, shown in the progress bar and averaged per epoch.
        validate: (model) -> dict of numbers, run after each epoch; added to ``history``.
        schedule: learning-rate multiplier as a function of training progress in [0, 1]
            (step / total steps), e.g. :func:`cosine_schedule`; None keeps the rates fixed.
            It depends on the step only, so a resumed run follows the same rates.
        progress: show tqdm progress bars (rank 0 only).
    """

    epochs: int = 1
    seed: int = 0
    grad_clip: float | None = None
    checkpoint: str | os.PathLike | None = None
    checkpoint_every: int = 100
    resume: bool = False
    metric: Callable[[Any, Any, Any], float] | None = None
    validate: Callable[[Any], dict] | None = None
    schedule: Callable[[float], float] | None = None
    progress: bool = True


class Trainer:
    """Train ``model`` by minimising ``loss(model, x, y)`` with ``optimizer``.

    Args:
        model: a ``torch.nn.Module`` (e.g. a FactorGraph) meeting the EnergyModel contract.
        loss: a callable (model, x, y) -> scalar, e.g. ``StructuredLoss("nll")``.
        optimizer: any torch optimizer over the model's parameters.
        options: a :class:`TrainingOptions`; its fields may also be given as keywords
            (``Trainer(model, loss, optimizer, epochs=3, checkpoint="run.pt")``), which
            replace those of ``options``.

    Under torchrun (WORLD_SIZE > 1) every process takes its share of each epoch (a
    DistributedSampler replaces the loader's sampler; ``batch_size`` is per process), the
    gradients are averaged with one all-reduce per step, and rank 0 writes checkpoints.
    Gradients are averaged explicitly rather than by wrapping the model in DDP because the
    losses call ``energy``/``free_energy``/``most_offending``, not ``forward``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss: LossFn,
        optimizer: torch.optim.Optimizer,
        options: TrainingOptions | None = None,
        **keywords: Any,
    ):
        self.options = replace(options or TrainingOptions(), **keywords)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        path = self.options.checkpoint
        self.checkpoint = Path(path) if path is not None else None
        self._base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._total_steps = 1
        self.step = 0
        self.history: list[dict] = []
        self.dist = None

    # ------------------------------------------------------------------ checkpoints
    def _writes_checkpoints(self) -> bool:
        return self.checkpoint is not None and (self.dist is None or self.dist.get_rank() == 0)

    def save(self, epoch: int, batch: int, losses=(), metrics=()) -> None:
        """Write the checkpoint atomically: model, optimizer, step, (epoch, next batch), the
        losses and metrics of that epoch's batches before ``batch``, RNGs, history."""
        if not self._writes_checkpoints():
            return
        state = {
            "model": dict(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "epoch": epoch,
            "batch": batch,
            "epoch_losses": torch.tensor(list(losses), dtype=torch.float64),
            "epoch_metrics": torch.tensor(list(metrics), dtype=torch.float64),
            "rng": _rng_state(),
            "history": [{k: _plain_number(v) for k, v in r.items()} for r in self.history],
        }
        write_checkpoint(self.checkpoint, FORMAT, state)

    def _load(self) -> dict | None:
        if not (self.options.resume and self.checkpoint is not None and self.checkpoint.exists()):
            return None
        path = self.checkpoint
        state = read_checkpoint(
            path, FORMAT, what="trainer", retrain="delete it to start training afresh"
        )
        check_trainer_state(state, path, self.optimizer, self.options.epochs)
        current = _rng_state()
        self._restore_rng(state)  # only to validate them before anything is changed
        _set_rng_state(current)
        with refusing(path, "model weights do not fit"):
            self.model.load_state_dict(state["model"])
        with refusing(path, "optimizer state does not fit"):
            self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.history = state["step"], list(state["history"])
        return state

    # ------------------------------------------------------------------ distributed
    def _shard(self, loader: DataLoader) -> DataLoader:
        if isinstance(loader.sampler, DistributedSampler):
            return loader
        shuffle = isinstance(loader.sampler, RandomSampler)
        sampler = DistributedSampler(
            loader.dataset, shuffle=shuffle, seed=self.options.seed, drop_last=loader.drop_last
        )
        kept = ("batch_size", "collate_fn", "num_workers", "drop_last")
        return DataLoader(loader.dataset, sampler=sampler, **{k: getattr(loader, k) for k in kept})

    def _average_gradients(self) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params]
        )
        self.dist.all_reduce(flat)
        flat /= self.dist.get_world_size()
        for p, grad in zip(params, flat.split([p.numel() for p in params]), strict=True):
            p.grad = grad.view_as(p).clone()

    def _broadcast_parameters(self) -> None:
        for t in list(self.model.parameters()) + list(self.model.buffers()):
            self.dist.broadcast(t.data, src=0)

    # ------------------------------------------------------------------ training
    def fit(self, loader: DataLoader) -> list[dict]:
        """Train; returns the per-epoch history (mean loss, metric, validation results)."""
        if len(loader) == 0:
            raise ValueError("the loader yields no batches: nothing to train on")
        self.dist = distributed_group()
        if self.dist is not None:
            loader = self._shard(loader)
        if self._writes_checkpoints():  # an unusable path is reported now, not at the first save
            ensure_writable(self.checkpoint)  # (which also removes a killed save's temporaries)
        state = self._load()
        if state is None:
            seed_everything(self.options.seed)
            start_epoch, skip = 0, 0
        else:
            start_epoch, skip = state["epoch"], state["batch"]
            if skip > len(loader):
                raise CheckpointError(
                    f"{self.checkpoint}: stopped after batch {skip} of an epoch, but the loader "
                    f"has {len(loader)} batches per epoch (different data or batch size)"
                )
        if self.dist is not None:
            self._broadcast_parameters()
        show = self.options.progress and (self.dist is None or self.dist.get_rank() == 0)
        if state is not None and skip == 0:
            self._restore_rng(state)  # saved at an epoch's end, before the next is seeded
        self._total_steps = max(1, self.options.epochs * len(loader))
        for epoch in range(start_epoch, self.options.epochs):
            # The epoch's data order depends on (seed, epoch) only, so a resumed run replays it.
            torch.manual_seed(self.options.seed * 1_000_003 + epoch)
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            batches = iter(loader)
            first = skip if epoch == start_epoch else 0
            for _ in range(first):
                next(batches)  # also draws the epoch's shuffle, before the RNGs are restored
            resumed = state is not None and epoch == start_epoch and first > 0
            if resumed:
                self._restore_rng(state)
            done = (state["epoch_losses"], state["epoch_metrics"]) if resumed else ((), ())
            self._run_epoch(epoch, batches, first, len(loader), show, *done)
        return self.history

    def _restore_rng(self, state: dict) -> None:
        with refusing(self.checkpoint, "RNG states are malformed"):
            _set_rng_state(state["rng"])

    def _run_epoch(
        self, epoch: int, batches, first: int, total: int, show: bool, losses=(), metrics=()
    ) -> None:
        """Run the epoch's batches from ``first`` on; ``losses``/``metrics``: those of the
        batches before ``first`` (from a checkpoint), so the epoch's record covers them all."""
        bar = tqdm(
            total=total,
            initial=first,
            desc=f"epoch {epoch + 1}/{self.options.epochs}",
            disable=not show,
            leave=False,
        )
        losses, metrics = [float(v) for v in losses], [float(v) for v in metrics]
        for index, (x, y) in enumerate(batches, start=first):
            self.model.train()
            self.optimizer.zero_grad(set_to_none=True)
            value = self.loss(self.model, x, y)
            if not torch.isfinite(value):
                raise FloatingPointError(
                    f"loss is {float(value)} at step {self.step} (epoch {epoch}, batch {index})"
                )
            value.backward()
            if self.dist is not None:
                self._average_gradients()
            if self.options.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
            if self.options.schedule is not None:
                factor = self.options.schedule(min(self.step / self._total_steps, 1.0))
                for group, base in zip(self.optimizer.param_groups, self._base_lrs, strict=True):
                    group["lr"] = base * factor
            self.optimizer.step()
            self.step += 1
            losses.append(float(value.detach()))
            postfix = {"loss": f"{np.mean(losses[-50:]):.4g}"}
            if self.options.metric is not None:
                with torch.no_grad():
                    metrics.append(float(self.options.metric(self.model, x, y)))
                postfix["metric"] = f"{np.mean(metrics[-50:]):.4g}"
            bar.set_postfix(postfix)
            bar.update(1)
            if self.checkpoint is not None and self.step % self.options.checkpoint_every == 0:
                self.save(epoch, index + 1, losses, metrics)
        bar.close()
        record = {
            "epoch": epoch,
            "step": self.step,
            "loss": float(np.mean(losses)) if losses else float("nan"),
        }
        if metrics:
            record["metric"] = float(np.mean(metrics))
        if self.options.validate is not None:
            self.model.eval()
            with torch.no_grad():
                record.update(self.options.validate(self.model))
        self.history.append(record)
        self.save(epoch + 1, 0)
