"""Layer groups: a backbone's parameters split from input to output, for gradual unfreezing."""

from __future__ import annotations

from timm.models import group_parameters
from torch import nn


def has_parameters(module: nn.Module) -> bool:
    """Whether ``module`` has any weight at all (TF-IDF's feature module has none)."""
    return next(iter(module.parameters()), None) is not None


def layer_groups(backbone: nn.Module) -> list[list[str]]:
    """Parameter names grouped by depth, first group nearest the input.

    timm models describe their stages with ``group_matcher`` (stem, each block stage, final conv); other backbones
    may define ``layer_groups()`` themselves; anything else is one group.
    """
    if hasattr(backbone, "layer_groups"):
        return backbone.layer_groups()
    if hasattr(backbone, "group_matcher"):
        groups = group_parameters(backbone, backbone.group_matcher(coarse=True))
        return [groups[k] for k in sorted(groups)]
    return [[name for name, _ in backbone.named_parameters()]]
