"""Extracting features from frozen backbones."""

from headstart.features.extract import extract_features

__all__ = ["extract_features"]
