"""How many cores this process may use: numpy and the OS only, so that serving needs no torch."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on: more BLAS or OpenMP threads than that only thrash."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
