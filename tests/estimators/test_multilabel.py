"""Multi-label runs end to end (issue 29), on real weights and real photos: Fashion-MNIST mosaics (2x2 grids of
official-split photos, labels = the classes present) and texts made of one or two shipped film reviews (labels = the
sentiments present). Trained, scored against the classical baseline, saved, loaded, predicted, exported and
reported; every strategy that applies trains through the task's binary cross-entropy loop."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import onnxruntime
import pytest

from headstart import ImageClassifier, ImageMultiLabelClassifier, TextMultiLabelClassifier, load
from headstart.api import train
from headstart.data.dataset import DataSplits, LabelSets
from headstart.data.mosaics import load_fashion_mosaics
from headstart.errors import HeadstartError
from headstart.serving.runtime import open_exported
from headstart.tasks import get_task
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mosaic_run(tmp_path_factory):
    """A linear probe on about 30 mosaics per label (about 170 in all), scored on 30 per label of the test mosaics."""
    out = tmp_path_factory.mktemp("multilabel") / "run"
    return train("mosaics", strategy="linear-probe", per_class=30, test_per_class=30, out=out, check_leakage=False)


def test_the_probe_finds_several_objects_per_image_and_beats_the_pixel_baseline(mosaic_run):
    scores, baseline = mosaic_run.summary["scores"], mosaic_run.summary["baseline"]
    assert mosaic_run.summary["task"] == "image-multilabel"
    assert "multi-label dataset" in mosaic_run.summary["multi_label"]
    assert scores["macro_f1"] > baseline["macro_f1"] + 0.1, (scores["macro_f1"], baseline)
    assert scores["mean_average_precision"] > 0.7 and scores["label_cardinality"] > 1.5
    clf = mosaic_run.estimator
    assert clf.fit_details_["thresholds"]["chosen_on"].startswith("out-of-fold")
    test = load_fashion_mosaics(per_class=1, test_per_class=30).test
    proba = clf.predict_proba(test.items)
    assert not np.allclose(proba.sum(axis=1), 1.0)  # per label, not a distribution over them
    black = [item for item, labels in zip(test.items, test.labels, strict=True) if not labels]
    assert len(black) >= 5 and np.mean([labels == () for labels in clf.predict(black)]) >= 0.8


def test_the_run_is_saved_loaded_exported_and_predicted_alike(mosaic_run, tmp_path):
    clf, run_dir = mosaic_run.estimator, mosaic_run.run_dir
    test = load_fashion_mosaics(per_class=1, test_per_class=5).test
    again = load(run_dir)
    assert type(again) is ImageMultiLabelClassifier
    np.testing.assert_array_equal(again.thresholds_, clf.thresholds_)
    assert list(again.predict(test.items)) == list(clf.predict(test.items))
    config = json.loads((run_dir / "config.json").read_text())
    assert set(config["thresholds"]) == set(clf.classes_)
    path = again.export(tmp_path / "model.onnx")
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["thresholds"] == config["thresholds"] and "each probability on its own" in meta["outputs"]["probabilities"]
    refused = run_cli("export", run_dir, "--quantize", "int8")
    assert refused.returncode != 0 and "not available for multi-label image classification" in refused.stderr
    exported = open_exported(path)
    assert isinstance(exported.session, onnxruntime.InferenceSession)
    np.testing.assert_allclose(exported.predict_proba(test.items), again.predict_proba(test.items), atol=2e-3)
    # the CLI: a table, and a CSV with one column per label
    for index, item in enumerate(test.items[:3]):
        from PIL import Image

        Image.fromarray(item).save(tmp_path / f"m{index}.png")
    result = run_cli("predict", run_dir, *(tmp_path / f"m{i}.png" for i in range(3)), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[:2] == ["input", "labels"] and set(clf.classes_) <= set(rows[0])
    predicted = again.predict([tmp_path / f"m{i}.png" for i in range(3)])
    assert [row["labels"] for row in rows] == ["|".join(p) for p in predicted]


def test_the_report_shows_every_label_and_how_labels_are_confused(mosaic_run):
    page = (mosaic_run.run_dir / "report.html").read_text()
    for said in ("multi-label run", "Per label", "co-occurrence of true and predicted labels", "Largest errors",
                 "out-of-fold", "one-vs-rest logistic regression on pixels", "(no label)"):
        assert said in page, said
    assert all(f"<td>{label}</td>" in page for label in mosaic_run.estimator.classes_)
    predictions = list(csv.DictReader((mosaic_run.run_dir / "predictions.csv").open()))
    exact = np.mean([row["correct"] == "True" for row in predictions])
    assert exact == pytest.approx(mosaic_run.summary["scores"]["subset_accuracy"])  # the rows the scores come from


def test_a_csv_of_label_sets_is_evaluated_from_the_command_line(mosaic_run, tmp_path):
    from PIL import Image

    test = load_fashion_mosaics(per_class=1, test_per_class=3).test
    lines = ["path,labels"]
    for index, (item, labels) in enumerate(zip(test.items, test.labels, strict=True)):
        Image.fromarray(item).save(tmp_path / f"{index}.png")
        lines.append(f"{index}.png,{'|'.join(labels)}")
    (tmp_path / "test.csv").write_text("\n".join(lines))
    result = run_cli("evaluate", mosaic_run.run_dir, tmp_path / "test.csv")
    assert result.returncode == 0, result.stderr
    expected = mosaic_run.estimator.evaluate(test)["macro_f1"]
    assert f"macro-F1 {expected:.3f}" in result.stdout and "threshold" in result.stdout


def test_head_and_fine_tune_train_on_label_sets_with_their_thresholds_on_validation():
    """The task's loop (binary cross-entropy, validation mAP) under the strategies that train: the head's
    validation mAP must climb well above where it starts (chance: about the labels' prevalence, 0.2)."""
    splits = load_fashion_mosaics(per_class=30, test_per_class=12)
    head = ImageMultiLabelClassifier(strategy="head(views=1)", image_size=64, epochs=30).fit(splits)
    assert head.fit_details_["thresholds"]["chosen_on"] == "validation split"
    validated = [r["val_acc"] for r in head.history_ if r["val_acc"] is not None]
    assert max(validated) > 0.5 and max(validated) > validated[0] + 0.1, validated
    scores = head.evaluate(splits.test)
    assert scores["mean_average_precision"] > 0.5 and "thresholds_note" not in scores  # test: the run's thresholds
    holdout = head.holdout_[0]
    assert "each half scored with the thresholds chosen on the other half" in holdout["thresholds_note"]
    assert head.fit_details_["refit"]["done"]
    assert "then used by the model refit on every labelled example" in head.fit_details_["thresholds"]["note"]
    small = load_fashion_mosaics(per_class=10, test_per_class=1)
    tuned = ImageMultiLabelClassifier(strategy="fine-tune(warmup_epochs=1,epochs=2)", image_size=64).fit(small)
    stages = {r["stage"] for r in tuned.history_}
    assert {"head", "top-2", "refit all"} <= stages and all(np.isfinite(r["train_loss"]) for r in tuned.history_)


def review_mixes(n: int, seed: int) -> LabelSets:
    """Texts of one or two shipped reviews; the labels are the sentiments present (both, for a mixed pair)."""
    reviews = get_task("text").read("text-sample").train
    rng = np.random.default_rng(seed)
    items, sets = [], []
    for _ in range(n):
        picked = rng.choice(len(reviews), int(rng.integers(1, 3)), replace=False)
        items.append(" ".join(reviews.items[i] for i in picked))
        sets.append(tuple(sorted({reviews.labels[i] for i in picked})))
    return LabelSets(items, sets, [str(i) for i in range(n)], source="review mixes")


def test_text_label_sets_train_with_lora_and_contrastive_is_refused_with_the_reason():
    data = DataSplits(review_mixes(48, seed=0), None, review_mixes(40, seed=1))
    clf = TextMultiLabelClassifier(strategy="lora", epochs=1).fit(data)
    assert clf.fit_details_["adapter_parameters"] > 0 and clf.score(data.test) > 0.5
    assert all(set(labels) <= {"fresh", "rotten"} for labels in clf.predict(data.test.items[:5]))
    with pytest.raises(HeadstartError, match="contrastive strategy learns from pairs of one class"):
        TextMultiLabelClassifier(strategy="contrastive").fit(data)


def test_label_sets_given_as_python_lists_or_a_matrix(tmp_path):
    splits = load_fashion_mosaics(per_class=8, test_per_class=1)
    items, sets = splits.train.items, splits.train.labels
    clf = ImageMultiLabelClassifier(strategy="linear-probe", image_size=64).fit(items, [list(s) for s in sets])
    assert set(clf.classes_) == set(splits.train.classes)
    matrix = splits.train.indicator(splits.train.classes).astype(int)
    by_index = ImageMultiLabelClassifier(strategy="linear-probe", image_size=64).fit(items, matrix)
    assert list(by_index.classes_) == [str(j) for j in range(matrix.shape[1])]
    assert by_index.score(items[:4], matrix[:4]) >= 0  # scored data may lack a label: no refusal there
    with pytest.raises(HeadstartError, match="y holds label sets: use ImageMultiLabelClassifier"):
        ImageClassifier(strategy="linear-probe").fit(items, [list(s) for s in sets])


def test_the_command_line_detects_label_sets_says_so_and_compares_on_them(tmp_path):
    mixes = review_mixes(60, seed=2)
    lines = ["text,labels"] + [f'"{text.replace(chr(34), chr(39))}",{"|".join(labels)}'
                               for text, labels in zip(mixes.items, mixes.labels, strict=True)]
    data = tmp_path / "mixes.csv"
    data.write_text("\n".join(lines), encoding="utf-8")
    result = run_cli("train", data, "--strategy", "linear-probe", "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "read as multi-label data: its label column joins labels with '|'" in result.stdout
    assert json.loads((tmp_path / "run" / "config.json").read_text())["task"] == "text-multilabel"
    single = run_cli("train", data, "--strategy", "linear-probe", "--single-label", "--out", tmp_path / "one", "-q")
    assert single.returncode == 0, single.stderr
    assert set(json.loads((tmp_path / "one" / "config.json").read_text())["classes"]) == {"fresh", "fresh|rotten",
                                                                                          "rotten"}
    curves = run_cli("compare", data, "--strategies", "linear-probe", "--sizes", "8,16", "--seeds", "0",
                     "--out", tmp_path / "curves", "--quiet")
    assert curves.returncode == 0, curves.stderr
    assert "test macro-F1" in curves.stdout and "16 / label" in curves.stdout
