"""Refit on everything: after choosing on the validation split (C, epochs), the saved model is trained again on
every labelled example, and the score a run reports says which estimate it is."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from headstart import FineTune, Head, HeadstartError, ImageClassifier, LinearProbe, Scratch
from headstart.features import extract_features
from headstart.models import get_model_spec
from headstart.strategies.base import FitContext, FitResult
from headstart.tasks import get_task
from headstart.training.engine import EpochRecord, epochs_to_best
from tests.conftest import copy_sample, run_cli

CLASSES = ["bag", "sneaker", "trouser"]


def record(stage: str, val_acc: float | None, val_loss: float | None = 1.0) -> EpochRecord:
    return EpochRecord(stage, 1, 1.0, 0.5, val_loss, val_acc, 1e-3, 0.1)


def test_epochs_to_best_counts_up_to_the_epoch_restore_best_keeps():
    history = [record("all", 0.5), record("all", 0.7, 0.9), record("all", 0.7, 0.8), record("all", 0.6)]
    assert epochs_to_best(history) == 3  # the same accuracy with a lower loss is better, as the trainer judges
    assert epochs_to_best([record("all", 0.7), record("all", 0.7)]) == 1  # of equals, the first
    assert epochs_to_best([record("all", None, None)] * 4) == 4  # nothing validated: every epoch counts


def test_each_strategy_refits_with_the_choices_it_made():
    history = [record("head", 0.5), record("head", 0.8), record("head", 0.6),
               record("top-2", 0.8, 0.5), record("all", 0.9), record("all", 0.85)]
    assert FineTune(epochs=8).refit(FitResult(history)).spec() == "fine-tune(epochs=2,warmup_epochs=2)"
    assert Head(views=2).refit(FitResult(history[:3])) == Head(views=2, epochs=2)
    assert Scratch().refit(FitResult(history[3:])) == Scratch(epochs=2)
    assert LinearProbe().refit(FitResult(details={"C": 0.3, "power": 0.5})) == LinearProbe(C=0.3, power=0.5)
    with pytest.raises(HeadstartError, match="linear-probe C must be"):
        LinearProbe(C=0)


def test_refit_must_be_a_boolean():
    with pytest.raises(HeadstartError, match="refit must be True or False"):
        ImageClassifier(refit="yes").fit("sample")


@pytest.fixture(scope="module")
def train_only(tmp_path_factory):
    """Real sample images with no test split: 20% is held out to score the run, then every image trains it."""
    return copy_sample(tmp_path_factory.mktemp("refit") / "data", CLASSES, 15, splits=("train",))


def features(clf: ImageClassifier, items) -> np.ndarray:
    dataset = get_task("image").inputs_dataset(items, None, clf.preprocessing_, train=False)
    return extract_features(clf.model_.backbone, dataset, precision="fp32")


@pytest.mark.slow
def test_the_saved_probe_is_the_regression_on_every_example(train_only):
    clf = ImageClassifier("efficientnet_lite0", "linear-probe", image_size=64, precision="fp32", cache=False)
    clf.fit(train_only)
    refit = clf.fit_details_["refit"]
    held_out = clf.splits_.val
    every = clf.splits_.train.join(held_out)
    assert refit["done"] and refit["examples"] == len(every) == 45 and len(held_out) == 9
    assert refit["strategy"] == f"linear-probe(C={clf.fit_details_['C']},power=0.5)"  # Lite0's features: >= 0
    # The scores before the refit were taken on the held-out images, by the model that never saw them.
    assert clf.holdout_[0]["n"] == len(held_out)
    x = np.sqrt(features(clf, every.items))  # the probe's power transform

    def regression_on(rows: slice) -> np.ndarray:
        scale = np.sqrt(np.mean(x[rows].astype(np.float64) ** 2))  # the probe's one scale for all features
        labels = np.searchsorted(clf.classes_, np.asarray(every.labels)[rows])
        logreg = LogisticRegression(C=clf.fit_details_["C"], max_iter=2000, random_state=0)
        return logreg.fit(x[rows] / scale, labels).predict_proba(x / scale)

    saved = clf.predict_proba(every.items)
    np.testing.assert_allclose(saved, regression_on(slice(None)), atol=1e-4)
    assert np.abs(saved - regression_on(slice(0, len(every) - len(held_out)))).max() > 1e-3  # not the 80% one


@pytest.mark.slow
def test_a_run_says_which_estimate_it_reports_and_no_refit_keeps_the_split(train_only, tmp_path):
    args = ["--model", "efficientnet_lite0", "--strategy", "head(epochs=4,views=0)", "--image-size", "64",
            "--precision", "fp32", "--quiet"]
    result = run_cli("train", train_only, *args, "--out", tmp_path / "refit")
    assert result.returncode == 0, result.stderr
    assert "refit on all 45 labelled examples as head(epochs=" in result.stdout
    summary = json.loads((tmp_path / "refit" / "summary.json").read_text())
    assert summary["evaluated_on"] == "val" and "before the refit on all 45" in summary["estimate"]
    config = json.loads((tmp_path / "refit" / "config.json").read_text())
    kept = config["fit_details"]["refit"]
    first = [r for r in config_history(tmp_path / "refit") if not r.startswith("refit")]
    again = [r for r in config_history(tmp_path / "refit") if r.startswith("refit")]
    assert len(first) == 4 and len(again) == int(kept["strategy"].split("epochs=")[1].split(",")[0])
    assert config["params"]["refit"] is True
    # Scoring the run on the data it trained on says so: no split of it was kept from the refit model.
    result = run_cli("evaluate", tmp_path / "refit", train_only)
    assert result.returncode == 0 and "was trained on this data (every example)" in result.stdout + result.stderr
    result = run_cli("train", train_only, *args, "--no-refit", "--out", tmp_path / "kept")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "kept" / "summary.json").read_text())
    assert summary["refit"] == {"done": False, "reason": "turned off (refit=False)"}
    assert summary["estimate"] == "val split, never trained on"


def config_history(run) -> list[str]:
    """The stage of every epoch in the run's metrics.csv."""
    lines = (run / "metrics.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in lines]


def test_a_class_too_small_to_cross_validate_gets_the_default_c_and_says_so(tmp_path):
    # Readers refuse single-example classes and no validation split leaves one behind, so this reaches the probe
    # only from code: it must still say what it did rather than fail or choose silently.
    task = get_task("image")
    data = task.read(copy_sample(tmp_path / "data", CLASSES, 2, splits=("train",))).train
    keep = [i for i, label in enumerate(data.labels) if label != "trouser"] + [data.labels.index("trouser")]
    train = task.encode(data.subset(keep), CLASSES)
    spec = get_model_spec("efficientnet_lite0")
    model = task.build_model(spec, LinearProbe(), len(CLASSES), pretrained=True)
    ctx = FitContext(task=task, preprocessing={**spec.preprocessing, "input_size": (3, 64, 64)},
                     num_classes=len(CLASSES), precision="fp32")
    result = LinearProbe().fit(model, train, None, ctx)
    assert result.details["C"] == 1.0 and result.details["cv_folds"] == 1  # scikit-learn's default
    (warning,) = result.warnings
    assert "smallest class has 1 training example," in warning and "linear-probe(C=...)" in warning


def test_too_few_examples_for_a_validation_split_train_on_all_and_say_so(tmp_path):
    data = copy_sample(tmp_path / "data", CLASSES, 2, splits=("train",))
    clf = ImageClassifier("efficientnet_lite0", "linear-probe", image_size=64, precision="fp32", cache=False)
    clf.fit(data)
    assert clf.fit_details_["refit"] == {"done": False, "reason": "not needed: no example was set aside"}
    assert clf.fit_details_["cv_folds"] == 2 and len(clf.splits_.train) == 6
    assert any("no validation split: too few examples" in w for w in clf.splits_.warnings)


@pytest.mark.slow
def test_every_run_reports_the_naive_recipe_beside_it(tmp_path, monkeypatch):
    from headstart import api
    from headstart.models import create_backbone
    from headstart.tasks import classification

    data = copy_sample(tmp_path / "data", CLASSES, 10)
    result = api.train(data, model="efficientnet_lite0", strategy="linear-probe", out=tmp_path / "run",
                       check_leakage=False, verbose=False)
    plain = result.summary["plain_probe"]
    # The same recipe written out: the model's own 224-pixel preprocessing (crop 0.875), fp32, default C, all images.
    task, spec = get_task("image"), get_model_spec("efficientnet_lite0")
    splits = task.read(data)

    def x(items):
        dataset = task.inputs_dataset(items, None, spec.preprocessing, train=False)
        return extract_features(create_backbone(spec), dataset, precision="fp32")

    y_train, y_test = (np.searchsorted(CLASSES, part.labels) for part in (splits.train, splits.test))
    naive = LogisticRegression(max_iter=1000).fit(x(splits.train.items), y_train)
    assert plain["accuracy"] == pytest.approx(float((naive.predict(x(splits.test.items)) == y_test).mean()))
    assert "plain probe" in "\n".join(result.lines())
    monkeypatch.setattr(classification, "PLAIN_PROBE_ITEMS", 10)  # too many to extract: said, not computed
    result = api.train(data, model="efficientnet_lite0", strategy="linear-probe", out=tmp_path / "again",
                       check_leakage=False, verbose=False, cache=False)
    assert result.summary["plain_probe"]["accuracy"] is None
    assert "not computed: 60 inputs to extract" in result.summary["plain_probe"]["note"]
