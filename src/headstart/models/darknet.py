"""Darknet (YOLOv3) networks in PyTorch, built from a ``.cfg`` file, with the original ``.weights`` loaded into them.

Only the layer types of the YOLOv3 family are read: ``convolutional`` (with batch norm and leaky ReLU), ``maxpool``
(including Darknet's size-2 stride-1 one, padded on the right and bottom), ``route``, ``shortcut``, ``upsample`` and
``yolo``. The network returns the raw maps of its ``yolo`` layers; :func:`decode` turns them into boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from headstart.errors import HeadstartError
from headstart.models.transfer import frozen_batchnorms

LEAKY_SLOPE = 0.1
BN_EPS = 1e-6  # Darknet's own epsilon (sqrt(var + .000001f))


def parse_cfg(path: Path) -> list[dict[str, str]]:
    """The cfg's sections in order: ``{"type": "convolutional", "filters": "16", ...}``."""
    if not path.is_file():
        raise HeadstartError(f"Darknet cfg not found: {path}; pass the .cfg that goes with the weights")
    blocks: list[dict[str, str]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            blocks.append({"type": line.strip("[]").strip()})
        elif "=" in line and blocks:
            key, value = line.split("=", 1)
            blocks[-1][key.strip()] = value.strip()
        else:
            raise HeadstartError(f"{path}, line {number}: cannot read '{line}'; expected [section] or key=value")
    if not blocks or blocks[0]["type"] not in ("net", "network"):
        raise HeadstartError(f"{path} does not start with a [net] section; is it a Darknet cfg?")
    return blocks


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class YoloHead:
    """One detection scale: its anchors (w, h in input pixels), the number of classes and the layer feeding it."""

    anchors: tuple[tuple[float, float], ...]
    num_classes: int
    conv_index: int  # index of the 1x1 convolution that produces this head's map

    @property
    def outputs(self) -> int:
        return len(self.anchors) * (5 + self.num_classes)


class Conv(nn.Module):
    def __init__(self, in_channels: int, block: dict[str, str]) -> None:
        super().__init__()
        size, filters = int(block["size"]), int(block["filters"])
        bn = int(block.get("batch_normalize", 0)) == 1
        padding = size // 2 if int(block.get("pad", 0)) else int(block.get("padding", 0))
        self.conv = nn.Conv2d(in_channels, filters, size, int(block.get("stride", 1)), padding, bias=not bn)
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS) if bn else None
        activation = block.get("activation", "linear")
        if activation not in ("leaky", "linear"):
            raise HeadstartError(f"Darknet activation '{activation}' is not supported; use leaky or linear")
        self.leaky = activation == "leaky"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.leaky else x


class MaxPool(nn.Module):
    """Darknet's max-pool: padded by ``size - 1`` on the right and bottom, so stride 1 keeps the map size."""

    def __init__(self, size: int, stride: int) -> None:
        super().__init__()
        self.size, self.stride = size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.size - 1
        if pad:
            x = F.pad(x, (0, pad, 0, pad), mode="replicate")
        return F.max_pool2d(x, self.size, self.stride)


class Upsample(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.stride, mode="nearest")


