"""Forward passes of image models through an exported ONNX graph, for feature extraction and inference on CPUs.

Why: PyTorch's CPU kernels are slow for these backbones. On the CPU measured (docs/benchmarks.md,
bench/engines.py), EfficientNet-Lite0 at 224 px runs at 50 images/s in PyTorch fp32 (channels-last) and 108 with
bf16 autocast; the same graph exported to ONNX runs at 176 in ONNX Runtime fp32, 321 in OpenVINO fp32 and 548 in
OpenVINO bf16 (batch norm folded into the convolutions, activations fused, depthwise and bf16 kernels of their
own). fp32 outputs are within 2e-5 of PyTorch's.

The model is traced once per set of weights (about a second) and the compiled graph kept, so repeated calls
(train features, then test features) pay it once. Two runtimes run the graph: OpenVINO where it is installed
(a core dependency: fastest, and the only one with bf16 kernels on CPUs), else ONNX Runtime (fp32 only; bf16 is
then left to PyTorch's autocast). ``HEADSTART_ONNX_EXTRACTION`` picks: ``0`` switches this off, ``openvino`` or
``onnxruntime`` asks for one; unset, the first installed. A model the exporter or runtime cannot handle falls back
to PyTorch with a warning.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.onnx import ort_session, write_graph

ENV = "HEADSTART_ONNX_EXTRACTION"
BACKENDS = ("openvino", "onnxruntime")  # in the order preferred
MIN_ITEMS = 128  # below this, tracing (about a second: 50-100 images at PyTorch's rates) costs more than it saves


def backend() -> str | None:
    """The runtime that runs exported graphs here (see the module's docstring), or None for PyTorch."""
    choice = os.environ.get(ENV, "").strip().lower()
    if choice == "0":
        return None
    wanted = [choice] if choice in BACKENDS else BACKENDS
    needs = {"openvino": ("onnx", "openvino"), "onnxruntime": ("onnx", "onnxruntime")}
    return next((name for name in wanted if all(importlib.util.find_spec(m) for m in needs[name])), None)


def applies(example: Any, device: torch.device) -> bool:
    """Whether batches like ``example`` (one input) go through an exported graph: an image tensor, on a CPU."""
    return device.type == "cpu" and isinstance(example, torch.Tensor) and example.dim() == 3 and backend() is not None


def bf16_capable() -> bool:
    """Whether the runtime here has bf16 kernels for this CPU (OpenVINO on AVX512-BF16 or AMX)."""
    return backend() == "openvino" and _openvino_cpu_has_bf16()


@functools.cache
def _openvino_cpu_has_bf16() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def auto_precision() -> str:
    """What ``precision="auto"`` means for a graph run here: bf16 where the runtime has bf16 kernels for this CPU
    (OpenVINO: 1.7x its fp32 on the CPU measured), else fp32 (ONNX Runtime's fp32 beats PyTorch's bf16)."""
    return "bf16" if bf16_capable() else "fp32"


def export(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Trace ``model`` to an ONNX file taking float32 NCHW batches of any size, named ``x`` -> ``y``."""
    write_graph(model, (example.float().contiguous(),), path, ["x"], ["y"], {"x": {0: "n"}, "y": {0: "n"}})


class OnnxRunner:
    """One traced model in one runtime: ``runner(batch) -> np.ndarray`` (float32 outputs)."""

    def __init__(self, model: nn.Module, example: torch.Tensor, engine: str = "onnxruntime",
                 precision: str = "fp32") -> None:
        self.engine, self.precision = engine, precision
        threads = torch.get_num_threads()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            export(model, example, path)
            if engine == "openvino":
                import openvino

                core = openvino.Core()
                # LATENCY: one stream on all the threads, twice THROUGHPUT's rate on 2 cores for batches of 64.
                config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                          "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
                self._request = core.compile_model(core.read_model(str(path)), "CPU", config).create_infer_request()
            else:
                self._session = ort_session(path, threads)

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        inputs = np.ascontiguousarray(batch.float().numpy())  # the runtimes take NCHW, not channels-last strides
        if self.engine == "openvino":
            return np.array(self._request.infer({0: inputs})[0], dtype=np.float32)  # a copy: the request reuses it
        return self._session.run(None, {"x": inputs})[0].astype(np.float32, copy=False)


def _weights_key(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or updated in place (optimiser steps, loading)."""
    tensors = [*model.parameters(), *model.buffers()]
    return (id(model), tuple((t.data_ptr(), t._version) for t in tensors))


_RUNNERS: dict[tuple, OnnxRunner | None] = {}


def runner_for(model: nn.Module, example: torch.Tensor, items: int, precision: str = "fp32") -> OnnxRunner | None:
    """The compiled graph for ``model`` with its current weights, this input shape and ``precision`` (fp32 or
    bf16), traced when first needed; None where PyTorch should run instead: few items and nothing compiled yet,
    bf16 without a runtime that has it, or a model that cannot be exported or compiled."""
    engine = backend()
    if engine is None or (precision == "bf16" and not bf16_capable()) or precision not in ("fp32", "bf16"):
        return None
    key = (_weights_key(model), tuple(example.shape[1:]), engine, precision)
    if key not in _RUNNERS:
        if items < MIN_ITEMS:
            return None
        _RUNNERS.clear()  # one model at a time: older weights are not asked for again
        try:
            _RUNNERS[key] = OnnxRunner(model, example, engine, precision)
        except Exception as exc:
            warnings.warn(f"{engine} extraction unavailable for this model ({type(exc).__name__}); using PyTorch",
                          stacklevel=2)
            _RUNNERS[key] = None
    return _RUNNERS[key]
