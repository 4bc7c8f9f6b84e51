"""Scoring a trained model."""

from headstart.evaluation.metrics import calibration, classification_metrics

__all__ = ["calibration", "classification_metrics"]
