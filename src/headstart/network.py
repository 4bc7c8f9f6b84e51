"""Failing fast when a hub is out of reach, instead of hanging on a download."""

from __future__ import annotations

import os
import socket

from headstart.errors import HeadstartError

PROBE_TIMEOUT_S = 3.0


def require_network(host: str, what: str, fix: str) -> None:
    """Raise a HeadstartError within a few seconds when ``host`` cannot be reached (or offline mode is set)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HEADSTART_OFFLINE") == "1":
        raise HeadstartError(f"{what} must be downloaded from {host}, but offline mode is set; {fix}")
    try:
        with socket.create_connection((host, 443), timeout=PROBE_TIMEOUT_S):
            return
    except OSError as exc:
        raise HeadstartError(f"{what} must be downloaded from {host}, which is unreachable ({exc}); {fix}") from exc
