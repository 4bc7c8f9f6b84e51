"""Transferability scores: how well a pre-trained model's outputs on the target data predict the target labels,
computed without training it.

- LogME (You et al., ICML 2021): the log marginal likelihood (evidence) of a Bayesian linear model from the
  features to each one-hot label column, with its prior and noise precisions set by evidence maximisation.
- LEEP (Nguyen et al., ICML 2020): log expected empirical prediction through the source classifier's soft labels.
- NCE (Tran et al., ICCV 2019): negative conditional entropy of the target labels given the source's hard labels.
- H-score (Bao et al., ICIP 2019), with a Ledoit-Wolf shrunk feature covariance (Ibrahim et al., ICLR 2023), so that
  it stays finite when features outnumber examples.

Higher is better for all four. Everything is computed in float64.

Why by hand: no maintained PyPI package provides these (the authors publish research scripts); each is a few
lines of linear algebra on NumPy, and LogME is written here for all classes at once, from one eigendecomposition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.covariance import LedoitWolf


@dataclass(frozen=True)
class LogMEFit:
    """LogME's result: the mean evidence per example, and the fitted precisions of each label column."""

    score: float
    alpha: np.ndarray  # prior precision of the weights, per class
    beta: np.ndarray  # noise precision, per class
    evidence: np.ndarray  # log evidence per class, divided by the number of examples


def _one_hot(labels: np.ndarray) -> np.ndarray:
    _, codes = np.unique(labels, return_inverse=True)
    return np.eye(codes.max() + 1)[codes]


def logme(features: np.ndarray, labels: np.ndarray, max_iter: int = 100, tol: float = 1e-5) -> float:
    """LogME of ``features`` (n, d) for integer or string ``labels`` (n,)."""
    return logme_fit(features, labels, max_iter, tol).score


def logme_fit(features: np.ndarray, labels: np.ndarray, max_iter: int = 100, tol: float = 1e-5) -> LogMEFit:
    """For each class c, y_c = F w + noise, w ~ N(0, 1/alpha), noise ~ N(0, 1/beta); alpha and beta maximise the
    evidence p(y_c | F) by MacKay's fixed-point updates. With F^T F = V diag(s) V^T and z = V^T F^T y_c, every
    quantity of an update is a sum over the d eigen-directions, so each iteration costs O(d) per class."""
    f = np.asarray(features, dtype=np.float64)
    y = _one_hot(np.asarray(labels))
    n, d = f.shape
    s, v = np.linalg.eigh(f.T @ f)
    s = np.clip(s, 0.0, None)[:, None]  # (d, 1)
    z = v.T @ (f.T @ y)  # (d, classes)
    yy = (y * y).sum(axis=0)
    alpha = np.ones(y.shape[1])
    beta = np.ones(y.shape[1])
    for _ in range(max_iter):
        m = beta * z / (alpha + beta * s)  # the posterior mean of w, in eigen-coordinates
        gamma = (beta * s / (alpha + beta * s)).sum(axis=0)  # effective number of parameters
        mm = (m * m).sum(axis=0)
        residual = np.maximum(yy - 2 * (z * m).sum(axis=0) + (s * m * m).sum(axis=0), 1e-12 * max(yy.max(), 1))
        new_alpha, new_beta = gamma / np.maximum(mm, 1e-300), (n - gamma) / residual
        change = np.abs(new_alpha / new_beta - alpha / beta) / (alpha / beta)
        alpha, beta = new_alpha, new_beta
        if change.max() < tol:
            break
    m = beta * z / (alpha + beta * s)
    mm = (m * m).sum(axis=0)
    residual = np.maximum(yy - 2 * (z * m).sum(axis=0) + (s * m * m).sum(axis=0), 1e-12 * max(yy.max(), 1))
    evidence = (
        d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.log(alpha + beta * s).sum(axis=0)
        - beta / 2 * residual - alpha / 2 * mm - n / 2 * np.log(2 * np.pi)
    ) / n
    return LogMEFit(float(evidence.mean()), alpha, beta, evidence)


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP from the source classifier's probabilities (n, source classes) on the target examples."""
    p = np.asarray(source_probs, dtype=np.float64)
    y = _one_hot(np.asarray(labels))
    joint = y.T @ p / len(p)  # empirical P(y, z)
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)  # P(y | z)
    expected = (p @ conditional.T * y).sum(axis=1)  # sum_z P(y_i | z) p_i(z)
    return float(np.log(np.maximum(expected, 1e-300)).mean())


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE = -H(Y | Z) from the source classifier's hard labels Z on the target examples."""
    y = _one_hot(np.asarray(labels))
    z = _one_hot(np.asarray(source_labels))
    joint = y.T @ z / len(y)
    pz = joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / np.broadcast_to(pz, joint.shape)[nonzero])).sum())


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score = tr(cov(f)^-1 cov(E[f | y])), with a shrunk cov(f)."""
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=0)
    covariance = LedoitWolf(assume_centered=True).fit(f).covariance_
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    weights = np.bincount(codes) / len(f)
    means = np.stack([f[codes == c].mean(axis=0) for c in range(len(classes))])  # (classes, d)
    solved = np.linalg.solve(covariance, means.T)  # cov^-1 mu_c for every class
    return float((weights * (means.T * solved).sum(axis=0)).sum())
