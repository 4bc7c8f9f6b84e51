"""auto's guard rail: it never saves a model that its validation estimate puts below the plain probe (the model's
own preprocessing, fp32 features, scikit-learn's default logistic regression), and says when it falls back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from headstart import api, load
from headstart.estimators import base as estimators_base
from headstart.features import extract_features
from headstart.models import create_backbone, get_model_spec
from headstart.strategies.auto import Plan
from headstart.tasks import get_task
from tests.conftest import copy_sample

pytestmark = pytest.mark.slow  # each test fits real models on real images

CLASSES = ["bag", "pullover", "shirt"]


def plain_features(items) -> np.ndarray:
    """The plain recipe's features written out: Lite0's own 224-pixel preprocessing, fp32."""
    spec = get_model_spec("efficientnet_lite0")
    dataset = get_task("image").inputs_dataset(list(items), None, spec.preprocessing, train=False)
    return extract_features(create_backbone(spec), dataset, precision="fp32")


def test_auto_saves_the_plain_probe_when_its_choice_scores_below_it(tmp_path, monkeypatch):
    # An auto choice far below the probe: a fine-tune whose new head never trains (no warm-up, one epoch at 1e-6).
    untrained = Plan("efficientnet_lite0", "fine-tune(warmup_epochs=0,epochs=1,lr=1e-6)", "a poor choice", {})
    monkeypatch.setattr(estimators_base, "plan_auto", lambda *args: untrained)
    data = copy_sample(tmp_path / "data", CLASSES, 24, splits=("train",))
    result = api.train(data, model="efficientnet_lite0", image_size=64, cache=False, out=tmp_path / "run",
                       check_leakage=False)
    clf, guard = result.estimator, result.summary["guard"]
    assert guard["checked"] and guard["fell_back"] and guard["plain_probe"] > guard["auto"]
    assert guard["p_value"] < 0.05 and guard["plain_probe_alone_right"] > guard["auto_alone_right"]
    # The run reports the plain probe's score on the held-out images, from before its refit.
    assert result.summary["strategy"] == "linear-probe" and "before the refit" in result.summary["estimate"]
    assert result.summary["scores"]["accuracy"] == pytest.approx(guard["plain_probe"])
    assert clf.fit_details_["auto"]["discarded"].startswith("fine-tune")
    held_out = len(clf.splits_.val)  # a fifth of the 72
    assert f"validation split of {held_out}," in guard["estimate"] and "guard rail" in clf.strategy_reason_
    assert clf.strategy_spec_ == "linear-probe(C=1.0,scale=1.0,power=1.0)" and clf.precision_ == "fp32"
    assert clf.preprocessing_["input_size"][-1] == 224 and clf.preprocessing_["crop_pct"] == 0.875  # the model's own
    # Scored before the refit on the held-out images, then refit on all 72: the saved model is the plain recipe on them.
    assert clf.holdout_[0]["n"] == held_out and clf.fit_details_["refit"]["examples"] == 72
    every = clf.splits_.train.join(clf.splits_.val)
    x = plain_features(every.items)
    naive = LogisticRegression(max_iter=2000, random_state=0).fit(x, np.searchsorted(clf.classes_, every.labels))
    np.testing.assert_allclose(clf.predict_proba(every.items), naive.predict_proba(x), atol=1e-4)
    loaded = load(tmp_path / "run")
    assert loaded.strategy_spec_ == clf.strategy_spec_ and loaded.precision_ == "fp32"
    np.testing.assert_allclose(loaded.predict_proba(every.items[:6]), clf.predict_proba(every.items[:6]), atol=1e-6)


def test_the_guard_compares_a_probe_with_the_plain_one_on_the_same_folds(tmp_path):
    data = copy_sample(tmp_path / "data", CLASSES, 10)  # a test split: no example set aside, the probe cross-validates
    result = api.train(data, model="efficientnet_lite0", out=tmp_path / "run", check_leakage=False, cache=False)
    clf = result.estimator
    guard = clf.fit_details_["auto"]["guard"]
    assert guard["checked"] and guard["estimate"] == "5-fold cross-validation on the same folds"
    assert f"guard rail: {guard['message']}" in result.lines() and result.summary["guard"] == guard
    report = (tmp_path / "run" / "report.html").read_text()
    assert "Guard rail: " in report and "Unknown inputs: " in report
    # The unknown-input detector, fitted on the 30 labelled images, and its false alarms on the 30 test images.
    unknown = result.summary["unknown"]
    assert unknown["fitted"] and unknown["reference_examples"] == 30
    flagged = result.summary["scores"]["unknown_flagged"]
    assert any(line.startswith("unknown inputs: ") and f"it flags {flagged:.1%}" in line for line in result.lines())
    if not guard["fell_back"]:
        assert guard["auto"] == clf.fit_details_["cv_accuracy"]
    train = clf.splits_.train
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    labels = np.searchsorted(clf.classes_, train.labels)
    # Each example predicted by the plain recipe fitted on the folds that leave it out, written out here.
    plain = cross_val_predict(LogisticRegression(max_iter=2000, random_state=0), plain_features(train.items), labels,
                              cv=folds) == labels
    assert guard["plain_probe"] == pytest.approx(plain.mean())
    assert guard["plain_probe_alone_right"] <= plain.sum() and guard["auto_alone_right"] <= len(labels) - plain.sum()
    ahead, behind = guard["plain_probe_alone_right"], guard["auto_alone_right"]
    p_value = binomtest(ahead, ahead + behind, 0.5, alternative="greater").pvalue if ahead > behind else 1.0
    assert guard["p_value"] == pytest.approx(p_value) and guard["fell_back"] == (p_value < 0.05)
    assert clf.strategy_spec_ == ("linear-probe(C=1.0,scale=1.0,power=1.0)" if guard["fell_back"] else "linear-probe")
