"""A run killed mid-training (Ctrl-C, or SIGKILL) resumes from its checkpoint and ends as if never stopped."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from headstart.tasks.base import Task
from headstart.training.checkpoint import CHECKPOINT, FIRST_FIT
from tests.conftest import copy_sample, run_cli

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

ARGS = ["--strategy", "fine-tune", "--epochs", "8", "--image-size", "96", "--seed", "3", "--quiet"]


def headstart(*args) -> subprocess.CompletedProcess:
    """The runs that are not killed go through the CLI in this process (the killed ones need a process of their own)."""
    return run_cli(*args)


def saved_position(run: Path) -> tuple[int, int, int] | None:
    """(trainer, stage, epoch) of the run's checkpoint, or None before the first one."""
    try:
        with safe_open(str(run / CHECKPOINT), framework="pt") as handle:
            state = json.loads(handle.metadata()["state"])
    except Exception:  # not written yet (the rename makes it appear whole)
        return None
    return state["trainer"], state["stage"], state["epoch"]


def train_until_checkpoint(data: Path, run: Path, sig: signal.Signals, trainer: int = 1) -> subprocess.Popen:
    """Start training and send ``sig`` once ``trainer`` has saved an epoch (0 is the head warm-up on cached
    features, 1 the fine-tuning; 2 and 3 the same in the refit on every example)."""
    proc = subprocess.Popen([sys.executable, "-m", "headstart", "train", str(data), *ARGS, "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while (saved_position(run) or (0,))[0] < trainer:
        assert proc.poll() is None, f"training ended before it could be interrupted: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


def outcome(run: Path) -> tuple[dict, list[dict]]:
    """The run's test scores and its per-epoch history (without the timings)."""
    with (run / "metrics.csv").open() as handle:
        history = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]
    return json.loads((run / "summary.json").read_text())["scores"], history


@pytest.fixture(scope="module")
def data_and_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = copy_sample(root / "data", ["bag", "sneaker", "trouser", "sandal"], 16)
    reference = root / "reference"
    result = headstart("train", data, *ARGS, "--out", reference)
    assert result.returncode == 0, result.stderr
    return data, outcome(reference)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_killed_run_resumes_to_the_same_metrics(data_and_reference, tmp_path, sig):
    data, (scores, history) = data_and_reference
    run = tmp_path / "run"
    proc = train_until_checkpoint(data, run, sig)
    assert proc.returncode == (130 if sig == signal.SIGINT else -9)
    if sig == signal.SIGINT:
        stderr = proc.stderr.read()
        assert f"headstart train --resume {run}" in stderr and "Traceback" not in stderr
    assert not (run / "config.json").exists(), "an interrupted run must not look complete"
    trainer, stage, epoch = saved_position(run)
    assert trainer == 1 and epoch >= 1

    result = headstart("train", "--resume", run)
    assert result.returncode == 0, result.stderr
    assert outcome(run) == (scores, history)
    assert not (run / CHECKPOINT).exists()


def test_a_run_killed_in_its_refit_resumes_without_training_the_first_fit_again(data_and_reference, tmp_path,
                                                                               monkeypatch):
    data, (scores, history) = data_and_reference
    run = tmp_path / "run"
    assert train_until_checkpoint(data, run, signal.SIGKILL, trainer=2).returncode == -9
    assert (run / FIRST_FIT).is_file()
    fits = []
    original = Task.fit
    monkeypatch.setattr(Task, "fit", lambda self, *args: fits.append(args[0].spec()) or original(self, *args))
    result = headstart("train", "--resume", run)
    assert result.returncode == 0, result.stderr
    assert outcome(run) == (scores, history)
    assert len(fits) == 1 and fits[0].startswith("fine-tune(epochs=")  # the refit alone
    assert not (run / FIRST_FIT).exists() and not (run / CHECKPOINT).exists()


def test_resume_refuses_a_finished_run_and_changed_data(data_and_reference, tmp_path):
    data, _ = data_and_reference
    run = tmp_path / "run"
    proc = train_until_checkpoint(data, run, signal.SIGKILL)
    assert proc.returncode == -9
    next(data.glob("train/bag/*.png")).unlink()
    result = headstart("train", "--resume", run)
    assert result.returncode == 1 and "the data changed since" in result.stderr
    finished = headstart("train", "--resume", tmp_path / "run", "--quiet")
    assert "start a new run" in finished.stderr
