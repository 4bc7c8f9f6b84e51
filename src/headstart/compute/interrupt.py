"""Ctrl-C that is never lost: Python drops a KeyboardInterrupt raised inside a finalizer (e.g. a data loader's
``__del__`` between epochs) with only an "Exception ignored" line, and training would run on to the end. The
handler also records the request, and the training loop checks it at every step."""

from __future__ import annotations

import signal
import threading

_requested = threading.Event()


def _handler(signum, frame) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """Use the recording handler for SIGINT (only the main thread may set handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if its first KeyboardInterrupt was swallowed."""
    if _requested.is_set():
        raise KeyboardInterrupt