class Darknet(nn.Module):
    """The network a Darknet cfg describes; ``forward`` returns one raw map per ``yolo`` layer (B, A*(5+C), H, W)."""

    def __init__(self, blocks: list[dict[str, str]], source: str = "cfg") -> None:
        super().__init__()
        net = blocks[0]
        self.input_size = (int(net.get("height", 416)), int(net.get("width", 416)))
        self.layers = nn.ModuleList()
        self.kinds: list[str] = []
        self.sources: list[list[int]] = []  # route/shortcut inputs, absolute indices
        heads: list[YoloHead] = []
        channels: list[int] = []
        in_ch = int(net.get("channels", 3))
        for index, block in enumerate(blocks[1:]):
            kind, module, sources = block["type"], nn.Identity(), []
            if kind == "convolutional":
                module = Conv(in_ch, block)
                out_ch = module.conv.out_channels
            elif kind == "maxpool":
                module, out_ch = MaxPool(int(block["size"]), int(block["stride"])), in_ch
            elif kind == "upsample":
                module, out_ch = Upsample(int(block.get("stride", 2))), in_ch
            elif kind in ("route", "shortcut"):
                refs = _ints(block["layers"] if kind == "route" else block["from"])
                sources = [r if r >= 0 else index + r for r in refs]
                if kind == "shortcut":
                    sources = [index - 1, *sources]
                out_ch = sum(channels[s] for s in sources) if kind == "route" else in_ch
            elif kind == "yolo":
                anchors = _ints(block["anchors"])
                pairs = [(float(anchors[2 * m]), float(anchors[2 * m + 1])) for m in _ints(block["mask"])]
                heads.append(YoloHead(tuple(pairs), int(block["classes"]), index - 1))
                out_ch = in_ch
            else:
                raise HeadstartError(f"{source}: Darknet layer [{kind}] is not supported (YOLOv3-family cfgs only)")
            self.layers.append(module)
            self.kinds.append(kind)
            self.sources.append(sources)
            channels.append(out_ch)
            in_ch = out_ch
        self.heads = heads
        self._keep = {s for refs in self.sources for s in refs}

    @property
    def num_classes(self) -> int:
        return self.heads[0].num_classes

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.last_input_side = int(x.shape[-1])  # what the loss measures its boxes against
        outputs: dict[int, torch.Tensor] = {}
        maps = []
        for index, (kind, layer) in enumerate(zip(self.kinds, self.layers, strict=True)):
            if kind == "route":
                x = torch.cat([outputs[s] for s in self.sources[index]], 1)
            elif kind == "shortcut":
                x = outputs[self.sources[index][0]] + outputs[self.sources[index][1]]
            elif kind == "yolo":
                maps.append(x)
            else:
                x = layer(x)
            if index in self._keep:
                outputs[index] = x
        return maps

    def train(self, mode: bool = True) -> Darknet:
        """As ``nn.Module.train``, but frozen BatchNorm layers keep their pre-trained statistics (eval mode)."""
        super().train(mode)
        if mode:
            for module in frozen_batchnorms(self.modules()):
                module.eval()
        return self

    def layer_groups(self) -> list[list[str]]:
        """One group per convolutional layer (its convolution and batch norm), from input to output, without the
        output layers: they are class-specific, replaced for new classes (``reset_classes``), not adapted."""
        outputs = {h.conv_index for h in self.heads}
        groups = []
        for index, kind in enumerate(self.kinds):
            if kind == "convolutional" and index not in outputs:
                groups.append([f"layers.{index}.{name}" for name, _ in self.layers[index].named_parameters()])
        return [g for g in groups if g]

    def output_convs(self) -> list[nn.Conv2d]:
        """The 1x1 convolutions that produce the yolo maps: the class-specific output layers."""
        return [self.layers[h.conv_index].conv for h in self.heads]

    def reset_classes(self, num_classes: int) -> None:
        """New, randomly initialised output layers for ``num_classes`` classes; everything else is kept."""
        for position, head in enumerate(self.heads):
            old = self.layers[head.conv_index].conv
            self.heads[position] = YoloHead(head.anchors, num_classes, head.conv_index)
            new = nn.Conv2d(old.in_channels, self.heads[position].outputs, 1, bias=True)
            nn.init.normal_(new.weight, std=0.01)
            with torch.no_grad():  # objectness starts low (about 1%), as in YOLO's usual bias init
                new.bias.view(len(head.anchors), -1)[:, 4].fill_(-4.6)
                new.bias.view(len(head.anchors), -1)[:, 5:].fill_(-4.6)
            self.layers[head.conv_index].conv = new


def load_darknet_weights(model: Darknet, path: Path) -> None:
    """Read a Darknet ``.weights`` file into ``model``; every float must be consumed, exactly."""
    if not path.is_file():
        raise HeadstartError(f"Darknet weights not found: {path}")
    data = path.read_bytes()
    major, minor, _ = np.frombuffer(data[:12], dtype=np.int32)
    offset = 12 + (8 if major * 10 + minor >= 2 else 4)
    floats = np.frombuffer(data[offset:], dtype=np.float32)
    position = 0

    def take(tensor: torch.Tensor) -> None:
        nonlocal position
        count = tensor.numel()
        if position + count > len(floats):
            raise HeadstartError(
                f"{path} does not fit the cfg: it ends after {len(floats):,} floats but the network needs more; "
                "pass the cfg these weights were trained with"
            )
        tensor.copy_(torch.from_numpy(floats[position : position + count].copy()).view_as(tensor))
        position += count

    with torch.no_grad():
        for layer in model.layers:
            if not isinstance(layer, Conv):
                continue
            if layer.bn is not None:
                for tensor in (layer.bn.bias, layer.bn.weight, layer.bn.running_mean, layer.bn.running_var):
                    take(tensor)
            else:
                take(layer.conv.bias)
            take(layer.conv.weight)
    if position != len(floats):
        raise HeadstartError(
            f"{path} does not fit the cfg: {len(floats) - position:,} of its {len(floats):,} floats are left over; "
            "pass the cfg these weights were trained with"
        )


def decode(maps: list[torch.Tensor], heads: list[YoloHead], input_size: tuple[int, int]) -> torch.Tensor:
    """Raw yolo maps to (B, N, 5 + C) rows ``cx, cy, w, h`` (input pixels), objectness, class probabilities."""
    rows = []
    height, width = input_size
    for raw, head in zip(maps, heads, strict=True):
        b, _, h, w = raw.shape
        p = raw.float().view(b, len(head.anchors), 5 + head.num_classes, h, w).permute(0, 1, 3, 4, 2)
        ys, xs = torch.meshgrid(torch.arange(h, device=raw.device), torch.arange(w, device=raw.device), indexing="ij")
        anchors = torch.tensor(head.anchors, device=raw.device).view(1, -1, 1, 1, 2)
        cx = (p[..., 0].sigmoid() + xs) * (width / w)
        cy = (p[..., 1].sigmoid() + ys) * (height / h)
        wh = p[..., 2:4].exp() * anchors
        rows.append(torch.cat([cx[..., None], cy[..., None], wh, p[..., 4:].sigmoid()], -1).reshape(b, -1, p.shape[-1]))
    return torch.cat(rows, 1)
