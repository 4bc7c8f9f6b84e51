"""What every text dataset shares: texts with their targets, a batch's targets as the loss reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class TextBatches(Dataset):
    """``(text, target)`` pairs (target -1 when unknown); subclasses encode a batch's texts in ``collate_fn``."""

    def __init__(self, texts: Sequence[str], targets: Sequence[Any] | None) -> None:
        self.texts = texts
        self.targets = targets

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[str, Any]:
        return self.texts[index], (self.targets[index] if self.targets is not None else -1)


def target_tensor(targets: Sequence[Any]) -> torch.Tensor:
    """Class indices (int64, as cross-entropy needs), or label sets' 0/1 rows (float)."""
    stacked = np.stack(targets)
    return torch.as_tensor(stacked, dtype=torch.long if stacked.dtype.kind in "iu" else torch.float32)
