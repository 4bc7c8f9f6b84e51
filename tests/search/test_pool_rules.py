"""The rules behind pseudo-labels and what to label next (issue 30), on small arrays whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headstart.search.active import choose_to_label, margin_uncertainty, typical_uncertain, typicality
from headstart.search.propagation import knn_graph, propagate
from headstart.strategies.pseudo_labels import balanced_choice, predicted_classes, quotas


@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.integers(0, 500))
def test_quotas_follow_the_labelled_shares_and_add_up_exactly(labels, total):
    labels = np.asarray(labels)
    share = quotas(labels, 5, total)
    assert share.sum() == total and (share >= 0).all()
    exact = np.bincount(labels, minlength=5) / len(labels) * total
    assert (np.abs(share - exact) < 1).all()  # largest remainders: never a whole unit off
    assert (share[np.bincount(labels, minlength=5) == 0] == 0).all()


def test_a_class_the_teacher_over_predicts_keeps_only_its_share_and_a_limit_is_a_maximum():
    rng = np.random.default_rng(0)
    probabilities = np.full((100, 2), 0.1)
    probabilities[:90, 0] = rng.uniform(0.6, 1.0, 90)  # 90 rows for class 0, 10 for class 1
    probabilities[90:, 1] = rng.uniform(0.6, 1.0, 10)
    labelled = np.asarray([0] * 5 + [1] * 5)  # half and half
    chosen = balanced_choice(probabilities, labelled)
    assert (chosen < 90).sum() == 50 and (chosen >= 90).sum() == 10  # class 0 capped at half of the 100 rows
    kept = chosen[chosen < 90]
    assert probabilities[kept, 0].min() >= np.sort(probabilities[:90, 0])[-50]  # its most confident ones
    limited = balanced_choice(probabilities, labelled, limit=7)
    assert len(limited) == 7 and (limited < 90).sum() == 4 and (limited >= 90).sum() == 3


def test_rows_propagation_never_reaches_are_not_pseudo_labelled():
    rng = np.random.default_rng(1)
    near = rng.normal(0, 0.01, (20, 8)) + np.eye(8)[0]
    far = rng.normal(0, 0.01, (12, 8)) + np.eye(8)[5]  # a cluster with no labelled row, more than k points
    graph = knn_graph(np.concatenate([near, far]).astype(np.float32), k=5)
    spread = propagate(graph, np.asarray([0, 1]), np.asarray([0, 1]), 2)
    assert (spread[20:] == 0).all() and (predicted_classes(spread)[20:] == -1).all()
    assert (predicted_classes(spread)[:20] >= 0).all()
    assert np.isin(balanced_choice(spread[2:], np.asarray([0, 1])), np.arange(18)).all()


def test_margin_and_one_typical_uncertain_input_per_cluster():
    assert margin_uncertainty(np.asarray([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])) == pytest.approx(
        [1.0, 0.0, 0.7])
    rng = np.random.default_rng(0)
    # Two groups of 40 around different directions; in each, one far-off member is the most uncertain.
    groups = [np.eye(8)[i] + rng.normal(0, 0.05, (40, 8)) for i in (0, 1)]
    groups[0][0] += 0.6 * np.eye(8)[5]
    groups[1][0] += 0.6 * np.eye(8)[6]
    features = np.concatenate(groups).astype(np.float32)
    uncertainty = np.full(80, 0.2)
    uncertainty[[0, 40]] = 0.9  # the outliers: uncertain, atypical
    uncertainty[[7, 47]] = 0.6  # typical and nearly as uncertain
    chosen = typical_uncertain(features, uncertainty, 2)
    assert sorted(chosen.tolist()) == [7, 47]  # one per group, and not the outliers
    assert typicality(features[:40])[0] < np.median(typicality(features[:40]))
    assert typical_uncertain(features[:3], np.asarray([0.1, 0.9, 0.5]), 5).tolist() == [1, 2, 0]  # all: by margin
    assert typical_uncertain(features, uncertainty, 0).tolist() == []
    repeated = np.repeat(features[:3], 10, axis=0)  # 3 distinct rows: 5 clusters cannot all be filled
    assert len(set(typical_uncertain(repeated, np.linspace(0, 1, 30), 5).tolist())) == 5


def test_near_duplicates_are_not_all_chosen():
    rng = np.random.default_rng(2)
    copies = np.tile([1.0, 0.0, 0.0], (50, 1)) + rng.normal(0, 1e-3, (50, 3))  # 50 near-copies, all uncertain
    others = np.asarray([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    features = np.concatenate([copies, others]).astype(np.float32)
    probabilities = np.concatenate([np.tile([0.5, 0.5], (50, 1)), np.tile([0.6, 0.4], (2, 1))])
    chosen, uncertainty, distance = choose_to_label(features, probabilities, np.zeros((0, 3), np.float32), 3)
    assert sum(index < 50 for index in chosen) == 1 and {50, 51} <= set(chosen.tolist())
    assert np.isinf(distance).all() and uncertainty[:50] == pytest.approx(1.0)
