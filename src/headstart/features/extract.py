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

from headstart.compute.device import (
    autocast,
    channels_last,
    default_device,
    resolve_precision,
    to_channels_last,
)
from headstart.compute.speed import Throughput
from headstart.features import onnx_engine
from headstart.progress import Reporter


def iter_features(
    backbone: nn.Module,
    dataset: Dataset,
    batch_size: int = 64,
    precision: str = "auto",
    num_workers: int = 0,
    reporter: Reporter | None = None,
    description: str = "extracting features",
    throughput: Throughput | None = None,
) -> Iterator[np.ndarray]:
    """Yield the outputs of ``backbone`` (features; logits for a whole model) as float32, one batch at a time, in
    the dataset's order, so that memory does not grow with the number of items.

    The model runs in eval mode: image batches on a CPU as an exported graph in OpenVINO or ONNX Runtime (see
    :mod:`headstart.features.onnx_engine`), otherwise in PyTorch, channels-last (unless switched off); with
    ``precision="auto"``, in bf16 where the hardware and runtime have it. Its training mode is restored afterwards.
    Items and seconds (loading included) are added to ``throughput`` when one is given.
    """
    device = default_device()
    precision = extraction_precision(precision, dataset, device)
    was_training = backbone.training
    to_channels_last(backbone.eval().to(device=device))
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=getattr(dataset, "collate_fn", None),
    )
    try:
        start, runner = time.perf_counter(), None
        for index, (inputs, _) in enumerate((reporter or Reporter()).track(loader, len(loader), description)):
            if index == 0 and isinstance(inputs, torch.Tensor) and inputs.dim() == 4 \
                    and onnx_engine.applies(inputs[0], device):
                runner = onnx_engine.runner_for(backbone, inputs, len(dataset), precision)
            if runner is not None:
                batch = runner(inputs)
            else:
                inputs = channels_last(send_to_device(inputs, device))
                # The model is moved above, outside inference mode, so its parameters stay trainable afterwards.
                with torch.inference_mode(), autocast(device, precision):
                    batch = backbone(inputs).float().cpu().numpy()
            if throughput is not None:
                engine = "pytorch" if runner is None else runner.engine
                throughput.add(len(batch), time.perf_counter() - start, precision, engine)
            yield batch
            start = time.perf_counter()  # the consumer's time between batches is not ours
    finally:
        backbone.train(was_training)


def extraction_precision(precision: str, dataset: Dataset, device: torch.device | None = None) -> str:
    """What ``precision`` stands for when extracting ``dataset``'s features: ``auto`` is what the runtime of the
    exported graph does best where one runs the batches (:func:`onnx_engine.auto_precision`), otherwise what
    :func:`resolve_precision` says."""
    device = device or default_device()
    if precision == "auto" and len(dataset) and onnx_engine.applies(dataset[0][0], device):
        return onnx_engine.auto_precision()
    return resolve_precision(precision, device=device)


def extract_features(backbone: nn.Module, dataset: Dataset, **options: Any) -> np.ndarray:
    """All outputs of :func:`iter_features` (same options) as one float32 array (n_items, n_outputs)."""
    chunks = list(iter_features(backbone, dataset, **options))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
