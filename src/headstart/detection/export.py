"""ONNX export of a detector: the network with YOLO decoding, so the graph gives rows ready for NMS."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from headstart.models.darknet import Darknet, decode


class DecodedDetector(nn.Module):
    """``images`` (B, 3, S, S) in [0, 1], letterboxed -> ``rows`` (B, N, 5 + C): cx, cy, w, h in input pixels,
    objectness, class probabilities (score = objectness x class probability; NMS is left to the caller)."""

    def __init__(self, model: Darknet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        side = images.shape[-1]
        return decode(self.model(images), self.model.heads, (side, side))


def export_detector(model: Darknet, path: str | Path, side: int, format: str = "onnx") -> Path:
    """Write ``model`` with its decoding as ``onnx`` (opset 17, dynamic batch) or ``torchscript`` (traced) at the
    input size ``side``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = DecodedDetector(model).eval()
    example = torch.zeros(1, 3, side, side)
    if format == "torchscript":
        with torch.no_grad():
            torch.jit.trace(wrapper, (example,), check_trace=False).save(str(path))
        return path
    torch.onnx.export(wrapper, (example,), str(path), input_names=["images"],
                      output_names=["rows"], dynamic_axes={"images": {0: "batch"}, "rows": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return path
