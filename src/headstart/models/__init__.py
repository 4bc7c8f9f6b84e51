"""Where pre-trained models come from: a registry of specs (builder, weights source, preprocessing, licence)."""

from headstart.models.groups import has_parameters, layer_groups
from headstart.models.registry import (
    ModelSpec,
    WeightsSource,
    create_backbone,
    get_model_spec,
    list_models,
    register_model,
    register_resolver,
)

__all__ = [
    "ModelSpec",
    "WeightsSource",
    "create_backbone",
    "get_model_spec",
    "has_parameters",
    "layer_groups",
    "list_models",
    "register_model",
    "register_resolver",
]
