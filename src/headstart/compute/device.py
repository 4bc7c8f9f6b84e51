"""Device and precision, decided by accelerate so that one code path serves CPU, GPU and several processes."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState

PRECISIONS = ("auto", "fp32", "bf16")
# Speed switches, on by default; set to 0 to run the plain path (e.g. to compare, or on a platform where it hurts).
CHANNELS_LAST_ENV = "HEADSTART_CHANNELS_LAST"


def default_device() -> torch.device:
    """The device accelerate picked for this process (CPU here, a GPU when there is one)."""
    return PartialState().device


def channels_last_enabled() -> bool:
    """Whether image models and batches use channels-last memory order (``HEADSTART_CHANNELS_LAST=0``: no)."""
    return os.environ.get(CHANNELS_LAST_ENV, "1") != "0"


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """The model's 4-d weights in channels-last order when enabled (no-op for text models)."""
    return model.to(memory_format=torch.channels_last) if channels_last_enabled() else model


def channels_last(inputs: Any) -> Any:
    """Image batches in channels-last memory order (faster convolutions on CPU); other inputs unchanged."""
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4 and channels_last_enabled():
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


@functools.cache
def native_bf16(device_type: str = "cpu") -> bool:
    """Whether the device computes bf16 natively (AVX512-BF16 or AMX on CPU; Ampere or newer on GPU)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, training: bool = False, device: torch.device | None = None) -> str:
    """``auto`` is bf16 for forward-only passes (feature extraction, inference) on hardware with native bf16,
    and fp32 for training steps and elsewhere; ``fp32`` and ``bf16`` are kept as given."""
    if precision != "auto":
        return precision
    device_type = (device or default_device()).type
    return "bf16" if not training and native_bf16(device_type) else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision='bf16'`` (and ``auto`` where it means bf16), a no-op for fp32."""
    if resolve_precision(precision, device=device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_fields() -> dict[str, str]:
    """The first processor's entries in /proc/cpuinfo (model name, cpu family, model, flags...); {} elsewhere."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    first = lines[: lines.index("")] if "" in lines else lines
    return {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in first if ":" in line)}
