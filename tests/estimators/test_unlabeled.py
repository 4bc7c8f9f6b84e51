"""An unlabelled pool (issue 30): pseudo-labels that beat the probe's own guesses, a pool of the wrong inputs left
alone, the label-train-label loop from the command line (suggest, fill in, --labels), and what cannot work refused
before anything trains. Real data: Fashion-MNIST from Debian, Rotten Tomatoes reviews, scikit-image photos."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart import ImageClassifier, ImageMultiLabelClassifier
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.splits import sample_per_class
from headstart.errors import HeadstartError
from tests.conftest import copy_sample, run_cli

SIZE = 160  # the benchmarks' size: at 64 px the graph of 3,000 pool images does not beat the probe


@pytest.fixture(scope="module")
def fashion():
    """10 labelled images per class, a pool of 3,000 other training images (true labels kept aside), 300 test."""
    full = load_fashion_mnist()
    labelled = sample_per_class(full.train, 10, 0)
    taken = set(labelled.ids)
    rest = [i for i, name in enumerate(full.train.ids) if name not in taken]
    pool = full.train.subset(np.random.default_rng(0).choice(rest, 3000, replace=False).tolist())
    return DataSplits(labelled, None, sample_per_class(full.test, 30, 0)), pool


@pytest.fixture(scope="module")
def alone(fashion):
    return ImageClassifier(strategy="linear-probe", image_size=SIZE, precision="fp32").fit(fashion[0])


@pytest.mark.slow
def test_the_graph_labels_the_pool_better_than_the_probe_and_the_probe_learns_from_it(fashion, alone):
    splits, pool = fashion
    again = splits.train.subset(range(5))  # labelled images given again, and one pool image twice: left out
    given = LabeledData(pool.items + again.items + pool.items[:1], pool.labels + again.labels + pool.labels[:1],
                        pool.ids + again.ids + ["repeat"])
    taught = ImageClassifier(strategy="linear-probe", image_size=SIZE, precision="fp32").fit(splits, unlabeled=given)
    record = taught.fit_details_["unlabeled"]
    assert record["left_out"]["labelled_already"] == 5 and record["left_out"]["repeated"] == 1
    assert record["pool"] == 3000 and record["teacher"] in ("propagation", "both")
    assert record["cv_accuracy"][record["teacher"]] > record["cv_accuracy"]["probe"]  # why the pool is used
    chosen = taught.pseudo_labels_
    truth = dict(zip(pool.ids, pool.labels, strict=True))
    right = np.asarray([truth[name] for name in chosen.ids]) == np.asarray(chosen.labels)
    assert right.mean() == pytest.approx(record["pseudo_label_accuracy"])
    # On the very inputs it chose, the teacher is right more often than the probe trained on the labels alone.
    assert right.mean() > (alone.predict(chosen.items) == np.asarray([truth[n] for n in chosen.ids])).mean()
    usable = 3000 - record["left_out"]["unknown"]
    assert len(chosen) == record["pseudo_labels"] == usable - record["left_out"]["over_quota"]
    assert max(record["per_class"].values()) <= int(np.ceil(usable / 10))  # class balance: a tenth each at most
    assert taught.fit_details_["C"] == alone.fit_details_["C"]  # C is chosen on the labelled examples alone
    assert taught.score(splits.test) >= alone.score(splits.test) - 0.01  # no worse on unseen test images


@pytest.mark.slow
def test_a_pool_of_other_things_is_left_alone(fashion, alone):
    from skimage import data as skdata

    splits, _ = fashion
    rng = np.random.default_rng(1)
    photos = [np.asarray(Image.fromarray(getattr(skdata, name)()).convert("L").resize((28, 28)))
              for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "moon", "page", "text")]
    noise = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(300)]
    strange = photos + noise
    taught = ImageClassifier(strategy="linear-probe", image_size=SIZE, precision="fp32").fit(splits, unlabeled=strange)
    record = taught.fit_details_["unlabeled"]
    assert record["pool"] == len(strange)
    assert record["left_out"]["unknown"] >= 0.9 * len(strange) or record["pseudo_labels"] == 0
    assert taught.score(splits.test) >= alone.score(splits.test) - 0.01  # not dragged down (3 of 300 at most)


def test_what_cannot_use_a_pool_is_refused_before_training(small_folder, tmp_path):
    pool = [str(p) for p in (small_folder / "train" / "bag").glob("*.png")]
    with pytest.raises(HeadstartError, match="scratch trains from random weights"):
        ImageClassifier(strategy="scratch").fit(small_folder, unlabeled=pool)
    with pytest.raises(HeadstartError, match="all 12 inputs of the unlabelled pool .* are labelled already"):
        ImageClassifier(strategy="linear-probe").fit(small_folder, unlabeled=pool)
    with pytest.raises(HeadstartError, match="--unlabeled does not apply to .*label sets"):
        ImageMultiLabelClassifier(strategy="linear-probe").fit(pool[:4], [["a"], ["b"], ["a", "b"], []],
                                                                  unlabeled=pool)
    with pytest.raises(HeadstartError, match="fine-tune's threshold applies only with an unlabelled pool"):
        ImageClassifier(strategy="fine-tune(threshold=0.9)").fit(small_folder)
    with pytest.raises(HeadstartError, match="pseudo-label teacher 'graph'"):
        ImageClassifier(strategy="linear-probe", pseudo_teacher="graph").fit(small_folder, unlabeled=["x"])
    result = run_cli("train", small_folder, "--unlabeled", tmp_path / "nowhere", "--strategy", "linear-probe")
    assert result.returncode == 1 and "no such file, folder or pattern" in result.stderr
    result = run_cli("train", small_folder, "--unlabeled", pool[0], "--pseudo-limit", "0")
    assert result.returncode == 1 and "pseudo_limit" in result.stderr.replace("-", "_")
    result = run_cli("train", small_folder, "--pseudo-teacher", "probe", "--out", tmp_path / "never")
    assert result.returncode == 1 and "apply to an unlabelled pool" in result.stderr
    assert not (tmp_path / "never").exists()  # refused before the run folder is made


def test_labels_added_from_a_table_must_be_classes_of_the_data_and_agree(small_folder, tmp_path):
    from headstart.estimators.unlabeled import with_added_labels
    from headstart.tasks import get_task
    from headstart.tasks.image import SAMPLE_DIR

    unseen = str(sorted((SAMPLE_DIR / "train" / "bag").glob("*.png"))[20])  # small_folder holds the first 12
    typo, twice = tmp_path / "typo.csv", tmp_path / "twice.csv"
    typo.write_text(f"path,label\n{unseen},bagg\n")
    twice.write_text(f"path,label\n{unseen},bag\n{unseen},sneaker\n")
    for table, message in ((typo, "'bagg' is not a class of the data"), (twice, "is labelled both 'bag' and 'sneaker'")):
        result = run_cli("train", small_folder, "--labels", table, "--strategy", "linear-probe", "--out",
                         tmp_path / "run")
        assert result.returncode == 1 and message in result.stderr
        assert not (tmp_path / "run").exists()  # refused before the run folder is made
    with pytest.raises(HeadstartError, match="--labels does not apply to .*label sets"):
        with_added_labels(get_task("image-multilabel"), None, twice)


@pytest.mark.slow
def test_suggest_fill_in_train_again_from_the_command_line(tmp_path):
    """Texts: train with a pool, ask what to label, fill two rows in, train again with them."""
    from headstart.data.rotten_tomatoes import load_rotten_tomatoes

    reviews = load_rotten_tomatoes(per_class=20, test_per_class=40, seed=0)
    rows = [("text", "label", "split")] + [(t, lab, "train") for t, lab in zip(reviews.train.items,
                                                                              reviews.train.labels, strict=True)]
    rows += [(t, lab, "test") for t, lab in zip(reviews.test.items, reviews.test.labels, strict=True)]
    data = tmp_path / "reviews.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    others = load_rotten_tomatoes(per_class=120, seed=1).train
    seen = set(reviews.train.items) | set(reviews.test.items)
    pool_texts = [t for t in others.items if t not in seen and "\n" not in t][:200]  # one per line
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(pool_texts) + "\n")
    run = tmp_path / "run"
    result = run_cli("train", data, "--unlabeled", pool, "--strategy", "linear-probe", "--out", run, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "unlabelled pool: " in result.stdout and "of the 200 new inputs of" in result.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["unlabeled"]["pool"] == 200 and "Unlabelled pool" in (run / "report.html").read_text()

    to_label = tmp_path / "to-label.csv"
    result = run_cli("suggest", run, pool, "-n", "5", "--out", to_label)
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(to_label.open()))
    assert len(table) == 5 and list(table[0]) == ["text", "label", "predicted", "confidence", "uncertainty",
                                                  "distance_to_labelled"]
    assert all(row["text"] in pool_texts and row["label"] == "" for row in table)
    assert len({row["text"] for row in table}) == 5
    issues = tmp_path / "to-label-issues.csv"
    assert issues.is_file() and "likely label errors" in result.stdout
    before = to_label.read_bytes()
    again = run_cli("suggest", run, pool, "--out", to_label, "--no-check")
    assert again.returncode == 1 and "exists" in again.stderr and to_label.read_bytes() == before  # never overwritten
    same = run_cli("suggest", run, pool, "--out", tmp_path / "x.csv", "--issues", tmp_path / "x.csv")
    assert same.returncode == 1 and "both name" in same.stderr and not (tmp_path / "x.csv").exists()

    truth = dict(zip(others.items, others.labels, strict=True))
    for row in table[:2]:
        row["label"] = truth[row["text"]]
    with to_label.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    again = tmp_path / "again"
    result = run_cli("train", data, "--labels", to_label, "--strategy", "linear-probe", "--out", again, "--quiet")
    assert result.returncode == 0, result.stderr
    config = json.loads((again / "config.json").read_text())
    assert sum(config["data"]["counts"]["train"].values()) == 40 + 2
    assert config["data"]["splits"]["added_labels"]["rows"] == 2


@pytest.mark.slow
def test_the_head_keeps_pseudo_labels_for_its_refit(tmp_path):
    """A strategy with a validation split trains on the pool's pseudo-labels, and its refit on every labelled
    example keeps them."""
    data = copy_sample(tmp_path / "data", ["bag", "sneaker", "trouser"], 30)
    full = load_fashion_mnist()
    pool = [item for item, label in zip(full.train.items, full.train.labels, strict=True)
            if label in ("bag", "sneaker", "trouser")][:600]
    clf = ImageClassifier(strategy="head", image_size=64, epochs=3, pseudo_teacher="propagation").fit(data,
                                                                                                   unlabeled=pool)
    record, refit = clf.fit_details_["unlabeled"], clf.fit_details_["refit"]
    assert record["teacher"] == "propagation" and record["teacher_reason"] == "chosen by the user"
    assert record["pseudo_labels"] > 0 and refit["done"] and refit["pseudo_labelled"] == record["pseudo_labels"]
    assert refit["examples"] == 90 and len(clf.pseudo_labels_) == record["pseudo_labels"]
    shutil.rmtree(tmp_path / "data")


@pytest.mark.slow
def test_fine_tune_pairs_labelled_batches_with_pool_images_above_the_threshold(tmp_path):
    """FixMatch: each step pairs a labelled batch with unlabelled inputs, whose weak view's confident class teaches
    the strong view; at a threshold every guess passes, every unlabelled input is used."""
    from headstart.tasks.image import SAMPLE_DIR

    classes = ["bag", "sneaker", "trouser", "dress"]
    data = copy_sample(tmp_path / "data", classes, 8)
    pool = [str(p) for c in classes for p in sorted((SAMPLE_DIR / "train" / c).glob("*.png"))[8:20]]
    options = {"image_size": 64, "epochs": 2, "precision": "fp32"}
    clf = ImageClassifier(strategy="fine-tune(warmup_epochs=1,threshold=0.01)", **options).fit(data, unlabeled=pool)
    record = clf.fit_details_["unlabeled"]
    assert record["consistency"]["used"] and record["consistency"]["inputs"] == 48 - record["left_out"]["unknown"] > 0
    trained = [row for row in clf.history_ if "head" not in row["stage"]]
    assert trained and all(row["unlabelled_used"] == 1.0 for row in trained)
    assert record["consistency"]["mean_share_used"] == 1.0
    from headstart.reports.page import unlabeled_summary

    said = unlabeled_summary({"unlabeled": record})
    assert f"consistency training (FixMatch) on {record['consistency']['inputs']} of them, 100% confident" in said
    off = ImageClassifier(strategy="fine-tune(warmup_epochs=1,unlabeled_weight=0)", **options).fit(data, unlabeled=pool)
    assert "consistency" not in off.fit_details_["unlabeled"]
    assert all(row["unlabelled_used"] is None for row in off.history_)


def test_consistency_views_exist_for_images_and_not_for_text():
    from headstart.strategies import FitContext
    from headstart.strategies.fine_tune import FineTune
    from headstart.tasks import get_task

    ctx = FitContext(get_task("text"), {}, 2, unlabeled=["a fine film", "a dull one"])
    consistency, record = FineTune().consistency(ctx)
    assert consistency is None and record["consistency"] == {"used": False, "why": "text inputs have no strong "
                                                                                    "augmentation"}
    image = FitContext(get_task("image"), {"input_size": (3, 32, 32)}, 2, unlabeled=[np.zeros((28, 28), np.uint8)])
    consistency, record = FineTune().consistency(image)
    weak, strong = consistency.views[0][0]
    assert weak.shape == strong.shape == (3, 32, 32) and record["consistency"]["inputs"] == 1


@pytest.mark.slow
def test_inputs_flagged_unknown_are_suggested_after_all_the_others(small_folder):
    from headstart.tasks.image import SAMPLE_DIR

    clf = ImageClassifier(strategy="linear-probe", image_size=64, precision="fp32").fit(small_folder)
    unseen = [str(p) for c in ("bag", "sneaker", "trouser") for p in sorted((SAMPLE_DIR / "train" / c).glob("*.png"))[20:24]]
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(8)]
    pool = unseen + noise
    flagged = clf.predict_unknown(pool)
    assert flagged[len(unseen):].sum() >= 4 and (~flagged).sum() >= 4  # both kinds are there
    ranked = [row["input"] for row in clf.suggest(pool, n=len(pool))]
    names = [str(Path(p).resolve()) for p in unseen] + [f"unlabelled/{i}" for i in range(len(unseen), len(pool))]
    order = [ranked.index(name) for name in names]
    kept = [o for o, f in zip(order, flagged, strict=True) if not f]
    assert max(kept) < min(o for o, f in zip(order, flagged, strict=True) if f)
