"""How unlike the training data an input is: the "none of these" answer (issue 29).

A classifier's softmax spreads all of its probability over the classes it knows, so an input of no known class can
still get 100% (teachable-machine-v1 #22). The score used here is the distance of the input's features to its k-th
nearest labelled example, on L2-normalised features (Sun et al. 2022, "Out-of-distribution detection with deep
nearest neighbors"): no assumption about the shape of the classes, nothing to train, and a threshold calibrated on
the labelled examples themselves, each scored against the others (leave-one-out), so that about ``false_alarm_rate``
of inputs like the training data are flagged. Measured against the maximum softmax probability in bench/open_set.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from headstart.errors import HeadstartError
from headstart.search.index import normalised, set_threads

DEFAULT_K = 5
DEFAULT_FALSE_ALARM_RATE = 0.05
MAX_REFERENCE = 5_000  # labelled examples kept to compare with (drawn class by class beyond that)
REFERENCE_BYTES = 64 * 2**20  # and at most this much of their float16 features (TF-IDF's are 20,000 wide)


@dataclass
class NoveltyDetector:
    """``fit`` on the labelled examples' features, then ``score`` inputs (higher: less like them) and ``unknown``
    (score above the calibrated threshold)."""

    k: int = DEFAULT_K
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE
    reference: np.ndarray | None = field(default=None, repr=False)  # L2-normalised float32 features of the examples compared with
    threshold: float | None = None

    def fit(self, features: np.ndarray) -> NoveltyDetector:
        if len(features) < 2:
            raise HeadstartError("telling unknown inputs apart needs at least 2 labelled examples")
        # Kept as float16 in the run: calibrate on exactly what a loaded run compares with.
        self.reference = normalised(features).astype(np.float16).astype(np.float32)
        self.k = max(1, min(self.k, len(self.reference) - 1))
        # Each example against the others: its own row is its nearest neighbour, so ask for one more.
        own = self._distances(self.reference, self.k + 1)[:, -1]
        self.threshold = float(np.quantile(own, 1.0 - self.false_alarm_rate, method="higher"))
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        """1 - the cosine similarity to the k-th most similar reference example, per input (0 to 2)."""
        if self.reference is None:
            raise HeadstartError("the unknown-input detector is not fitted")
        return self._distances(normalised(features), self.k)[:, -1]

    def unknown(self, features: np.ndarray) -> np.ndarray:
        return self.score(features) > self.threshold

    def _distances(self, queries: np.ndarray, k: int) -> np.ndarray:
        import faiss

        set_threads()
        index = faiss.IndexFlatIP(self.reference.shape[1])
        index.add(self.reference)
        similarities, _ = index.search(queries, k)
        return 1.0 - similarities.astype(np.float64)

    def record(self) -> dict:
        return {"score": f"distance to the {self.k}-th nearest labelled example (cosine, L2-normalised features)",
                "k": self.k, "threshold": self.threshold, "false_alarm_rate": self.false_alarm_rate,
                "reference_examples": 0 if self.reference is None else len(self.reference)}


def reference_limit(num_features: int) -> int:
    """How many examples' features a run keeps: ``MAX_REFERENCE``, fewer for very wide features."""
    return int(max(DEFAULT_K + 1, min(MAX_REFERENCE, REFERENCE_BYTES // (2 * max(1, num_features)))))


def reference_rows(labels: Sequence[str], limit: int = MAX_REFERENCE, seed: int = 0, least: int = DEFAULT_K + 1
                   ) -> np.ndarray:
    """Indices of at most ``limit`` examples (all of them when there are fewer), drawn with ``seed`` class by class
    in proportion to their counts, every class keeping at least ``least`` (or all it has): a rare class left with
    no reference would see all its inputs flagged."""
    labels = np.asarray(labels)
    if len(labels) <= limit:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    kept = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        share = max(min(len(rows), least), int(limit * len(rows) / len(labels)))
        kept.append(rng.choice(rows, share, replace=False))
    return np.sort(np.concatenate(kept))
