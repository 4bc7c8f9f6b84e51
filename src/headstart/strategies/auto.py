"""auto: pick a strategy from the data, and say why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

FEW_SHOT_PER_CLASS = 20


def choose_strategy(labels: Sequence) -> tuple[str, str]:
    """Return ``(strategy name, reason)`` for training data with these labels.

    With few examples per class, fine-tuning overfits and its validation signal is noise, while a regularised
    linear probe on frozen features is both strong and nearly free; with more, fine-tuning adapts the features to
    the new domain and wins (see docs/benchmarks.md for the measurements behind the threshold).
    """
    counts = Counter(labels)
    smallest = min(counts.values())
    if smallest < FEW_SHOT_PER_CLASS:
        return "linear-probe", (
            f"the smallest class has {smallest} training examples (< {FEW_SHOT_PER_CLASS}): a linear probe on "
            "frozen features is the most reliable with so little data"
        )
    return "fine-tune", (
        f"every class has at least {smallest} training examples (>= {FEW_SHOT_PER_CLASS}): enough to adapt the "
        "top of the backbone with gradual unfreezing"
    )
