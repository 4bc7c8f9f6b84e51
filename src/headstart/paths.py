"""Where headstart keeps files between runs (downloads, features): ``$XDG_CACHE_HOME/headstart`` by default."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "headstart"


def feature_cache_dir() -> Path:
    """The feature cache: ``$HEADSTART_FEATURE_CACHE``, else ``cache_root()/features``."""
    return Path(os.environ.get("HEADSTART_FEATURE_CACHE") or cache_root() / "features")
