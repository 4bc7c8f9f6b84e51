"""A pre-trained backbone with a new head: the model every classification strategy trains and every run saves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from headstart.models.groups import layer_groups


@dataclass(frozen=True)
class HeadConfig:
    """The new output layers: ``linear`` (dropout then one linear layer) or ``mlp`` (one hidden layer), after a
    signed power transform of the features when ``power`` is not 1 (the linear probe's)."""

    kind: str = "linear"
    dropout: float = 0.0
    hidden: int = 512
    power: float = 1.0

    def to_record(self) -> dict:
        return asdict(self)


class SignedPower(nn.Module):
    """sign(x) |x|^power, feature by feature: evens out the heavy tails of pooled ReLU features before a linear
    classifier (Hu et al. 2021, "Leveraging the feature distribution in transfer-based few-shot learning")."""

    def __init__(self, power: float) -> None:
        super().__init__()
        self.power = power

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The floor keeps the gradient finite at 0, where sign(x) is 0 anyway.
        return torch.sign(x) * x.abs().clamp_min(1e-12).pow(self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}"


def build_head(num_features: int, num_classes: int, config: HeadConfig) -> nn.Sequential:
    layers: list[nn.Module] = [SignedPower(config.power)] if config.power != 1.0 else []
    layers += [nn.Dropout(config.dropout)] if config.dropout else []
    if config.kind == "linear":
        layers.append(nn.Linear(num_features, num_classes))
    elif config.kind == "mlp":
        layers += [nn.Linear(num_features, config.hidden), nn.GELU()]
        layers += [nn.Dropout(config.dropout)] if config.dropout else []
        layers.append(nn.Linear(config.hidden, num_classes))
    else:
        raise ValueError(f"unknown head kind {config.kind!r}; use 'linear' or 'mlp'")
    return nn.Sequential(*layers)


class TransferModel(nn.Module):
    """``head(backbone(x))``, with the backbone frozen group by group.

    BatchNorm layers whose parameters are all frozen stay in eval mode even while the model trains, so their running
    statistics keep the values learned in pre-training (as Keras does for frozen layers).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, head: HeadConfig | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_config = head or HeadConfig()
        self.head = build_head(backbone.num_features, num_classes, self.head_config)

    def replace_head(self, config: HeadConfig) -> None:
        """A new, untrained head of ``config`` with as many outputs as the one it replaces."""
        self.head_config = config
        self.head = build_head(self.num_features, self.head[-1].out_features, config)

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def backbone_groups(self) -> list[list[str]]:
        """Backbone parameter names from input to output (see ``models.layer_groups``)."""
        return layer_groups(self.backbone)

    def set_trainable(self, top_groups: int | None) -> None:
        """Train the head and the top ``top_groups`` backbone groups (None: all of it); freeze the rest."""
        groups = self.backbone_groups()
        keep = len(groups) if top_groups is None else max(0, min(top_groups, len(groups)))
        trainable = {name for group in groups[len(groups) - keep :] for name in group}
        for name, param in self.backbone.named_parameters():
            param.requires_grad_(name in trainable)
        for param in self.head.parameters():
            param.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> TransferModel:
        super().train(mode)
        if mode:
            for module in frozen_batchnorms(self.backbone.modules()):
                module.eval()
        return self


def frozen_batchnorms(modules: Iterable[nn.Module]) -> list[_BatchNorm]:
    """BatchNorm layers none of whose parameters are trainable."""
    return [
        m
        for m in modules
        if isinstance(m, _BatchNorm) and not any(p.requires_grad for p in m.parameters(recurse=False))
    ]
