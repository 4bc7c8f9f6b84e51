"""The training loop, on Hugging Face accelerate: devices, mixed precision and (later) several processes.

A ``Trainer`` runs one or more *stages* on the same model (e.g. head warm-up, then unfreezing), each with its own
optimizer and warm-up + cosine schedule. It evaluates on the validation split after every epoch, stops a stage early when
validation stops improving, and keeps the best weights seen across all stages.

Every epoch starts from a seed made of the run's seed and the epoch's position, so an epoch's shuffling, dropout and
augmentation do not depend on what ran before it in the process: that is what lets a run killed mid-epoch resume
from its last checkpoint and end with the same metrics as one that was never stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset

from headstart.compute import interrupt
from headstart.compute.device import autocast, channels_last, resolve_precision, to_channels_last
from headstart.progress import Reporter
from headstart.training.checkpoint import Checkpoint, TrainerState, load_optimizer_state, optimizer_state


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
    unlabelled_used: float | None = None  # consistency training: the share of unlabelled inputs above the threshold

    def to_row(self) -> dict:
        return asdict(self)


@dataclass
class Consistency:
    """FixMatch's unlabelled half (Sohn et al. 2020): beside each labelled batch, a batch of unlabelled inputs in two
    views; the model's class for the weak view, where its probability reaches ``threshold`` (of the highest the
    labelled loss aims for), is the target of the strong view, its loss weighted by ``weight``. ``views`` yields ((weak, strong), ignored) pairs."""

    views: Dataset
    threshold: float = 0.95
    weight: float = 1.0


class Trainer:
    """Trains ``model`` stage by stage; ``history`` collects one record per epoch."""

    def __init__(
        self,
        model: nn.Module,
        batch_size: int = 32,
        precision: str = "auto",
        seed: int = 0,
        patience: int = 3,
        num_workers: int = 0,
        label_smoothing: float = 0.1,
        class_weight: Sequence[float] | None = None,
        reporter: Reporter | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        set_seed(seed)
        # accelerate keeps one process-wide state whose mixed-precision setting cannot change once set, while
        # headstart trains several models per process (warm-up, stages, runs with different --precision). So
        # accelerate handles devices and processes, and bf16 autocast is applied per forward pass here.
        self.accelerator = Accelerator()
        # "auto": fp32 training steps, bf16 evaluation passes where the hardware has native bf16.
        self.precision = resolve_precision(precision, training=True, device=self.accelerator.device)
        self.eval_precision = resolve_precision(precision, device=self.accelerator.device)
        self.model = self.accelerator.prepare_model(to_channels_last(model))
        # With N processes each takes 1/N of every batch, so the optimisation sees the same global batch size.
        self.batch_size = max(1, math.ceil(batch_size / self.accelerator.num_processes))
        self.seed = seed
        self.patience = patience
        self.num_workers = num_workers
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing).to(self.accelerator.device)
        self.reporter = reporter or Reporter()
        self.history: list[EpochRecord] = []
        self._best: tuple[float, float] | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self._best_is_current = False
        self._shuffle = torch.Generator()
        self.checkpoint = checkpoint
        self._stages = 0
        self._index, self._resume, self._saves = checkpoint.next_trainer() if checkpoint else (0, None, False)
        self._saves = self._saves or self._resume is not None  # trainers replayed before the saved one do not save

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        # Full batches only where every process gets one: with fewer, a process would have no batch at all.
        drop_last = train and len(dataset) >= self.batch_size * self.accelerator.num_processes
        loader = DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.batch_size * 2,
            shuffle=train,
            drop_last=drop_last,
            generator=self._shuffle,  # re-seeded every epoch (and shared by the processes, through accelerate)
            num_workers=self.num_workers,
            # Workers that live for the whole stage keep their decoded-image cache from one epoch to the next.
            persistent_workers=self.num_workers > 0,
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
        consistency: Consistency | None = None,
    ) -> list[EpochRecord]:
        """Train ``epochs`` epochs with AdamW: linear warm-up to each group's ``lr``, then cosine decay; with
        ``consistency``, each step also learns from a batch of unlabelled inputs (one per labelled batch: an epoch
        costs about 2.5 times as much)."""
        stage = self._stages
        self._stages += 1
        if epochs <= 0:
            return []
        start_epoch, stale = 1, 0
        resume = self._take_resume(stage)
        if resume is not None and (resume.stage > stage or resume.stage_done):
            return [r for r in self.history if r.stage == name]  # finished before the interruption
        if self.accelerator.num_processes > 1:
            # DistributedDataParallel syncs the gradients of the parameters trainable when it wraps the model, and
            # each stage unfreezes more of them: wrap again for this stage.
            self.model = self.accelerator.prepare_model(self.accelerator.unwrap_model(self.model))
        train_loader = self._loader(train_data, train=True)
        val_loader = self._loader(val_data, train=False) if val_data is not None and len(val_data) else None
        unlabelled = self._loader(consistency.views, train=True) if consistency is not None else None
        # PyTorch picks its fused (one kernel for all parameters) AdamW by default only on GPUs; on a CPU the
        # default loops over the tensors and took 15% of a MiniLM training step.
        fused = self.accelerator.device.type in ("cpu", "cuda")
        optimizer = torch.optim.AdamW(param_groups, weight_decay=weight_decay, fused=fused)
        scheduler = warmup_cosine(optimizer, epochs * len(train_loader), warmup)
        optimizer, scheduler = self.accelerator.prepare(optimizer, scheduler)
        if resume is not None:
            load_optimizer_state(optimizer, resume.meta["optimizer"], resume.optimizer)
            scheduler.load_state_dict(resume.meta["scheduler"])
            start_epoch, stale = resume.epoch + 1, resume.meta["stale"]
            self.reporter.say(f"  resuming {name} at epoch {start_epoch}/{epochs}")
        records = [r for r in self.history if r.stage == name]
        for epoch in range(start_epoch, epochs + 1):
            epoch_seed = self.seed * 1000 + len(self.history)
            set_seed(epoch_seed)
            self._shuffle.manual_seed(epoch_seed)
            record = self._epoch(name, epoch, epochs, train_loader, val_loader, optimizer, scheduler,
                                 (consistency, unlabelled) if consistency is not None else None)
            records.append(record)
            self.history.append(record)
            improved = self._remember_if_best(record)
            stale = 0 if improved else stale + 1
            self.reporter.say(_format_record(record, improved))
            stop = val_loader is not None and stale >= self.patience
            self._save(stage, epoch, stop or epoch == epochs, stale, optimizer, scheduler)
            if stop:
                self.reporter.say(f"  early stop: no validation improvement in {stale} epochs")
                break
        return records

    def _take_resume(self, stage: int) -> TrainerState | None:
        """The saved state, on this trainer's first stage after a resume: history, best and weights restored."""
        state, self._resume = self._resume, None
        if state is None:
            return None
        self.history = [EpochRecord(**row) for row in state.meta["history"]]
        self._best = tuple(state.meta["best"]) if state.meta["best"] is not None else None
        model = self.accelerator.unwrap_model(self.model)
        model.load_state_dict(state.model)
        self._best_is_current = state.best is None
        self._best_state = state.best if state.best is not None else (
            {k: v.detach().clone() for k, v in model.state_dict().items()} if self._best is not None else None
        )
        # A state saved in a later stage is still needed when this trainer's later stages run.
        self._resume = state if state.stage > stage else None
        return state

    def _save(self, stage, epoch, stage_done, stale, optimizer, scheduler) -> None:
        if self.checkpoint is None or not self._saves or not self.accelerator.is_main_process:
            return
        settings, moments = optimizer_state(optimizer)
        model = self.accelerator.unwrap_model(self.model)
        meta = {"history": [r.to_row() for r in self.history], "best": list(self._best) if self._best else None,
                "stale": stale, "optimizer": settings, "scheduler": scheduler.state_dict()}
        best = None if self._best_is_current else self._best_state
        state = TrainerState(stage, epoch, stage_done, meta, model.state_dict(), moments, best)
        self.checkpoint.save(self._index, state)

    def _epoch(self, name, epoch, epochs, loader, val_loader, optimizer, scheduler, unlabelled=None) -> EpochRecord:
        start = time.perf_counter()
        self.model.train()
        total_loss, correct, seen = 0.0, 0, 0
        steps = self.reporter.track(loader, len(loader), f"{name} {epoch}/{epochs}")
        # The unlabelled loader's shuffle is drawn from the generator after the labelled one's: seeded by the epoch.
        pairs, used = (endless(unlabelled[1]), []) if unlabelled is not None else (None, [])
        for inputs, targets in steps:
            interrupt.check()
            if pairs is None:
                with autocast(self.accelerator.device, self.precision):
                    logits = self.model(channels_last(inputs))
                loss = self.compute_loss(logits, targets)
            else:
                logits, loss = self._consistency_step(inputs, targets, next(pairs)[0], unlabelled[0], used)
            optimizer.zero_grad(set_to_none=True)
            self.accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(targets)
            correct += self.count_correct(logits, targets)
            seen += len(targets)
        total_loss, correct, seen = self._sum_over_processes(total_loss, correct, seen)
        lr = max(group["lr"] for group in optimizer.param_groups)
        val_loss, val_acc = self.evaluate(val_loader) if val_loader is not None else (None, None)
        return EpochRecord(
            name, epoch, total_loss / max(seen, 1), correct / max(seen, 1), val_loss, val_acc, lr,
            time.perf_counter() - start, float(np.mean(used)) if used else None,
        )

    def _consistency_step(self, inputs, targets, views, consistency: Consistency, used: list[float]):
        """(the labelled batch's logits, the FixMatch loss): the weak view's confident classes (no gradient) are
        the strong view's targets; labelled and strong inputs go through the model together, so BatchNorm sees
        both (as in FixMatch)."""
        weak, strong = views
        with torch.no_grad(), autocast(self.accelerator.device, self.precision):
            guess = torch.softmax(self.model(channels_last(weak)).float(), dim=1)
        confidence, target = guess.max(dim=1)
        # Label smoothing caps the probability the labelled loss aims for (0.91 for 10 classes at 0.1): the threshold
        # is a share of that cap, so that 0.95 means what it means in FixMatch, which trains without smoothing.
        smoothing = self.loss_fn.label_smoothing
        ceiling = 1.0 - smoothing + smoothing / guess.shape[1]
        mask = (confidence >= consistency.threshold * ceiling).float()
        used.append(mask.mean().item())
        with autocast(self.accelerator.device, self.precision):
            logits = self.model(channels_last(torch.cat([inputs, strong])))
        labelled, unlabelled = logits[: len(inputs)], logits[len(inputs):].float()
        unlabelled_loss = (nn.functional.cross_entropy(unlabelled, target, reduction="none") * mask).mean()
        return labelled, self.compute_loss(labelled, targets) + consistency.weight * unlabelled_loss

    def _sum_over_processes(self, *values: float) -> list[float]:
        if self.accelerator.num_processes == 1:
            return list(values)
        total = self.accelerator.reduce(
            torch.tensor(values, dtype=torch.float64, device=self.accelerator.device), "sum"
        )
        return total.tolist()

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
            with autocast(self.accelerator.device, self.eval_precision):
                logits = self.model(channels_last(inputs)).float()
            losses = nn.functional.cross_entropy(logits, targets, reduction="none")
            hits = logits.argmax(1) == targets
            # Every example once: the processes' shares, without the repeats that even out their last batches.
            losses, hits = self.accelerator.gather_for_metrics((losses, hits))
            total_loss += losses.sum().item()
            correct += hits.sum().item()
            seen += len(hits)
        return total_loss / max(seen, 1), correct / max(seen, 1)

    def _remember_if_best(self, record: EpochRecord) -> bool:
        if record.val_acc is None:
            return True
        score = (record.val_acc, -record.val_loss)
        if self._best is not None and score <= self._best:
            self._best_is_current = False
            return False
        self._best, self._best_is_current = score, True
        model = self.accelerator.unwrap_model(self.model)
        self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def restore_best(self) -> nn.Module:
        """Load the best validation weights seen (the last ones when there is no validation split)."""
        model = self.accelerator.unwrap_model(self.model)
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        return model


