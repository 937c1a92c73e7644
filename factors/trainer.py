"""Global training of any energy model with any loss and any torch optimizer.

The trainer runs epochs over a ``DataLoader`` of (x, y) batches, shows a progress bar with the
running loss (and metric), writes checkpoints atomically (a reader sees the old file or the
new one), resumes exactly where it stopped, and runs data-parallel over ``torch.distributed``
when launched by torchrun (gloo on CPU).

Exact resumption: each epoch's data order is fixed by (seed, epoch); a checkpoint stores the
model, optimizer, step, position in the epoch and every RNG state. Resuming replays the
epoch's order, skips the batches already seen, then restores the RNG states, so the run
continues as if never interrupted.
"""

from __future__ import annotations

import io
import math
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from gtn._atomic import atomic_write

LossFn = Callable[[Any, Any, Any], torch.Tensor]


def cosine_schedule(floor: float = 0.02) -> Callable[[float], float]:
    """Cosine decay from 1 to ``floor`` over training: fast early, settled late."""
    return lambda progress: floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


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


class Trainer:
    """Train ``model`` by minimising ``loss(model, x, y)`` with ``optimizer``.

    Args:
        model: a ``torch.nn.Module`` (e.g. a FactorGraph) meeting the EnergyModel contract.
        loss: a callable (model, x, y) -> scalar, e.g. ``StructuredLoss("nll")``.
        optimizer: any torch optimizer over the model's parameters.
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
        *,
        epochs: int = 1,
        seed: int = 0,
        grad_clip: float | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 100,
        resume: bool = False,
        metric: Callable[[Any, Any, Any], float] | None = None,
        validate: Callable[[Any], dict] | None = None,
        schedule: Callable[[float], float] | None = None,
        progress: bool = True,
    ):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.epochs, self.seed, self.grad_clip = epochs, seed, grad_clip
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every, self.resume = checkpoint_every, resume
        self.metric, self.validate, self.progress = metric, validate, progress
        self.schedule = schedule
        self._base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._total_steps = 1
        self.step = 0
        self.history: list[dict] = []
        self.dist = None

    # ------------------------------------------------------------------ checkpoints
    def save(self, epoch: int, batch: int) -> None:
        """Write the checkpoint atomically: model, optimizer, step, (epoch, next batch), RNGs."""
        if self.checkpoint is None or (self.dist is not None and self.dist.get_rank() != 0):
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "epoch": epoch,
            "batch": batch,
            "rng": _rng_state(),
            "history": self.history,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.checkpoint, "wb") as f:
            f.write(buffer.getvalue())

    def _load(self) -> dict | None:
        if not (self.resume and self.checkpoint is not None and self.checkpoint.exists()):
            return None
        state = torch.load(self.checkpoint, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.history = state["step"], state["history"]
        return state

    # ------------------------------------------------------------------ distributed
    def _shard(self, loader: DataLoader) -> DataLoader:
        if isinstance(loader.sampler, DistributedSampler):
            return loader
        sampler = DistributedSampler(
            loader.dataset,
            shuffle=isinstance(loader.sampler, RandomSampler),
            seed=self.seed,
            drop_last=loader.drop_last,
        )
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size,
            sampler=sampler,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
            drop_last=loader.drop_last,
        )

    def _average_gradients(self) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params]
        )
        self.dist.all_reduce(flat)
        flat /= self.dist.get_world_size()
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def _broadcast_parameters(self) -> None:
        for t in list(self.model.parameters()) + list(self.model.buffers()):
            self.dist.broadcast(t.data, src=0)

    # ------------------------------------------------------------------ training
    def fit(self, loader: DataLoader) -> list[dict]:
        """Train; returns the per-epoch history (mean loss, metric, validation results)."""
        self.dist = distributed_group()
        if self.dist is not None:
            loader = self._shard(loader)
        state = self._load()
        if state is None:
            seed_everything(self.seed)
            start_epoch, skip = 0, 0
        else:
            start_epoch, skip = state["epoch"], state["batch"]
        if self.dist is not None:
            self._broadcast_parameters()
        show = self.progress and (self.dist is None or self.dist.get_rank() == 0)
        if state is not None and skip == 0:
            _set_rng_state(state["rng"])  # saved at an epoch's end, before the next is seeded
        self._total_steps = max(1, self.epochs * len(loader))
        for epoch in range(start_epoch, self.epochs):
            # The epoch's data order depends on (seed, epoch) only, so a resumed run replays it.
            torch.manual_seed(self.seed * 1_000_003 + epoch)
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            batches = iter(loader)
            first = skip if epoch == start_epoch else 0
            for _ in range(first):
                next(batches)  # also draws the epoch's shuffle, before the RNGs are restored
            if state is not None and epoch == start_epoch and first > 0:
                _set_rng_state(state["rng"])
            self._run_epoch(epoch, batches, first, len(loader), show)
        return self.history

    def _run_epoch(self, epoch: int, batches, first: int, total: int, show: bool) -> None:
        bar = tqdm(
            total=total,
            initial=first,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            disable=not show,
            leave=False,
        )
        losses, metrics = [], []
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
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            if self.schedule is not None:
                factor = self.schedule(min(self.step / self._total_steps, 1.0))
                for group, base in zip(self.optimizer.param_groups, self._base_lrs, strict=True):
                    group["lr"] = base * factor
            self.optimizer.step()
            self.step += 1
            losses.append(float(value.detach()))
            postfix = {"loss": f"{np.mean(losses[-50:]):.4g}"}
            if self.metric is not None:
                with torch.no_grad():
                    metrics.append(float(self.metric(self.model, x, y)))
                postfix["metric"] = f"{np.mean(metrics[-50:]):.4g}"
            bar.set_postfix(postfix)
            bar.update(1)
            if self.checkpoint is not None and self.step % self.checkpoint_every == 0:
                self.save(epoch, index + 1)
        bar.close()
        record = {
            "epoch": epoch,
            "step": self.step,
            "loss": float(np.mean(losses)) if losses else float("nan"),
        }
        if metrics:
            record["metric"] = float(np.mean(metrics))
        if self.validate is not None:
            self.model.eval()
            with torch.no_grad():
                record.update(self.validate(self.model))
        self.history.append(record)
        self.save(epoch + 1, 0)
