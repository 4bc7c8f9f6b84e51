"""Detection runs go through the one train path: a run killed mid-training resumes and ends as one never
stopped, and ``headstart.load`` opens it like any other run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import headstart
from headstart.data.detection import SAMPLE_DETECT_DIR
from tests.conftest import run_cli
from tests.training.test_resume import outcome, saved_position

ARGS = ["--task", "detect", "--epochs", "4", "--image-size", "160", "--batch-size", "2", "--seed", "3",
        "--precision", "fp32", "--quiet"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("detect-resume") / "reference"
    result = run_cli("train", "detect-sample", *ARGS, "--out", run)
    assert result.returncode == 0, result.stderr
    return run


def test_a_killed_detection_run_resumes_to_the_same_metrics(reference, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "headstart", "train", "detect-sample", *ARGS, "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while (saved_position(run) or (0, 0, 0))[2] < 1:
        assert proc.poll() is None, f"training ended before it could be interrupted: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    assert not (run / "config.json").exists(), "an interrupted run must not look complete"
    result = run_cli("train", "--resume", run)
    assert result.returncode == 0, result.stderr
    (_, resumed), (_, never_stopped) = outcome(run), outcome(reference)
    first_fit = [r["epoch"] for r in never_stopped if r["stage"] == "fine-tune"]
    assert first_fit == ["1", "2", "3", "4"] and never_stopped[4]["stage"] == "refit fine-tune"  # then train + val
    assert resumed == never_stopped  # bit for bit, as classifier runs (tests/training/test_resume.py)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "detect" and summary["strategy"] == "fine-tune"
    assert summary["speed"] and "leakage" in summary  # the shared pipeline's records, detection included


def test_load_opens_a_detection_run_with_the_same_boxes(reference):
    loaded = headstart.load(reference)
    assert isinstance(loaded, headstart.ObjectDetector)
    again = headstart.ObjectDetector.load(reference)
    images = sorted((SAMPLE_DETECT_DIR / "images").rglob("*.jpg"))[:3]
    first, second = loaded.predict(images, conf=0.01), again.predict(images, conf=0.01)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.boxes.numpy(), b.boxes.numpy())
    with pytest.raises(headstart.HeadstartError, match="object detection run; load it with headstart.load"):
        headstart.ImageClassifier.load(reference)
    assert loaded.score("detect-sample") == pytest.approx(loaded.evaluate("detect-sample")["map50"])
