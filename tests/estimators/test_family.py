"""One estimator family: the same verbs and knobs for every task, knobs that do not apply refused, every numeric
option range-checked with a one-line error (in Python and on the command line)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import headstart
from headstart import FineTune, HeadstartError, ImageClassifier, ObjectDetector, TextClassifier
from headstart.data.detection import SAMPLE_DETECT_DIR
from headstart.estimators import ESTIMATORS, estimator_for
from headstart.progress import Reporter
from headstart.strategies import get_strategy, strategy_spec
from headstart.tasks import get_task
from tests.conftest import run_cli

SRC = Path(headstart.__file__).resolve().parent


def test_every_task_has_one_estimator_with_the_same_verbs():
    tasks = ("image", "text", "detect", "image-multilabel", "text-multilabel")
    for task in tasks:
        cls = estimator_for(task)
        for verb in ("fit", "predict", "score", "evaluate", "save", "load", "export", "prediction_rows"):
            assert callable(getattr(cls, verb)), (task, verb)
        shared = {"model", "strategy", "weights", "epochs", "lr", "batch_size", "val_size", "seed", "precision",
                  "num_workers", "cache", "verbose"}
        assert shared <= set(cls().get_params()), task
    assert set(ESTIMATORS) == set(tasks)
    assert "image_size" not in TextClassifier().get_params() and "max_length" not in ImageClassifier().get_params()
    assert {"freeze", "conf", "iou"} <= set(ObjectDetector().get_params())
    # The same defaults where they mean the same thing (batch size: each task's, stated in its docstring).
    assert ImageClassifier().strategy == ObjectDetector().strategy == "auto"
    assert ImageClassifier().precision == ObjectDetector().precision == "auto"


def test_the_readme_names_are_importable_from_headstart():
    for name in ("ImageClassifier", "TextClassifier", "ObjectDetector", "FineTune", "LinearProbe", "load", "train",
                 "evaluate", "predict", "rank", "embed", "similar", "compare", "export_run"):
        assert getattr(headstart, name) is not None, name


@pytest.mark.parametrize(("knob", "value", "says"), [
    ("epochs", -1, "--epochs must be an integer in [1, 10000]"),
    ("batch_size", 0, "batch_size (--batch-size) must be an integer in [1, 65536]"),
    ("val_size", 2, "val_size (--val-size) must be a number in [0, 0.9]"),
    ("lr", 0, "--lr must be a number in (0, 10]"),
    ("seed", -3, "--seed must be an integer"),
    ("epochs", 2.5, "--epochs must be an integer"),
])
def test_numeric_knobs_are_range_checked_before_any_work(knob, value, says):
    with pytest.raises(HeadstartError, match=says.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        ImageClassifier(strategy="linear-probe", **{knob: value}).fit("no-such-folder-is-read-first")


@pytest.mark.parametrize(("args", "says"), [
    (["train", "sample", "--epochs", "-1"], "--epochs must be an integer in [1, 10000], not -1"),
    (["train", "sample", "--batch-size", "0"], "batch_size (--batch-size) must be an integer in [1, 65536], not 0"),
    (["train", "sample", "--val-size", "2"], "val_size (--val-size) must be a number in [0, 0.9], not 2.0"),
    (["train", "sample", "--per-class", "0"], "--per-class must be an integer >= 1, not 0"),
    (["train", "sample", "--freeze", "3"], "--freeze does not apply to image classification (it is for object detection)"),
    (["train", "detect-sample", "--class-weight", "auto"], "--class-weight does not apply to object detection"),
    (["train", "detect-sample", "--budget", "10m"], "--budget does not apply to object detection"),
    (["train", "detect-sample", "--per-class", "5"], "--per-class does not apply to object detection"),
    (["train", "detect-sample", "--strategy", "linear-probe"], "the linear-probe strategy does not apply to object detection"),
    (["train", "sample", "--strategy", "fine-tune(layer_decay=2)"], "fine-tune layer_decay must be a number in (0, 1]"),
    (["train", "sample", "--strategy", "fine-tune(speed=2)"], "fine-tune has no option 'speed'"),
    (["predict", str(SAMPLE_DETECT_DIR), "--model", "yolov3-tiny", "--top-k", "0"], "--top-k must be an integer >= 1, not 0"),
])
def test_bad_options_end_in_one_line_naming_the_option(args, says):
    result = run_cli(*args, "--quiet" if args[0] == "train" else "--format=json")
    assert result.returncode == 1
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_strategy_objects_carry_their_options_and_round_trip_as_text():
    strategy = FineTune(layer_decay=0.9, epochs=10)
    assert strategy.layer_decay == 0.9 and strategy.epochs == 10 and FineTune().layer_decay == 0.85
    assert strategy_spec(strategy) == "fine-tune(epochs=10,layer_decay=0.9)"
    assert get_strategy(strategy_spec(strategy)) == strategy
    assert get_strategy("fine-tune") == FineTune() and strategy_spec("auto") == "auto"
    with pytest.raises(HeadstartError, match="linear-probe has no option 'epochs'"):
        get_strategy("linear-probe(epochs=3)")
    with pytest.raises(HeadstartError, match="fine-tune epochs must be an integer"):
        FineTune(epochs=0)


@pytest.mark.slow
def test_a_strategy_object_is_recorded_in_the_config_and_read_back(tmp_path):
    clf = ImageClassifier(strategy=get_strategy("head(views=0,epochs=2)"), image_size=64, cache=False)
    clf.fit(get_task("image").read("sample", per_class=10))
    run = clf.save(tmp_path / "run")
    loaded = headstart.load(run)
    assert loaded.strategy_spec_ == "head(epochs=2,views=0)" and loaded.strategy == "head(epochs=2,views=0)"
    assert [r["stage"] for r in clf.history_][:3] == ["head", "head", "refit head"]  # two epochs, as the object said
    again = run_cli("train", "sample", "--config", run / "config.json", "--per-class", "5", "--out", tmp_path / "again",
                    "--quiet")
    assert again.returncode == 0, again.stderr
    assert headstart.load(tmp_path / "again").strategy_spec_ == "head(epochs=2,views=0)"


def test_auto_for_detection_says_why():
    detector = ObjectDetector()
    splits = get_task("detect").read("detect-sample")
    model, strategy, reason, _ = detector._plan(get_task("detect"), splits, detector._checked_params(), Reporter())
    assert (model, strategy.name) == ("yolov3-tiny", "fine-tune")
    assert "chosen by the user" not in reason and "mAP" in reason


def test_no_code_outside_tasks_branches_on_a_task_name():
    """A task answers through its own methods: no ``task == "..."`` (or ``.task == ...``) outside tasks/."""
    found = []
    for path in SRC.rglob("*.py"):
        if "tasks" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq | ast.In) for op in node.ops):
                names = [n for n in [node.left, *node.comparators] if isinstance(n, ast.Constant)]
                sides = [ast.unparse(n) for n in [node.left, *node.comparators]]
                if any("task" in side for side in sides) and any(n.value in ("image", "text", "detect") for n in names):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found


@pytest.mark.slow
def test_a_classifier_scores_labelled_data_given_by_its_path(fitted_probe):
    test = get_task("image").read("sample").test
    assert fitted_probe.score("sample") == pytest.approx(fitted_probe.evaluate("sample")["accuracy"])
    assert fitted_probe.score("sample") == pytest.approx(fitted_probe.score(test.items, test.labels))
