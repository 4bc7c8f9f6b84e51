"""Multi-label scores (issue 29): per-label thresholds chosen on validation, and the metrics a multi-label run
reports, checked against their definitions on small worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from headstart.evaluation.multilabel import DEFAULT_THRESHOLD, choose_thresholds, multilabel_metrics

LABELS = ["effusion", "nodule", "pneumonia"]


def test_each_label_gets_the_threshold_with_its_best_f1():
    truth = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]])
    proba = np.array([[0.9, 0.1, 0.35], [0.4, 0.2, 0.1], [0.3, 0.3, 0.3], [0.2, 0.4, 0.32], [0.8, 0.1, 0.05]])
    thresholds, notes = choose_thresholds(truth, proba, LABELS)
    # effusion: 0.8, 0.9 and 0.4 are positives, 0.3 and 0.2 negatives: any cut in (0.3, 0.4] separates them.
    assert 0.3 < thresholds[0] <= 0.4
    # pneumonia: positives at 0.35 and 0.3, a negative at 0.32 between them: the best F1 (0.8) keeps both positives.
    assert thresholds[2] <= 0.3 and (proba[:, 2] >= thresholds[2]).sum() == 3
    # nodule has no positive example: it keeps the default and the run says why, naming the label and the fix.
    assert thresholds[1] == DEFAULT_THRESHOLD
    (note,) = notes
    assert "'nodule' has no positive example" in note and "label more" in note


def test_the_metrics_follow_their_definitions():
    truth = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 0], [0, 1, 1]])
    proba = np.array([[0.9, 0.2, 0.6], [0.3, 0.1, 0.7], [0.2, 0.1, 0.1], [0.1, 0.8, 0.9]])
    scores = multilabel_metrics(truth, proba, np.array([0.5, 0.5, 0.5]), LABELS)
    # Predicted sets: {e, p}, {p}, {}, {n, p}. Right whole sets: rows 0, 2 and 3.
    assert scores["subset_accuracy"] == pytest.approx(3 / 4)
    assert scores["label_cardinality"] == pytest.approx(5 / 4) and scores["predicted_cardinality"] == pytest.approx(5 / 4)
    assert scores["empty_sets"] == 1
    # effusion: 1 of 2 found, no false alarm; nodule: 1 of 1; pneumonia: 2 of 2 found, 1 false alarm.
    per = scores["per_label"]
    assert (per["effusion"]["precision"], per["effusion"]["recall"]) == (1.0, 0.5)
    assert per["nodule"]["f1"] == 1.0 and per["pneumonia"]["precision"] == pytest.approx(2 / 3)
    micro = 2 * 4 / (2 * 4 + 1 + 1)  # 4 true positives, 1 false positive, 1 false negative
    assert scores["micro_f1"] == pytest.approx(micro)
    assert scores["macro_f1"] == pytest.approx(np.mean([2 / 3, 1.0, 0.8]))
    # effusion and nodule rank every positive above every negative; pneumonia's negative at 0.7 beats its
    # positive at 0.6: 3 of 4 pairs in order, and an average precision of (1/1 + 2/3) / 2.
    assert per["effusion"]["auroc"] == 1.0 and per["nodule"]["auroc"] == 1.0
    assert per["pneumonia"]["auroc"] == pytest.approx(0.75)
    assert per["pneumonia"]["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["mean_average_precision"] == pytest.approx((1 + 1 + (1 + 2 / 3) / 2) / 3)


def test_a_label_without_positives_has_no_auroc_rather_than_a_crash():
    truth = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 1]])
    proba = np.array([[0.7, 0.1, 0.2], [0.1, 0.3, 0.8], [0.6, 0.2, 0.9]])
    scores = multilabel_metrics(truth, proba, np.full(3, 0.5), LABELS)
    assert scores["per_label"]["nodule"]["auroc"] is None and scores["per_label"]["nodule"]["support"] == 0
    assert scores["mean_average_precision"] == pytest.approx(1.0)  # over the two labels where it is defined
