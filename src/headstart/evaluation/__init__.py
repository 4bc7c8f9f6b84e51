"""Scoring a trained model."""

from headstart.evaluation.metrics import classification_metrics

__all__ = ["classification_metrics"]
