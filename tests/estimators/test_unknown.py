"""The "none of these" answer (issue 29): every classifier run keeps a detector of inputs unlike its labelled
examples, calibrated to a false-alarm rate, saved with the run, shown by predict and scored by evaluate."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from headstart import ImageClassifier, load
from headstart.errors import HeadstartError
from headstart.search.novelty import NoveltyDetector, reference_rows
from tests.conftest import copy_sample, run_cli

KNOWN = ["coat", "dress", "pullover", "t-shirt", "trouser"]
OUTLIERS = ["ankle-boot", "bag", "sandal", "shirt", "sneaker"]


def test_the_threshold_flags_the_chosen_share_of_inputs_like_the_reference():
    """Calibrated leave-one-out on 2,000 points of three clusters, it flags about 5% of 4,000 new points drawn alike
    and every point of a cluster it never saw."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32)) * 3

    def draw(n: int, clusters) -> np.ndarray:
        return np.vstack([centres[c] + rng.normal(size=(n, 32)) for c in clusters])

    detector = NoveltyDetector().fit(draw(667, range(3)))
    flagged = detector.unknown(draw(1333, range(3))).mean()
    assert 0.03 <= flagged <= 0.075, flagged
    assert detector.unknown(draw(200, [3])).mean() > 0.95
    assert NoveltyDetector(k=50).fit(draw(9, [0])).k == 8  # k at most the other examples
    with pytest.raises(HeadstartError, match="at least 2 labelled examples"):
        NoveltyDetector().fit(draw(1, [0])[:1])


def test_a_rare_class_keeps_its_references_when_examples_are_dropped():
    labels = np.array(["common"] * 9_990 + ["rare"] * 10)
    rows = reference_rows(labels, limit=1_000, seed=0)
    kept = labels[rows]
    assert len(rows) <= 1_000 + 6 and (kept == "rare").sum() == 6  # at least k + 1 of each class
    assert len(np.unique(rows)) == len(rows) and len(reference_rows(labels[:500], limit=1_000)) == 500


@pytest.fixture(scope="module")
def five_class_run(tmp_path_factory):
    """A probe on five Fashion-MNIST classes of the embedded sample (30 images each), saved."""
    root = tmp_path_factory.mktemp("unknown")
    data = copy_sample(root / "data", KNOWN, 30)
    outliers = copy_sample(root / "outliers", OUTLIERS, 20, splits=("test",)) / "test"
    clf = ImageClassifier("efficientnet_lite0", "linear-probe", precision="fp32").fit(data)  # the session cache
    clf.save(root / "run")
    return clf, data, outliers, root / "run"


@pytest.mark.slow
def test_unknown_inputs_score_higher_than_known_ones(five_class_run):
    clf, data, outliers, _ = five_class_run
    known = sorted(str(p) for p in (data / "test").rglob("*.png"))
    strange = sorted(str(p) for p in outliers.rglob("*.png"))
    scores = clf.unknown_scores(known + strange)
    truth = np.r_[np.zeros(len(known)), np.ones(len(strange))]
    ours = roc_auc_score(truth, scores)
    softmax = roc_auc_score(truth, 1 - clf.predict_proba(known + strange).max(axis=1))
    assert ours >= 0.85 and ours > softmax, (ours, softmax)
    record = clf.fit_details_["unknown"]
    assert record["fitted"] and record["reference_examples"] == 150 and record["false_alarm_rate"] == 0.05
    flagged = clf.predict_unknown(known + strange)
    assert flagged[: len(known)].mean() <= 0.15 and flagged[len(known):].mean() >= 0.5


@pytest.mark.slow
def test_the_detector_is_saved_predicted_with_and_evaluated(five_class_run):
    clf, data, outliers, run = five_class_run
    items = sorted(str(p) for p in (data / "test" / "coat").glob("*.png"))[:3] + \
        sorted(str(p) for p in (outliers / "bag").glob("*.png"))[:3]
    loaded = load(run)
    assert (run / "unknown.safetensors").is_file()
    np.testing.assert_allclose(loaded.unknown_scores(items), clf.unknown_scores(items), atol=2e-3)  # fp16 copy
    rows = json.loads(run_cli("predict", run, *items, "--format", "json").stdout)
    assert [r["unknown"] for r in rows] == clf.predict_unknown(items).tolist()
    assert all(isinstance(r["unknown_score"], float) for r in rows)
    assert "unknown" not in json.loads(run_cli("predict", run, *items, "--format", "json", "--no-unknown").stdout)[0]
    table = list(csv.reader(io.StringIO(run_cli("predict", run, *items, "--format", "csv").stdout)))
    assert table[0][-2:] == ["unknown", "unknown_score"] and {r[-2] for r in table[1:]} <= {"true", "false"}
    result = run_cli("evaluate", run, data, "--outliers", outliers, "--format", "json")
    found = json.loads(result.stdout)["unknown"]
    assert found["n_known"] == 100 and found["n_outliers"] == 100 and found["auroc"] >= 0.85
    assert "unknown inputs: AUROC" in run_cli("evaluate", run, data, "--outliers", outliers).stdout
    empty = run / "empty"
    empty.mkdir()
    failed = run_cli("evaluate", run, data, "--outliers", empty)
    assert failed.returncode != 0 and "no images found" in failed.stderr and "Traceback" not in failed.stderr


@pytest.mark.slow
def test_no_false_alarm_rate_is_reported_on_examples_the_detector_compares_with(tmp_path):
    """Without a test split and without a refit, the run is scored on its validation split, whose examples are in
    the detector's reference: a rate measured there would be too low, so none is reported."""
    from headstart import api

    data = copy_sample(tmp_path / "data", KNOWN, 10, splits=("train",))
    result = api.train(data, model="efficientnet_lite0", strategy="linear-probe", refit=False, out=tmp_path / "run",
                       check_leakage=False, baseline=False)
    assert result.summary["evaluated_on"] == "val" and "unknown_flagged" not in result.summary["scores"]
    assert result.summary["unknown"]["reference_examples"] == 50
    assert not any("it flags" in line for line in result.lines())