def epochs_to_best(history: Sequence[EpochRecord]) -> int:
    """How many of ``history``'s epochs lead up to its best validation epoch (the one ``restore_best`` keeps,
    judged as the trainer judges it: accuracy, then loss); all of them when none was validated."""
    scored = [(i, (r.val_acc, -r.val_loss)) for i, r in enumerate(history) if r.val_acc is not None]
    if not scored:
        return len(history)
    best = max(scored, key=lambda pair: pair[1])  # max keeps the first of equals, as the trainer does
    return best[0] + 1


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


def endless(loader: Iterable) -> Iterator:
    """``loader``'s batches over and over, reshuffled each pass (``itertools.cycle`` would keep every batch)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the unlabelled loader gives no batch: too few unlabelled inputs for the processes")


def _format_record(record: EpochRecord, improved: bool) -> str:
    val = "" if record.val_acc is None else f"  val loss {record.val_loss:.3f}  val acc {record.val_acc:.3f}"
    used = "" if record.unlabelled_used is None else f"  unlabelled used {record.unlabelled_used:.0%}"
    mark = " *" if improved and record.val_acc is not None else ""
    return (
        f"  {record.stage} epoch {record.epoch}: train loss {record.train_loss:.3f}  train acc "
        f"{record.train_acc:.3f}{val}{used}  ({record.seconds:.0f}s){mark}"
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

