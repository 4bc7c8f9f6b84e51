"""Label sets (issue 29, multi-label): every way a user writes them is read to the same sets, the data that cannot be
read or learned from is refused in one line naming the row or label and the fix, and splits and draws keep every
label. Real photos from the shipped Fashion-MNIST sample where images are needed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from headstart.data.dataset import NO_LABEL, LabelSets
from headstart.data.images import read_image_csv, read_image_folder
from headstart.data.label_sets import check_trainable_sets, sample_per_label, split_label_sets
from headstart.data.texts import read_text_file
from headstart.errors import HeadstartError
from headstart.evaluation.multilabel import multilabel_metrics
from headstart.features.probe_recipe import C_GRID, MULTI_LABEL
from headstart.tasks import get_task, infer_task, task_variant
from headstart.tasks.image import SAMPLE_DIR

SETS = [("bag", "shoe"), ("bag",), (), ("coat", "shoe"), ("bag", "coat", "shoe"), ("coat",)]


def images(n: int) -> list[str]:
    return [str(p) for p in sorted((SAMPLE_DIR / "train" / "bag").glob("*.png"))[:n]]


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", [
    lambda s: "|".join(s), lambda s: ";".join(s), lambda s: " | ".join(s),
    lambda s: json.dumps(list(s)).replace('"', '""'), lambda s: str(list(s)),
])
def test_every_way_of_writing_a_set_in_an_image_csv_reads_the_same(tmp_path, cell):
    paths = images(len(SETS))
    lines = ["path,labels"] + [f'{p},"{cell(s)}"' for p, s in zip(paths, SETS, strict=True)]
    splits = read_image_csv(write(tmp_path / "data.csv", "\n".join(lines)), multi_label=True)
    assert isinstance(splits.train, LabelSets)
    assert splits.train.labels == SETS
    assert splits.train.class_counts() == {"bag": 3, "coat": 3, "shoe": 3, NO_LABEL: 1}


def test_a_one_hot_csv_and_a_jsonl_of_lists_read_as_sets(tmp_path):
    header = "image,bag,coat,shoe,split"
    rows = [f"{p},{int('bag' in s)},{int('coat' in s)},{int('shoe' in s)},train"
            for p, s in zip(images(len(SETS)), SETS, strict=True)]
    splits = read_image_csv(write(tmp_path / "hot.csv", "\n".join([header, *rows])), multi_label=True)
    assert splits.train.labels == SETS and splits.record["one_hot_columns"] == ["bag", "coat", "shoe"]
    lines = [json.dumps({"text": f"text {i}", "tags": list(s)}) for i, s in enumerate(SETS)]
    texts = read_text_file(write(tmp_path / "t.jsonl", "\n".join(lines)), multi_label=True)
    assert texts.train.labels == SETS and texts.record["label_column"] == "tags"


def test_mixed_separators_and_objects_are_refused_naming_the_rows(tmp_path):
    data = write(tmp_path / "t.csv", "text,labels\none,a|b\ntwo,c;d\nthree,a\n")
    with pytest.raises(HeadstartError, match=r"different separators \('\|' in line 2: 'a\|b'; ';' in line 3: 'c;d'\)"):
        read_text_file(data, multi_label=True)
    data = write(tmp_path / "o.jsonl", '{"text": "x", "labels": {"a": 1}}\n')
    with pytest.raises(HeadstartError, match="line 1: the label is a JSON object"):
        read_text_file(data, multi_label=True)
    data = write(tmp_path / "none.csv", "text,notes\nhello,long\n")
    with pytest.raises(HeadstartError, match="no label column and no 0/1 label columns"):
        read_text_file(data, multi_label=True)


def test_an_image_in_several_class_folders_is_one_item_with_their_labels(tmp_path):
    for label, names in {"bag": images(3), "shoe": images(2)}.items():  # 2 of the 3 bags are also "shoe"
        (tmp_path / label).mkdir()
        for i, name in enumerate(names):
            shutil.copy(name, tmp_path / label / f"{label}{i}.png")
    splits = read_image_folder(tmp_path, multi_label=True)
    assert sorted(splits.train.labels) == [("bag",), ("bag", "shoe"), ("bag", "shoe")]
    assert any("same content" in w for w in splits.warnings)
    assert read_image_folder(tmp_path).train.labels.count("shoe") == 2  # single-label: as the folders say


def test_multi_label_is_detected_only_when_unambiguous_and_can_be_forced(tmp_path):
    sets = write(tmp_path / "sets.csv", "text,labels\nhi,a|b\nho,a\n")
    commas = write(tmp_path / "commas.csv", 'text,label\nhi,"Washington, D.C."\nho,Paris\n')
    hot = write(tmp_path / "hot.csv", "text,a,b\nhi,1,0\nho,1,1\n")
    assert infer_task(sets) == "text-multilabel" and infer_task(hot) == "text-multilabel"
    assert infer_task(commas) == "text" and infer_task(commas, multi_label=True) == "text-multilabel"
    assert infer_task(sets, multi_label=False) == "text"
    assert "joins labels with '|'" in get_task("text-multilabel").sets_reason(sets)
    assert infer_task("mosaics") == "image-multilabel"
    with pytest.raises(HeadstartError, match="--multi-label does not apply to object detection"):
        infer_task("detect-sample", multi_label=True)


@pytest.mark.parametrize(("labels", "says"), [
    ([("a",), ("a",), ("a",)], r"every item in x has the same labels \(a\)"),
    ([("a",), ("a", "b"), ()], "label 'b' in x is on a single item"),
    ([("a",), ("a", "b"), ("a", "b")], "label 'a' is on every one of the 3 items in x"),
    ([(), ()], "no item in x has a label"),
])
def test_label_sets_nothing_can_be_learned_from_are_refused(labels, says):
    with pytest.raises(HeadstartError, match=says):
        check_trainable_sets(LabelSets(list(range(len(labels))), labels, [str(i) for i in range(len(labels))]), "x")


def test_labels_never_seen_in_training_are_named():
    task = get_task("image-multilabel")
    test = LabelSets([0, 1], [("a",), ("zebra",)], ["0", "1"], source="test.csv")
    with pytest.raises(HeadstartError, match="evaluation labels not seen in training: zebra \\(in test.csv\\)"):
        task.check_labels(test, ["a", "b"], "evaluation")


def test_draws_are_nested_and_splits_keep_every_label():
    rng = np.random.default_rng(0)
    labels = [tuple(sorted(set(rng.choice(list("abcdef"), rng.integers(0, 3))))) for _ in range(600)]
    data = LabelSets(list(range(600)), labels, [str(i) for i in range(600)])
    small, large = sample_per_label(data, 10, seed=1), sample_per_label(data, 40, seed=1)
    assert set(small.items) <= set(large.items)
    assert min(n for label, n in small.class_counts().items()) >= 10
    assert small.class_counts()[NO_LABEL] == 10
    fit, val, record = split_label_sets(data, 0.2, seed=0)
    assert len(val) == 120 and record["val"].startswith("stratified by label")
    shares = {c: val.class_counts()[c] / data.class_counts()[c] for c in data.classes}
    assert all(0.15 <= share <= 0.25 for share in shares.values()), shares


def test_auto_chooses_from_the_rarest_label():
    few = LabelSets(list(range(60)), [("a",)] * 30 + [("a", "b")] * 19 + [()] * 11, [str(i) for i in range(60)])
    many = LabelSets(list(range(60)), [("a",)] * 30 + [("a", "b")] * 20 + [()] * 10, [str(i) for i in range(60)])
    strategy, reason = get_task("image-multilabel").auto_plan(few)
    assert strategy == "linear-probe" and "the rarest label ('b') is on 19 training items" in reason
    assert get_task("image-multilabel").auto_plan(many)[0] == "fine-tune"
    assert get_task("text-multilabel").auto_plan(many)[0] == "head"
    with pytest.raises(HeadstartError, match="contrastive strategy learns from pairs"):
        get_task("text-multilabel").check_strategy("contrastive")
    with pytest.raises(HeadstartError, match="the lora strategy does not apply to multi-label image"):
        get_task("image-multilabel").check_strategy("lora")


def test_commas_beside_a_stronger_separator_are_part_of_a_label_and_repeated_rows_merge(tmp_path):
    paths = images(3)
    lines = ["path,labels", f'{paths[0]},"news|Washington, D.C."', f"{paths[1]},news", f"{paths[0]},sport",
             f"{paths[2]},"]
    splits = read_image_csv(write(tmp_path / "d.csv", "\n".join(lines)), multi_label=True)
    assert splits.record["separator"] == "|"
    assert splits.train.labels == [("Washington, D.C.", "news", "sport"), ("news",), ()]  # one row per (image, label)
    assert any("repeat an item of an earlier row" in w for w in splits.warnings)
    assert read_text_file(write(tmp_path / "c.csv", 'text,labels\nx,"a, b"\ny,a\n'), multi_label=True).train.labels \
        == [("a", "b"), ("a",)]  # with --multi-label a comma alone separates


def test_missing_labels_are_skipped_and_uncertain_columns_refused(tmp_path):
    lines = ['{"text": "a", "labels": ["x"]}', '{"text": "b", "labels": null}', '{"text": "c"}',
             '{"text": "d", "labels": []}']
    splits = read_text_file(write(tmp_path / "m.jsonl", "\n".join(lines)), multi_label=True)
    assert splits.train.items == ["a", "d"] and splits.train.labels == [("x",), ()]
    assert any("skipped 2 row(s) without a label" in w for w in splits.warnings)
    with pytest.raises(HeadstartError, match="column\\(s\\) effusion hold -1 beside 0/1.*U-Zeros or U-Ones"):
        read_text_file(write(tmp_path / "u.csv", "text,effusion,edema\na,1,0\nb,-1,1\n"), multi_label=True)
    with pytest.raises(HeadstartError, match="line 1: the label is a JSON list, not one label; .*--multi-label"):
        read_text_file(write(tmp_path / "l.jsonl", '{"text": "a", "label": ["x", "y"]}\n'))


def test_the_label_column_named_decides_detection(tmp_path):
    data = write(tmp_path / "t.csv", "text,topic,tags\nhi,sport,a|b\nho,news,a\n")
    assert infer_task(data) == "text-multilabel"  # "tags" is a column of sets
    assert infer_task(data, label_column="topic") == "text"
    ones = write(tmp_path / "o.csv", "review,sentiment,verified\ngood,1,0\nbad,0,1\n")
    assert infer_task(ones) == "text"  # a single-label column by name: not a one-hot table
    assert task_variant("text", True) == "text-multilabel" and task_variant("image-multilabel", False) == "image"
    with pytest.raises(HeadstartError, match="--multi-label does not apply to object detection"):
        task_variant("detect", True)


def test_one_label_data_splits_folds_and_gets_a_baseline():
    """One finding or none (a binary set): iterative stratification reads a single column as binary, not a set."""
    paths = [str(p) for cls in ("bag", "coat") for p in sorted((SAMPLE_DIR / "train" / cls).glob("*.png"))[:20]]
    data = LabelSets(paths, [("bag",)] * 20 + [()] * 20, [str(i) for i in range(40)])
    check_trainable_sets(data, "x")
    fit, val, _ = split_label_sets(data, 0.25, seed=0)
    assert val.class_counts() == {"bag": 5, NO_LABEL: 5}
    x = np.random.default_rng(0).normal(size=(40, 6)) + np.r_[np.ones(20), np.zeros(20)][:, None]
    found = MULTI_LABEL.cross_validate(x, data.indicator(["bag"]), C_GRID, 4, seed=0)
    assert found.out_of_fold.shape == (40, 1)
    name, macro_f1 = get_task("image-multilabel").baseline(fit, val)
    assert name == "one-vs-rest logistic regression on pixels" and macro_f1 > 0.6  # bags against coats


def test_macro_f1_leaves_out_labels_neither_present_nor_predicted():
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    proba = np.array([[0.9, 0.1, 0.1], [0.2, 0.8, 0.0], [0.7, 0.6, 0.2]])
    scores = multilabel_metrics(truth, proba, np.full(3, 0.5), ["a", "b", "c"])
    assert scores["macro_f1"] == 1.0 and scores["macro_f1_labels"] == 2
    scores = multilabel_metrics(truth, proba, np.array([0.5, 0.5, 0.15]), ["a", "b", "c"])  # "c" claimed once
    assert scores["macro_f1"] == pytest.approx(2 / 3) and scores["macro_f1_labels"] == 3


def test_an_indicator_matrix_keeps_its_column_order():
    from headstart.estimators.multilabel import indicator_sets

    matrix = np.eye(12)[np.arange(24) % 12]
    data = indicator_sets(list(range(24)), matrix)
    assert data.classes == [f"{j:02d}" for j in range(12)]
    np.testing.assert_array_equal(data.indicator(data.classes), matrix)
    matrix[:, 5] = 0
    with pytest.raises(HeadstartError, match="column 5 of y has no 1"):
        indicator_sets(list(range(24)), matrix)
