"""The exported graphs: a run's model with its preprocessing (images) or pooling (text) and a softmax (a sigmoid
for label sets) inside.

Both are plain ``nn.Module`` wrappers, so the same module runs in PyTorch and is traced for ONNX and TorchScript;
the exported file is checked against it.
"""

from __future__ import annotations

import torch
from torch import nn

from headstart.tasks.image import scale_side


def _bicubic(x: torch.Tensor) -> torch.Tensor:
    """PIL's bicubic filter (a = -0.5)."""
    x = x.abs()
    near = (1.5 * x - 2.5) * x * x + 1
    far = ((x - 5) * x + 8) * x * (-0.5) + 2
    return torch.where(x < 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def _bilinear(x: torch.Tensor) -> torch.Tensor:
    return (1 - x.abs()).clamp(min=0)


# PIL's resampling filters and their support; other interpolations fall back to bilinear.
FILTERS = {"bicubic": (_bicubic, 2.0), "bilinear": (_bilinear, 1.0)}


def axis_weights(size: int, other: int, scale: int, crop: int, kind: str, like: torch.Tensor) -> torch.Tensor:
    """The (crop x size) matrix of PIL's resampling along an axis of ``size`` pixels (the image's other axis has
    ``other``): torchvision's Resize(scale) (shorter side to ``scale``), then its centre crop, as one step. Rows sum
    to 1; antialiased when shrinking. The sizes may be traced dimensions: one exported file serves any image size.
    """
    filt, _ = FILTERS.get(kind, FILTERS["bilinear"])
    index = torch.arange(size, dtype=like.dtype, device=like.device)
    n = index[-1:] + 1
    m = torch.arange(other, dtype=like.dtype, device=like.device)[-1:] + 1
    out = torch.where(n <= m, torch.full_like(n, float(scale)), torch.floor(scale * n / m))
    offset = torch.round((out - crop) / 2)
    ratio = n / out
    centres = (offset + torch.arange(crop, dtype=like.dtype, device=like.device) + 0.5) * ratio
    weights = filt((index[None, :] - centres[:, None] + 0.5) / ratio.clamp(min=1.0))
    return weights / weights.sum(1, keepdim=True)


def pil_resize_crop(x: torch.Tensor, scale: int, crop: int, kind: str) -> torch.Tensor:
    """N x C x H x W (0-255) resized so its shorter side is ``scale``, then centre-cropped to ``crop`` x ``crop``, as
    PIL does on 8-bit images: horizontal pass, round, vertical pass, round (``floor(v + 0.5)``, clipped to 0-255)."""
    height, width = x.shape[-2], x.shape[-1]
    across = axis_weights(width, height, scale, crop, kind, x)
    down = axis_weights(height, width, scale, crop, kind, x)
    x = (torch.matmul(x, across.t()) + 0.5).floor().clamp(0.0, 255.0)
    return (torch.matmul(down, x) + 0.5).floor().clamp(0.0, 255.0)


def crop_geometry(preprocessing: dict) -> tuple[int, int]:
    """``(scale, crop)``: the side images are resized to, then the centre crop (timm's eval transform)."""
    return scale_side(preprocessing), int(preprocessing.get("input_size", (3, 224, 224))[-1])


def probabilities(logits: torch.Tensor, output: str) -> torch.Tensor:
    """Class probabilities (``softmax``: one class per input) or per-label ones (``sigmoid``: label sets)."""
    return torch.sigmoid(logits) if output == "sigmoid" else torch.softmax(logits, dim=1)


class ImagePipeline(nn.Module):
    """uint8 or float (0-255) RGB images, NCHW (any size) -> class probabilities.

    Inside: resize (shorter side to ``scale``) and centre crop ``crop`` x ``crop`` with PIL's filter, scale to [0, 1],
    normalise, model, softmax: headstart's own (timm on PIL) evaluation preprocessing.
    """

    def __init__(self, model: nn.Module, preprocessing: dict, output: str = "softmax") -> None:
        super().__init__()
        self.model = model
        self.output = output
        self.scale, self.crop = crop_geometry(preprocessing)
        self.mode = preprocessing.get("interpolation", "bilinear")
        mean = torch.tensor(preprocessing.get("mean", (0.485, 0.456, 0.406)), dtype=torch.float32)
        std = torch.tensor(preprocessing.get("std", (0.229, 0.224, 0.225)), dtype=torch.float32)
        # (x / 255 - mean) / std as one multiply-add.
        self.register_buffer("factor", (1.0 / (255.0 * std)).view(1, 3, 1, 1))
        self.register_buffer("offset", (-mean / std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = pil_resize_crop(images.float(), self.scale, self.crop, self.mode)
        return probabilities(self.model(x * self.factor + self.offset), self.output)


class TextPipeline(nn.Module):
    """``input_ids``, ``attention_mask`` (int64, batch x tokens) -> class probabilities (encoder, pooling, head).
    With ``window_document`` (int64, one per row) the rows are windows of the texts it numbers: one row of
    probabilities per text."""

    def __init__(self, model: nn.Module, output: str = "softmax") -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                window_document: torch.Tensor | None = None) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if window_document is not None:
            inputs["window_document"] = window_document
        return probabilities(self.model(inputs), self.output)


class TfidfPipeline(nn.Module):
    """TF-IDF rows (float32, texts x vocabulary) -> class probabilities; the rows are computed outside the graph from
    the vocabulary file beside it (``headstart.data.tfidf``)."""

    def __init__(self, model: nn.Module, output: str = "softmax") -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, tfidf: torch.Tensor) -> torch.Tensor:
        return probabilities(self.model({"tfidf": tfidf}), self.output)


class DecodedDetector(nn.Module):
    """``images`` (B, 3, S, S) in [0, 1], letterboxed -> ``rows`` (B, N, 5 + C): cx, cy, w, h in input pixels,
    objectness, class probabilities (score = objectness x class probability; NMS is left to the caller)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from headstart.models.darknet import decode

        side = images.shape[-1]
        return decode(self.model(images), self.model.heads, (side, side))
