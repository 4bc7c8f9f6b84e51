"""Transferability scores against their definitions, computed the slow direct way."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from headstart.ranking.scores import h_score, leep, logme, logme_fit, nce


def direct_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) with y ~ N(0, F F^T / alpha + I / beta): the definition, in O(n^3)."""
    covariance = f @ f.T / alpha + np.eye(len(f)) / beta
    return float(multivariate_normal(mean=np.zeros(len(f)), cov=covariance).logpdf(y))


@pytest.mark.parametrize("n, d", [(60, 8), (20, 40)])  # more examples than features, and fewer
def test_logme_is_the_maximised_evidence(n, d):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    f = rng.normal(size=(n, d)) + labels[:, None] * rng.normal(size=d)
    fit = logme_fit(f, labels)
    y = np.eye(3)[labels]
    for c in range(3):
        exact = direct_evidence(f, y[:, c], fit.alpha[c], fit.beta[c]) / n
        assert fit.evidence[c] == pytest.approx(exact, abs=1e-8)
        for da, db in ((1.2, 1), (1 / 1.2, 1), (1, 1.2), (1, 1 / 1.2)):  # a maximum: no step raises it
            assert direct_evidence(f, y[:, c], fit.alpha[c] * da, fit.beta[c] * db) / n <= exact + 1e-12
    assert fit.score == pytest.approx(fit.evidence.mean())


def test_logme_prefers_informative_features_and_is_fast_enough_to_vectorise():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 2000)
    centres = rng.normal(size=(10, 64))
    informative = centres[labels] + rng.normal(size=(2000, 64))
    noise = rng.normal(size=(2000, 64))
    assert logme(informative, labels) > logme(noise, labels) + 0.1
    assert logme(informative, labels.astype(str)) == pytest.approx(logme(informative, labels))


def test_leep_and_nce_on_known_cases():
    labels = np.array([0, 0, 1, 1, 2, 2])
    aligned = np.eye(5)[[3, 3, 0, 0, 4, 4]]  # each target class is exactly one source class
    assert leep(aligned, labels) == pytest.approx(0.0)
    assert nce(aligned.argmax(1), labels) == pytest.approx(0.0)
    uninformative = np.full((6, 5), 0.2)
    assert leep(uninformative, labels) == pytest.approx(np.log(1 / 3))
    assert nce(np.zeros(6, int), labels) == pytest.approx(np.log(1 / 3))  # -H(Y) for a constant source label
    noisy = 0.7 * aligned + 0.3 * uninformative
    assert np.log(1 / 3) < leep(noisy, labels) < 0


def test_h_score_prefers_informative_features_and_survives_more_features_than_examples():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 400)
    informative = 3 * np.eye(4)[labels] @ rng.normal(size=(4, 50)) + rng.normal(size=(400, 50))
    noise = rng.normal(size=(400, 50))
    assert h_score(informative, labels) > 5 * h_score(noise, labels)
    assert np.isfinite(h_score(rng.normal(size=(20, 300)), labels[:20]))  # singular sample covariance
