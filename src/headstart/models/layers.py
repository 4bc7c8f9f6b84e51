"""A backbone cut after one of its intermediate layers: ``NAME@LAYER`` in the registry.

Far from the pre-training data, the last layers of a network are often too specialised and an earlier stage
transfers better (Yosinski et al., 2014). ``headstart rank --layers`` scores every stage this way before training,
and ``--model efficientnet_lite0@blocks.4`` trains from the one it recommends: the backbone then ends after that
stage, its output pooled to one vector per input, and the head sits on top.

Stages are the ones the model itself reports: a timm model's ``feature_info`` (e.g. ``blocks.0`` ... ``blocks.6``),
a text encoder's transformer layers but the last (``layer.0`` ... ``layer.4`` for MiniLM-L6).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from torch import nn

from headstart.errors import HeadstartError
from headstart.models.groups import layer_groups
from headstart.models.hf_text import TextEncoder
from headstart.models.registry import ModelSpec, get_model_spec, register_resolver

SEPARATOR = "@"
NOT_LAYERS = {"random"}  # NAME@random is the ranking's random-weights reference, not a cut


class StageFeatures(nn.Module):
    """A timm model that ends after its stage ``index`` of ``feature_info``, globally average-pooled."""

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        model.prune_intermediate_layers([index], prune_norm=True, prune_head=True)  # drops what comes after
        self.model = model
        self.index = index
        self.num_features = model.feature_info[index]["num_chs"]

    def forward(self, x):
        (stage,) = self.model.forward_intermediates(x, indices=[self.index], intermediates_only=True)
        return stage.mean((2, 3))

    def layer_groups(self) -> list[list[str]]:
        return [[f"model.{name}" for name in group] for group in layer_groups(self.model)]


def _text_layers(encoder: TextEncoder) -> nn.ModuleList:
    """The transformer layers of a Hugging Face encoder: its ModuleList with one entry per hidden layer."""
    count = encoder.model.config.num_hidden_layers
    for module in encoder.model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise HeadstartError(f"cannot find the {count} transformer layers of {type(encoder.model).__name__}")


def _stages(backbone: nn.Module) -> list[str]:
    if isinstance(backbone, TextEncoder):
        return [f"layer.{i}" for i in range(len(_text_layers(backbone)))]
    if hasattr(backbone, "feature_info") and hasattr(backbone, "prune_intermediate_layers"):
        return [info["module"] for info in backbone.feature_info]
    return []


def layer_names(backbone: nn.Module) -> list[str]:
    """The intermediate layers ``backbone`` can be cut after, from input to output."""
    names = _stages(backbone)
    # A text encoder cut after its last layer is the whole encoder (a timm model's last stage still lacks its head).
    return names[:-1] if isinstance(backbone, TextEncoder) else names


def cut_after(backbone: nn.Module, layer: str, model_name: str = "the model") -> nn.Module:
    """``backbone`` ending after ``layer`` (one of ``layer_names``, or a text encoder's last layer: a saved run's
    encoder config already has the cut's layers), pooled as the backbone pools."""
    names = _stages(backbone)
    if layer not in names:
        hint = f"use one of {', '.join(names)}" if names else "this model has no layers to cut after"
        raise HeadstartError(f"{model_name} has no layer '{layer}': {hint} (headstart rank --layers scores them)")
    index = names.index(layer)
    if isinstance(backbone, TextEncoder):
        layers = _text_layers(backbone)
        del layers[index + 1:]
        backbone.model.config.num_hidden_layers = index + 1
        return backbone
    return StageFeatures(backbone, index)


def uncut(name: str) -> str:
    """The name of the whole network a ``NAME@LAYER`` cut comes from (``name`` itself for anything else)."""
    base_name, separator, layer = name.rpartition(SEPARATOR)
    return base_name if separator and base_name and layer and layer not in NOT_LAYERS else name


def _build_cut(spec: ModelSpec, pretrained: bool = True, keep_source_head: bool = False, *, base: ModelSpec,
               layer: str) -> nn.Module:
    # The base builder with this spec's weights (a --weights FILE replaces them on the cut spec), never its head:
    # a cut network has no source classifier.
    backbone = base.builder(replace(base, weights=spec.weights), pretrained=pretrained, keep_source_head=False)
    return cut_after(backbone, layer, base.name)


def _resolve_cut(name: str) -> ModelSpec | None:
    base_name = uncut(name)
    if base_name == name:
        return None
    layer = name.rpartition(SEPARATOR)[2]
    try:
        base = get_model_spec(base_name)
    except HeadstartError:  # not a cut (e.g. a folder with an @ in its name): the other resolvers may know it
        return None
    description = f"{base.name} cut after its layer {layer}, pooled"
    return replace(base, name=f"{base.name}{SEPARATOR}{layer}", description=description,
                   builder=partial(_build_cut, base=base, layer=layer))


# First: the Hugging Face resolver would read ``org/model@layer.3`` as a hub id.
register_resolver(_resolve_cut, first=True)
