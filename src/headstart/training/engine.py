"""The training loop, on Hugging Face accelerate: devices, mixed precision and (later) several processes.

A ``Trainer`` runs one or more *stages* on the same model (e.g. head warm-up, then unfreezing), each with its own
optimizer and warm-up + cosine schedule. It evaluates on the validation split after every epoch, stops a stage early when
validation stops improving, and keeps the best weights seen across all stages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset

from headstart.progress import Reporter
from headstart.training.device import autocast, channels_last


@dataclass
class EpochRecord:
    stage: str
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float

    def to_row(self) -> dict:
        return asdict(self)


class Trainer:
    """Trains ``model`` stage by stage; ``history`` collects one record per epoch."""

    def __init__(
        self,
        model: nn.Module,
        batch_size: int = 32,
        precision: str = "fp32",
        seed: int = 0,
        patience: int = 3,
        num_workers: int = 0,
        label_smoothing: float = 0.1,
        class_weight: Sequence[float] | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        set_seed(seed)
        # accelerate keeps one process-wide state whose mixed-precision setting cannot change once set, while
        # headstart trains several models per process (warm-up, stages, runs with different --precision). So
        # accelerate handles devices and processes, and bf16 autocast is applied per forward pass here.
        self.accelerator = Accelerator()
        self.precision = precision
        self.model = self.accelerator.prepare_model(model)
        self.batch_size = batch_size
        self.seed = seed
        self.patience = patience
        self.num_workers = num_workers
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing).to(self.accelerator.device)
        self.reporter = reporter or Reporter()
        self.history: list[EpochRecord] = []
        self._best: tuple[float, float] | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed + len(self.history))
        drop_last = train and len(dataset) > self.batch_size
        loader = DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.batch_size * 2,
            shuffle=train,
            drop_last=drop_last,
            generator=generator,
            num_workers=self.num_workers,
            collate_fn=getattr(dataset, "collate_fn", None),
        )
        return self.accelerator.prepare_data_loader(loader)

    def run_stage(
        self,
        name: str,
        train_data: Dataset,
        val_data: Dataset | None,
        param_groups: list[dict],
        epochs: int,
        weight_decay: float = 0.01,
        warmup: float = 0.2,
    ) -> list[EpochRecord]:
        """Train ``epochs`` epochs with AdamW: linear warm-up to each group's ``lr``, then cosine decay."""
        if epochs <= 0:
            return []
        train_loader = self._loader(train_data, train=True)
        val_loader = self._loader(val_data, train=False) if val_data is not None and len(val_data) else None
        optimizer = torch.optim.AdamW(param_groups, weight_decay=weight_decay)
        scheduler = warmup_cosine(optimizer, epochs * len(train_loader), warmup)
        optimizer, scheduler = self.accelerator.prepare(optimizer, scheduler)
        records, stale = [], 0
        for epoch in range(1, epochs + 1):
            record = self._epoch(name, epoch, epochs, train_loader, val_loader, optimizer, scheduler)
            records.append(record)
            self.history.append(record)
            improved = self._remember_if_best(record)
            stale = 0 if improved else stale + 1
            self.reporter.say(_format_record(record, improved))
            if val_loader is not None and stale >= self.patience:
                self.reporter.say(f"  early stop: no validation improvement in {stale} epochs")
                break
        return records

    def _epoch(self, name, epoch, epochs, loader, val_loader, optimizer, scheduler) -> EpochRecord:
        start = time.perf_counter()
        self.model.train()
        total_loss, correct, seen = 0.0, 0, 0
        steps = self.reporter.track(loader, len(loader), f"{name} {epoch}/{epochs}")
        for inputs, targets in steps:
            with autocast(self.accelerator.device, self.precision):
                logits = self.model(channels_last(inputs))
            loss = self.compute_loss(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            self.accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(targets)
            correct += self.count_correct(logits, targets)
            seen += len(targets)
        lr = max(group["lr"] for group in optimizer.param_groups)
        val_loss, val_acc = self.evaluate(val_loader) if val_loader is not None else (None, None)
        return EpochRecord(
            name, epoch, total_loss / max(seen, 1), correct / max(seen, 1), val_loss, val_acc, lr,
            time.perf_counter() - start,
        )

    def compute_loss(self, outputs, targets) -> torch.Tensor:
        """The training loss of a batch (a trainer for another task, e.g. detection, overrides this)."""
        return self.loss_fn(outputs.float(), targets)

    def count_correct(self, outputs, targets) -> int:
        """How many of a batch's predictions are right (0 where a task has no per-example accuracy)."""
        return (outputs.argmax(1) == targets).sum().item()

    @torch.inference_mode()
    def evaluate(self, loader: DataLoader) -> tuple[float, float]:
        """Mean cross-entropy (without label smoothing) and accuracy over ``loader``."""
        self.model.eval()
        total_loss, correct, seen = 0.0, 0, 0
        for inputs, targets in loader:
            with autocast(self.accelerator.device, self.precision):
                logits = self.model(channels_last(inputs)).float()
            total_loss += nn.functional.cross_entropy(logits, targets, reduction="sum").item()
            correct += (logits.argmax(1) == targets).sum().item()
            seen += len(targets)
        return total_loss / max(seen, 1), correct / max(seen, 1)

    def _remember_if_best(self, record: EpochRecord) -> bool:
        if record.val_acc is None:
            return True
        score = (record.val_acc, -record.val_loss)
        if self._best is not None and score <= self._best:
            return False
        self._best = score
        model = self.accelerator.unwrap_model(self.model)
        self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def restore_best(self) -> nn.Module:
        """Load the best validation weights seen (the last ones when there is no validation split)."""
        model = self.accelerator.unwrap_model(self.model)
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        return model


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup: float
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up over a ``warmup`` fraction of the steps, then cosine annealing to zero (per step)."""
    warmup_steps = int(warmup * total_steps)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    if warmup_steps == 0:
        return cosine
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup_steps])


def _format_record(record: EpochRecord, improved: bool) -> str:
    val = "" if record.val_acc is None else f"  val loss {record.val_loss:.3f}  val acc {record.val_acc:.3f}"
    mark = " *" if improved and record.val_acc is not None else ""
    return (
        f"  {record.stage} epoch {record.epoch}: train loss {record.train_loss:.3f}  train acc "
        f"{record.train_acc:.3f}{val}  ({record.seconds:.0f}s){mark}"
    )


def layerwise_param_groups(
    model: nn.Module, groups: list[list[str]], head_lr: float, decay: float, top_groups: int | None
) -> list[dict]:
    """Optimizer groups with discriminative learning rates: the head at ``head_lr``, each backbone group
    ``decay`` times the rate of the group above it. Only trainable parameters are included."""
    named = dict(model.named_parameters())
    n = len(groups)
    keep = n if top_groups is None else min(top_groups, n)
    result = [{"params": [p for p in model.head.parameters() if p.requires_grad], "lr": head_lr}]
    for depth, group in enumerate(reversed(groups[n - keep :]), start=1):
        params = [named[f"backbone.{name}"] for name in group if named[f"backbone.{name}"].requires_grad]
        if params:
            result.append({"params": params, "lr": head_lr * math.pow(decay, depth)})
    return result

