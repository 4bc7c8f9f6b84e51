"""Feature extraction: a frozen backbone's pooled outputs for every item, streamed batch by batch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch import nn
from torch.utils.data import DataLoader, Dataset

from headstart.progress import Reporter
from headstart.training import speed
from headstart.training.device import (
    autocast,
    channels_last,
    default_device,
    resolve_precision,
    to_channels_last,
)


def iter_features(
    backbone: nn.Module,
    dataset: Dataset,
    batch_size: int = 64,
    precision: str = "auto",
    num_workers: int = 0,
    reporter: Reporter | None = None,
    description: str = "extracting features",
) -> Iterator[np.ndarray]:
    """Yield the outputs of ``backbone`` (features; logits for a whole model) as float32, one batch at a time, in
    the dataset's order, so that memory does not grow with the number of items.

    The model runs in eval mode, channels-last (unless switched off) and, with ``precision="auto"``, in bf16
    where the hardware has it; its training mode is restored afterwards.
    """
    device = default_device()
    precision = resolve_precision(precision, device=device)
    was_training = backbone.training
    to_channels_last(backbone.eval().to(device=device))
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=getattr(dataset, "collate_fn", None),
    )
    try:
        start = time.perf_counter()
        for inputs, _ in (reporter or Reporter()).track(loader, len(loader), description):
            inputs = channels_last(send_to_device(inputs, device))
            # The model is moved above, outside inference mode, so its parameters stay trainable afterwards.
            with torch.inference_mode(), autocast(device, precision):
                output = backbone(inputs)
            batch = output.float().cpu().numpy()
            speed.RECORDED.add(len(batch), time.perf_counter() - start, precision)  # loading included
            yield batch
            start = time.perf_counter()  # the consumer's time between batches is not ours
    finally:
        backbone.train(was_training)


def extract_features(backbone: nn.Module, dataset: Dataset, **options: Any) -> np.ndarray:
    """All outputs of :func:`iter_features` (same options) as one float32 array (n_items, n_outputs)."""
    chunks = list(iter_features(backbone, dataset, **options))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
