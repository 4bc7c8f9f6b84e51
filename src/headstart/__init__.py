"""headstart: transfer learning on a plain CPU.

>>> from headstart import ImageClassifier
>>> clf = ImageClassifier(strategy="linear-probe").fit("my_photos/")   # doctest: +SKIP
>>> clf.predict(["cat.jpg"])                                            # doctest: +SKIP
"""

__version__ = "0.1.0"

from headstart.api import evaluate, rank, train
from headstart.classifier import ImageClassifier, TextClassifier, TransferClassifier, load
from headstart.errors import HeadstartError
from headstart.models import create_backbone, get_model_spec, list_models

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
