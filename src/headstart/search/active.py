"""Choosing what to label next (issue 30): inputs the model is unsure about, each typical of a different part of the
pool.

Uncertainty is the margin of the calibrated probabilities (1 - (p1 - p2): the two most likely classes nearly tied);
margin sampling is the simplest uncertainty rule that holds up across benchmarks (Settles 2009; "Cluster-Margin",
Citovsky et al. 2021). Uncertainty alone picks near-duplicates together (100 photos of the same ambiguous shoe), so
the pool is first cut into as many clusters as inputs are wanted (k-means on its features), and each cluster gives
one input: the one with the highest uncertainty times typicality (how densely its neighbours in the cluster surround
it, as in TypiClust, Hacohen et al. 2022), the largest clusters first. Typicality matters with few labels: an atypical
uncertain input (a smudge, a cut-off photo) teaches the classes little.

Measured on Fashion-MNIST (docs/benchmarks.md): the first rule here, k-center greedy on uncertainty times the distance
to the nearest labelled input (core-set, Sener and Savarese 2018), chose outliers and fell 0.4-2.6 points behind
random selection from 100 to 600 labels; margin alone was ahead by about 1.5, this rule by about 2.

Written here: scikit-learn has k-means and PCA but no selection rule, and the libraries that have them (modAL,
ALiPy) are research code built around their own learners; the rule is a few lines over scikit-learn and FAISS.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from headstart.search.index import normalised, set_threads

CLUSTER_DIMENSIONS = 64  # k-means runs on the features' first principal components: fast, and as good here
TYPICAL_NEIGHBOURS = 20  # TypiClust's neighbourhood
PCA_SAMPLE = 10_000  # rows the principal components are fitted on


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


def typicality(points: np.ndarray, neighbours: int = TYPICAL_NEIGHBOURS) -> np.ndarray:
    """1 / the mean Euclidean distance of each point to its ``neighbours`` nearest others (1 for a lone point)."""
    if len(points) < 2:
        return np.ones(len(points))
    import faiss

    set_threads()
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(np.ascontiguousarray(points, dtype=np.float32))
    squared, _ = index.search(np.ascontiguousarray(points, dtype=np.float32), min(neighbours + 1, len(points)))
    return 1.0 / (np.sqrt(np.maximum(squared[:, 1:], 0.0)).mean(axis=1) + 1e-8)


def clusters(features: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(each row's cluster, the rows as clustered): k-means with ``k`` clusters on the L2-normalised features' first
    principal components."""
    points = normalised(features)
    dimensions = min(CLUSTER_DIMENSIONS, points.shape[1], len(points))
    sample = points[np.random.default_rng(seed).permutation(len(points))[:PCA_SAMPLE]]
    reduced = PCA(dimensions, random_state=seed).fit(sample).transform(points).astype(np.float32)
    with warnings.catch_warnings():  # fewer distinct rows than clusters: some stay empty, filled below
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(k, n_init=1, random_state=seed).fit_predict(reduced), reduced


def typical_uncertain(features: np.ndarray, uncertainty: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` rows (fewer if there are fewer), one per k-means cluster, largest cluster first: in each, the
    row with the highest uncertainty times typicality (relative to the cluster's most typical row). Asked for every
    row, the most uncertain first."""
    k = min(n, len(features))
    if k == 0:
        return np.zeros(0, np.int64)
    if k == len(features):  # every row: the most uncertain first
        return np.argsort(-uncertainty, kind="stable").astype(np.int64)
    assigned, reduced = clusters(features, k, seed)
    sizes = np.bincount(assigned, minlength=k)
    chosen = []
    for cluster in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(assigned == cluster)
        if not len(members):
            continue
        typical = typicality(reduced[members])
        score = typical / typical.max() * (uncertainty[members] + 1e-6)  # a tie on certainty: the most typical
        chosen.append(members[int(np.argmax(score))])
    if len(chosen) < k:  # empty clusters (repeated rows): the most uncertain of the others
        rest = np.setdiff1d(np.arange(len(features)), chosen)
        chosen.extend(rest[np.argsort(-uncertainty[rest], kind="stable")[: k - len(chosen)]].tolist())
    return np.asarray(chosen, dtype=np.int64)


def choose_to_label(features: np.ndarray, probabilities: np.ndarray, labelled: np.ndarray, n: int, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices of the ``n`` inputs to label first, in the order chosen; every input's uncertainty; every input's
    distance to the nearest labelled example, for the table) from the pool's ``features`` and ``probabilities`` and
    the ``labelled`` examples' features."""
    uncertainty = margin_uncertainty(probabilities)
    points = normalised(features)
    reference = normalised(labelled) if len(labelled) else np.zeros((0, points.shape[1]), np.float32)
    distance = distance_to_nearest(points, reference)
    return typical_uncertain(features, uncertainty, n, seed), uncertainty, distance
