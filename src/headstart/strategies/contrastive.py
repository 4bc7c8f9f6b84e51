"""contrastive: pull same-class embeddings together in the backbone, then logistic regression on them (SetFit-like).

SetFit (Tunstall et al. 2022) fine-tunes a sentence encoder on pairs of labelled examples, then fits a logistic
regression on its embeddings; with a few labelled examples per class it beats fine-tuning through a classification
head. It draws every pair as its own row and encodes both texts of each, so with 64 examples per class it encodes
about 16,000 texts. Here the supervised contrastive loss (Khosla et al. 2020) scores every pair of a batch at once
from one similarity matrix (a batch of 32 holds 496 pairs), so ten passes over the data (40 steps at 64 per class)
see more pairs than SetFit draws, for a fraction of the encodings.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import nn

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import FitContext, FitResult, Split, Strategy
from headstart.strategies.linear_probe import LinearProbe
from headstart.training.engine import Trainer


def supervised_contrastive_loss(embeddings: torch.Tensor, targets: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Khosla et al. (2020): each example's log-probability of picking its same-class examples among all the others
    of the batch, by cosine similarity / ``temperature``; examples with no same-class partner are left out."""
    unit = nn.functional.normalize(embeddings.float(), dim=1)
    logits = unit @ unit.T / temperature
    self_mask = torch.eye(len(targets), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (targets[:, None] == targets[None, :]) & ~self_mask
    counts = positive.sum(1)
    has = counts > 0
    if not has.any():
        return embeddings.sum() * 0.0
    per_anchor = log_prob.masked_fill(~positive, 0.0).sum(1)[has] / counts[has]
    return -per_anchor.mean()


class _Embeddings(nn.Module):
    """The model's backbone output; ``train()`` reaches the TransferModel, so frozen BatchNorms stay frozen."""

    def __init__(self, model: TransferModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model.backbone(inputs)


class _ContrastiveTrainer(Trainer):
    """The engine's loop (devices, processes, checkpoints, resume) with the contrastive loss on embeddings."""

    def compute_loss(self, outputs, targets) -> torch.Tensor:
        return supervised_contrastive_loss(outputs, targets)

    def count_correct(self, outputs, targets) -> int:
        return 0


class Contrastive(Strategy):
    """Contrastive fine-tuning of the whole backbone on in-batch pairs, then the linear probe on its embeddings.

    Every example is used for both (no validation split): the probe cross-validates its regularisation.
    """

    name = "contrastive"
    head = HeadConfig("linear", dropout=0.0)
    summary = "contrastive fine-tuning on in-batch pairs, then logistic regression (SetFit-like)"
    uses_validation = False
    default_lr = 5e-5
    default_epochs = 10
    max_steps = 300  # with thousands of examples, a few passes are enough and each costs minutes
    options: ClassVar[dict[str, Range]] = {"max_steps": Range(int, 1, 1_000_000)}

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        model.set_trainable(None)
        trainer = _ContrastiveTrainer(
            _Embeddings(model), batch_size=ctx.batch_size, precision=ctx.precision, seed=ctx.seed,
            num_workers=ctx.num_workers, reporter=ctx.reporter, checkpoint=ctx.checkpoint,
        )
        batches = max(1, len(train) // ctx.batch_size)
        epochs = self.epochs or ctx.epochs or max(1, min(self.default_epochs, self.max_steps // batches))
        params = [p for p in model.backbone.parameters() if p.requires_grad]
        trainer.run_stage("contrastive", ctx.dataset(train, train=True), None,
                          [{"params": params, "lr": self.lr or ctx.lr or self.default_lr}], epochs, warmup=0.1)
        model.eval()
        # The probe reads features of the changed backbone: never cache them (no later run has these weights).
        probe = LinearProbe().fit(model, train, None, dataclasses.replace(ctx, cache=None))
        return FitResult(trainer.history, {"contrastive_epochs": epochs, "steps": epochs * batches, **probe.details},
                         probe.warnings)

    def refit(self, result: FitResult) -> Strategy:
        """As it is: its epochs are not chosen on a validation split (its probe cross-validates on all it is given)."""
        return self
