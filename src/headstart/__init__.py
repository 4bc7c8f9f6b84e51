"""headstart: transfer learning on a plain CPU.

>>> from headstart import ImageClassifier
>>> clf = ImageClassifier(strategy="linear-probe").fit("my_photos/")   # doctest: +SKIP
>>> clf.predict(["cat.jpg"])                                            # doctest: +SKIP

The public names are imported on first use (PEP 562), so that ``import headstart`` and ``headstart --help`` do not
wait seconds for torch, timm and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headstart.errors import HeadstartError

__version__ = "0.1.0"

_LAZY = {
    "compare": "headstart.compare",
    "demo": "headstart.api",
    "embed": "headstart.api",
    "evaluate": "headstart.api",
    "export_run": "headstart.export",
    "predict": "headstart.api",
    "rank": "headstart.api",
    "similar": "headstart.api",
    "suggest": "headstart.api",
    "train": "headstart.api",
    "Estimator": "headstart.estimators",
    "ImageClassifier": "headstart.estimators",
    "ImageMultiLabelClassifier": "headstart.estimators",
    "ObjectDetector": "headstart.estimators",
    "TextClassifier": "headstart.estimators",
    "TextMultiLabelClassifier": "headstart.estimators",
    "TransferClassifier": "headstart.estimators",
    "load": "headstart.estimators",
    "RunConfig": "headstart.runconfig",
    "Contrastive": "headstart.strategies",
    "FineTune": "headstart.strategies",
    "Head": "headstart.strategies",
    "LinearProbe": "headstart.strategies",
    "Lora": "headstart.strategies",
    "Scratch": "headstart.strategies",
    "create_backbone": "headstart.models",
    "get_model_spec": "headstart.models",
    "list_models": "headstart.models",
}

if TYPE_CHECKING:
    from headstart.api import demo, embed, evaluate, predict, rank, similar, suggest, train
    from headstart.compare import compare
    from headstart.estimators import (
        Estimator,
        ImageClassifier,
        ImageMultiLabelClassifier,
        ObjectDetector,
        TextClassifier,
        TextMultiLabelClassifier,
        TransferClassifier,
        load,
    )
    from headstart.export import export_run
    from headstart.models import create_backbone, get_model_spec, list_models
    from headstart.runconfig import RunConfig
    from headstart.strategies import Contrastive, FineTune, Head, LinearProbe, Lora, Scratch


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'headstart' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Contrastive",
    "Estimator",
    "FineTune",
    "Head",
    "HeadstartError",
    "ImageClassifier",
    "ImageMultiLabelClassifier",
    "LinearProbe",
    "Lora",
    "ObjectDetector",
    "RunConfig",
    "Scratch",
    "TextClassifier",
    "TextMultiLabelClassifier",
    "TransferClassifier",
    "__version__",
    "compare",
    "create_backbone",
    "demo",
    "embed",
    "evaluate",
    "export_run",
    "get_model_spec",
    "list_models",
    "load",
    "predict",
    "rank",
    "similar",
    "suggest",
    "train",
]
