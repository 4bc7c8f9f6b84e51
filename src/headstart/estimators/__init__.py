"""The estimators: one family, one base (``Estimator``), one estimator per task."""

from headstart.estimators.base import (
    ESTIMATORS,
    Estimator,
    estimator_for,
    evaluation_split,
    load,
    register_estimator,
)
from headstart.estimators.classifier import ImageClassifier, TextClassifier, TransferClassifier
from headstart.estimators.detector import ObjectDetector
from headstart.estimators.multilabel import ImageMultiLabelClassifier, TextMultiLabelClassifier

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "ImageClassifier",
    "ImageMultiLabelClassifier",
    "ObjectDetector",
    "TextClassifier",
    "TextMultiLabelClassifier",
    "TransferClassifier",
    "estimator_for",
    "evaluation_split",
    "load",
    "register_estimator",
]
