"""Forward passes of image backbones through ONNX Runtime, for feature extraction and inference on CPUs.

Why: on the CPU measured (docs/benchmarks.md, bench/engines.py) ONNX Runtime's fp32 kernels run
EfficientNet-Lite0 1.5x faster than PyTorch's bf16 autocast and 3.2x faster than its channels-last fp32 (batch
norm folded into the convolutions at export, ReLU6 fused into them, its own depthwise kernels), with outputs within
2e-5 of PyTorch's fp32. The backbone is traced once per set of weights (about a second) and the session kept, so
repeated calls (train features, then test features) pay it once. Used for image batches on CPU when onnx and
onnxruntime are installed; ``HEADSTART_ONNX_EXTRACTION=0`` switches it off, and any model the exporter cannot
trace falls back to PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ENV = "HEADSTART_ONNX_EXTRACTION"
MIN_ITEMS = 128  # below this, tracing (about a second: 50-100 images at PyTorch's rates) costs more than it saves
OPSET = 17


def onnx_available() -> bool:
    """Whether ONNX extraction may be used: not switched off, and onnx and onnxruntime are installed."""
    if os.environ.get(ENV, "1") == "0":
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def applies(example: Any, device: torch.device) -> bool:
    """Whether batches like ``example`` (one input) can go through ONNX Runtime: an image tensor, on a CPU."""
    return device.type == "cpu" and isinstance(example, torch.Tensor) and example.dim() == 3 and onnx_available()


def _weights_key(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or updated in place (optimiser steps, loading)."""
    tensors = [*model.parameters(), *model.buffers()]
    return (id(model), tuple((t.data_ptr(), t._version) for t in tensors))


class OnnxRunner:
    """One traced model in one ONNX Runtime session: ``runner(batch) -> np.ndarray`` (float32 outputs)."""

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        import onnxruntime

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer chatter, not the user's concern
                torch.onnx.export(model, example.float().contiguous(), str(path), dynamo=False, opset_version=OPSET,
                                  input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        inputs = np.ascontiguousarray(batch.float().numpy())  # ONNX Runtime takes NCHW, not channels-last strides
        return self.session.run(None, {"x": inputs})[0].astype(np.float32, copy=False)


_RUNNERS: dict[tuple, OnnxRunner | None] = {}


def runner_for(model: nn.Module, example: torch.Tensor, items: int) -> OnnxRunner | None:
    """The session for ``model`` with its current weights and this input shape, traced when first needed; None
    where PyTorch should run instead (few items and no session yet, or a model the exporter cannot trace)."""
    key = (_weights_key(model), tuple(example.shape[1:]))
    if key not in _RUNNERS:
        if items < MIN_ITEMS:
            return None
        _RUNNERS.clear()  # one model at a time: older weights are not asked for again
        try:
            _RUNNERS[key] = OnnxRunner(model, example)
        except Exception as exc:  # noqa: BLE001 - any exporter or runtime failure means: use PyTorch
            warnings.warn(f"ONNX extraction unavailable for this model ({type(exc).__name__}); using PyTorch",
                          stacklevel=2)
            _RUNNERS[key] = None
    return _RUNNERS[key]
