"""Extracting features from frozen backbones, and caching them on disk by content."""

from headstart.features.cache import FeatureCache, cached_features
from headstart.features.extract import extract_features, iter_features

__all__ = ["FeatureCache", "cached_features", "extract_features", "iter_features"]
