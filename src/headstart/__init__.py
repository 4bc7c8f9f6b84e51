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
    "evaluate": "headstart.api",
    "rank": "headstart.api",
    "train": "headstart.api",
    "ImageClassifier": "headstart.classifier",
    "TextClassifier": "headstart.classifier",
    "TransferClassifier": "headstart.classifier",
    "load": "headstart.classifier",
    "create_backbone": "headstart.models",
    "get_model_spec": "headstart.models",
    "list_models": "headstart.models",
}

if TYPE_CHECKING:
    from headstart.api import evaluate, rank, train
    from headstart.classifier import ImageClassifier, TextClassifier, TransferClassifier, load
    from headstart.models import create_backbone, get_model_spec, list_models


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'headstart' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "HeadstartError",
    "ImageClassifier",
    "TextClassifier",
    "TransferClassifier",
    "__version__",
    "create_backbone",
    "evaluate",
    "get_model_spec",
    "list_models",
    "load",
    "rank",
    "train",
]
