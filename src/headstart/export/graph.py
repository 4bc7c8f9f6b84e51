"""The exported graphs: a run's model with its preprocessing (images) or pooling (text) and a softmax inside.

Both are plain ``nn.Module`` wrappers, so the same module runs in PyTorch and is traced for ONNX and TorchScript;
the exported file is checked against it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from headstart.tasks.image import scale_side

# ONNX Resize has linear and cubic modes (cubic with PyTorch's a=-0.75); PIL's other filters have no twin.
GRAPH_INTERPOLATION = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest"}


def crop_geometry(preprocessing: dict) -> tuple[int, int]:
    """``(scale, crop)``: the side images are resized to, then the centre crop (timm's eval transform)."""
    return scale_side(preprocessing), int(preprocessing.get("input_size", (3, 224, 224))[-1])


class ImagePipeline(nn.Module):
    """uint8 or float (0-255) RGB images, NCHW, square (any side) -> class probabilities.

    Inside: resize to ``scale`` x ``scale``, centre crop ``crop`` x ``crop``, scale to [0, 1], normalise, model,
    softmax. For square images this is headstart's own (timm) preprocessing up to the resampling filter.
    """

    def __init__(self, model: nn.Module, preprocessing: dict) -> None:
        super().__init__()
        self.model = model
        self.scale, self.crop = crop_geometry(preprocessing)
        self.mode = GRAPH_INTERPOLATION.get(preprocessing.get("interpolation", "bilinear"), "bilinear")
        mean = torch.tensor(preprocessing.get("mean", (0.485, 0.456, 0.406)), dtype=torch.float32)
        std = torch.tensor(preprocessing.get("std", (0.229, 0.224, 0.225)), dtype=torch.float32)
        # (x / 255 - mean) / std as one multiply-add.
        self.register_buffer("factor", (1.0 / (255.0 * std)).view(1, 3, 1, 1))
        self.register_buffer("offset", (-mean / std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        align = None if self.mode == "nearest" else False
        x = F.interpolate(x, size=(self.scale, self.scale), mode=self.mode, align_corners=align)
        if self.mode == "bicubic":
            x = x.clamp(0.0, 255.0)  # PIL clips bicubic overshoot to the uint8 range
        top = (self.scale - self.crop) // 2
        x = x[:, :, top : top + self.crop, top : top + self.crop]
        x = x * self.factor + self.offset
        return torch.softmax(self.model(x), dim=1)


class TextPipeline(nn.Module):
    """``input_ids``, ``attention_mask`` (int64, batch x tokens) -> class probabilities (encoder, pooling, head)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.model({"input_ids": input_ids, "attention_mask": attention_mask})
        return torch.softmax(logits, dim=1)
