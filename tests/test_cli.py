"""The command line as a user runs it: its entry point, real weights, real images (in this process, through
``run_cli``; one test starts the console script for real)."""

import csv
import io
import json
import subprocess
import sys

import pytest

from headstart.errors import HeadstartError
from tests.conftest import copy_sample, run_cli

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def headstart(*args, check=True):
    result = run_cli(*args)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def test_help_and_import_do_not_load_torch():
    """`headstart --help` (and `import headstart`) stay light: torch, timm and scikit-learn load on first use."""
    probe = ("import sys, headstart, headstart.cli; from headstart import HeadstartError; "
             "print(sorted(m for m in ('torch', 'timm', 'sklearn', 'transformers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
    result = subprocess.run([sys.executable, "-m", "headstart", "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "train" in result.stdout and "rank" in result.stdout
    probe = "import headstart; print(headstart.ImageClassifier.__name__, 'train' in dir(headstart))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300).stdout.split() == ["ImageClassifier", "True"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = copy_sample(root / "data", ["bag", "sneaker", "trouser"], 12)
    run = root / "run"
    # fp32: features that bf16 engines extract differ from CPU to CPU (one or two of these 36 images move).
    result = headstart("train", data, "--model", "efficientnet_lite0", "--strategy", "linear-probe", "--precision",
                       "fp32", "--out", run)
    return data, run, result


def test_train_prints_a_summary_and_writes_the_run(trained):
    data, run, result = trained
    assert "test accuracy" in result.stdout and f"run: {run}" in result.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["evaluated_on"] == "test" and summary["scores"]["n"] == 36
    # 36 test images, features in fp32 (33 right on a Xeon with AMX; the bf16 engines gave 32 to 34); chance is 12.
    assert summary["scores"]["accuracy"] >= 0.9


def test_predict_formats(trained):
    data, run, _ = trained
    table = headstart("predict", run, data / "test" / "bag", "--top-k", "2").stdout
    assert "bag" in table
    rows = json.loads(headstart("predict", run, data / "test" / "*" / "*.png", "--format", "json").stdout)
    assert len(rows) == 36 and len(rows[0]["top_k"]) == 3
    correct = sum(r["label"] in r["input"].split("/")[-2] for r in rows)
    assert correct >= 0.9 * 36
    lines = list(csv.reader(io.StringIO(headstart("predict", run, data / "test" / "trouser", "-f", "csv").stdout)))
    assert lines[0] == ["input", "label", "probability", "top_k", "unknown", "unknown_score"] and len(lines) == 13
    assert sum(line[4] == "true" for line in lines[1:]) <= 3  # trousers the run knows: flagged as unknown rarely


def test_evaluate_prints_metrics_and_confusion_matrix(trained):
    data, run, _ = trained
    text = headstart("evaluate", run, data).stdout
    assert "macro-F1" in text and "confusion matrix" in text and "sneaker" in text
    metrics = json.loads(headstart("evaluate", run, data, "--format", "json").stdout)
    assert metrics["split"] == "test" and len(metrics["confusion_matrix"]) == 3
    assert sum(map(sum, metrics["confusion_matrix"])) == 36


def test_config_round_trips_with_the_flags(trained, tmp_path):
    data, run, _ = trained
    again = tmp_path / "again"
    headstart("train", "--config", run / "config.json", "--out", again, "--quiet")
    first, second = (json.loads((r / "config.json").read_text()) for r in (run, again))
    first["params"].pop("verbose"), second["params"].pop("verbose")  # --quiet is about the terminal, not the run
    assert first["params"] == second["params"] and first["data"]["args"] == second["data"]["args"]
    assert json.loads((again / "summary.json").read_text())["scores"] == json.loads((run / "summary.json").read_text())["scores"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "/no/such/folder"), "data folder not found"),
        (("train", "sample", "--model", "no_such_net"), "unknown model"),
        (("train", "sample", "--strategy", "magic"), "unknown strategy"),
        (("predict", "/no/such/run", "x.png"), "run directory not found"),
    ],
)
def test_bad_input_gives_one_line_and_no_traceback(args, message):
    result = headstart(*args, check=False)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_lets_the_error_through_for_its_traceback():
    with pytest.raises(HeadstartError, match="data folder not found"):
        run_cli("--debug", "train", "/no/such/folder")


def test_models_lists_the_offline_zoo():
    text = headstart("models").stdout
    assert "efficientnet_lite0" in text and "Apache-2.0" in text
