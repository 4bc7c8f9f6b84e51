"""Nearest neighbours by cosine similarity with FAISS: similar-item search and train/test near-duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from headstart.compute.cores import usable_cores
from headstart.errors import HeadstartError


@dataclass(frozen=True)
class Neighbour:
    id: str
    label: str | None
    similarity: float  # cosine, in [-1, 1]


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def set_threads() -> None:
    import faiss

    faiss.omp_set_num_threads(usable_cores())


class SimilarityIndex:
    """An exact inner-product index over L2-normalised vectors (so scores are cosine similarities).

    Exact search (``IndexFlatIP``) answers 10,000 x 10,000 queries in well under a second on 2 cores; an
    approximate index only pays off far beyond the dataset sizes headstart is for.
    """

    def __init__(self, vectors: np.ndarray, ids: Sequence[str], labels: Sequence[str | None] | None = None) -> None:
        import faiss

        if len(vectors) != len(ids):
            raise ValueError("one id per vector")
        if len(vectors) == 0:
            raise HeadstartError("nothing to search: the data has no items")
        set_threads()
        self.ids = list(ids)
        self.labels = list(labels) if labels is not None else [None] * len(self.ids)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(normalised(vectors))

    def search(self, queries: np.ndarray, k: int = 5) -> list[list[Neighbour]]:
        """The ``k`` most similar items of each query, most similar first."""
        if queries.shape[1] != self.index.d:
            raise HeadstartError(
                f"queries have {queries.shape[1]} dimensions but the index {self.index.d}; embed both with one model"
            )
        set_threads()
        scores, rows = self.index.search(normalised(queries), min(k, len(self.ids)))
        return [
            [Neighbour(self.ids[r], self.labels[r], float(s)) for s, r in zip(score_row, row, strict=True) if r >= 0]
            for score_row, row in zip(scores, rows, strict=True)
        ]


def near_duplicates(
    reference: np.ndarray, queries: np.ndarray, threshold: float = 0.95
) -> list[tuple[int, int, float]]:
    """Pairs (query row, reference row, cosine) where a query's nearest reference item is at least ``threshold``
    similar: e.g. test items that (nearly) repeat a training item."""
    if len(reference) == 0 or len(queries) == 0:
        return []
    index = SimilarityIndex(reference, [str(i) for i in range(len(reference))])
    found = []
    for row, [best] in enumerate(index.search(queries, k=1)):
        if best.similarity >= threshold:
            found.append((row, int(best.id), best.similarity))
    return found
