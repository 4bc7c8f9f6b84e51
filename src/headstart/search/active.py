"""Choosing what to label next (issue 30): inputs the model is unsure about, spread over the feature space.

Uncertainty is the margin of the calibrated probabilities (1 - (p1 - p2): the two most likely classes nearly tied);
margin sampling is the simplest uncertainty rule that holds up across benchmarks (Settles 2009; "Cluster-Margin",
Citovsky et al. 2021). Uncertainty alone picks near-duplicates together (100 photos of the same ambiguous shoe), so
the inputs are chosen one by one, k-center greedy style (Sener and Savarese 2018, core-set), each next one the input
whose uncertainty times its distance (cosine, capped at 1) to the nearest labelled example or input chosen before it
is largest: a second copy of a chosen input is at distance 0 and waits until nothing else is left, and so does a
repeat of a labelled example.

Written here: scikit-learn has no k-center greedy, and the libraries that do (modAL, ALiPy) are research code built
around their own learners; the rule is a few lines over FAISS and NumPy.
"""

from __future__ import annotations

import numpy as np

from headstart.search.index import normalised, set_threads


def margin_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """1 - (highest probability - second highest), per row: 1 for a tie, 0 for certainty."""
    if probabilities.shape[1] < 2:
        return np.zeros(len(probabilities))
    top = np.sort(probabilities, axis=1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


def distance_to_nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Cosine distance of each (L2-normalised) point to its nearest centre (inf without centres)."""
    if not len(centres):
        return np.full(len(points), np.inf)
    import faiss

    set_threads()
    index = faiss.IndexFlatIP(centres.shape[1])
    index.add(np.ascontiguousarray(centres, dtype=np.float32))
    similarities, _ = index.search(np.ascontiguousarray(points, dtype=np.float32), 1)
    return 1.0 - similarities[:, 0].astype(np.float64)


def weighted_k_center(points: np.ndarray, weights: np.ndarray, nearest: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` of ``points`` (L2-normalised), each maximising its weight times its distance to the nearest
    centre or point chosen before it (``nearest``: the distances to the centres, inf without any; capped at 1)."""
    nearest = np.minimum(nearest, 1.0)
    chosen: list[int] = []
    for _ in range(min(n, len(points))):
        score = weights * nearest
        score[chosen] = -np.inf
        pick = int(np.argmax(score))  # the first of equals
        chosen.append(pick)
        nearest = np.minimum(nearest, np.maximum(1.0 - points @ points[pick], 0.0))
    return np.asarray(chosen, dtype=np.int64)


def choose_to_label(features: np.ndarray, probabilities: np.ndarray, labelled: np.ndarray, n: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices of the ``n`` inputs to label first, in the order chosen; every input's uncertainty; every input's
    distance to the nearest labelled example) from the pool's ``features`` and ``probabilities`` and the
    ``labelled`` examples' features."""
    uncertainty = margin_uncertainty(probabilities)
    points = normalised(features)
    reference = normalised(labelled) if len(labelled) else np.zeros((0, points.shape[1]), np.float32)
    distance = distance_to_nearest(points, reference)
    # A tiny floor on the weight: fully certain inputs still spread out once every uncertain one is taken.
    return weighted_k_center(points, uncertainty + 1e-6, distance, n), uncertainty, distance
