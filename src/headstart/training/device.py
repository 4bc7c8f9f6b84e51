"""Device and precision, decided by accelerate so that one code path serves CPU, GPU and several processes."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
from accelerate import PartialState

PRECISIONS = ("fp32", "bf16")


def default_device() -> torch.device:
    """The device accelerate picked for this process (CPU here, a GPU when there is one)."""
    return PartialState().device


def channels_last(inputs: Any) -> Any:
    """Image batches in channels-last memory order (faster convolutions on CPU); other inputs unchanged."""
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision='bf16'``, a no-op for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def usable_cores() -> int:
    """The cores this process may run on: more BLAS or OpenMP threads than that only thrash."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
