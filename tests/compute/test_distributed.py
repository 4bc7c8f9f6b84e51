"""Two CPU processes (torchrun, gloo) train like one, resume after Ctrl-C, and extract exactly what one extracts."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from headstart.features.embeddings import Embeddings
from tests.conftest import copy_sample, run_cli
from tests.training.test_resume import outcome, saved_position

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

TRAIN = ["--strategy", "fine-tune", "--epochs", "4", "--image-size", "64", "--seed", "1", "--quiet"]
# Stated tolerance: each process normalises its half of a batch (BatchNorm), so losses differ slightly.
LOSS_TOLERANCE = 0.05
ACCURACY_TOLERANCE = 0.06  # two of the 36 test images


def headstart(*args, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEADSTART_FEATURE_CACHE": str(cache)}
    result = subprocess.run([sys.executable, "-m", "headstart", *map(str, args)], capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return copy_sample(tmp_path_factory.mktemp("dist") / "data", ["bag", "sneaker", "trouser"], 12)


def history(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def two_process_run(data, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("two")
    result = headstart("train", data, *TRAIN, "--out", root / "two", "--nproc", "2", cache=root / "cache")
    return root / "two", result


def test_two_processes_train_like_one(data, two_process_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_FEATURE_CACHE", str(tmp_path / "cache-one"))
    assert run_cli("train", data, *TRAIN, "--out", tmp_path / "one").returncode == 0  # one process: this one
    two_run, result = two_process_run
    (tmp_path / "two").symlink_to(two_run)
    assert result.stdout.count("test accuracy") == 1, "only the first process reports"
    one, two = (json.loads((tmp_path / r / "summary.json").read_text())["scores"] for r in ("one", "two"))
    assert abs(one["accuracy"] - two["accuracy"]) <= ACCURACY_TOLERANCE
    rows_one, rows_two = history(tmp_path / "one"), history(tmp_path / "two")
    assert [(r["stage"], r["epoch"]) for r in rows_one] == [(r["stage"], r["epoch"]) for r in rows_two]
    assert any(r["stage"].startswith("refit") for r in rows_two)  # trained again on train + val, both processes
    for a, b in zip(rows_one, rows_two, strict=True):
        key = "val_loss" if a["val_loss"] else "train_loss"  # the refit has no validation split left
        assert abs(float(a[key]) - float(b[key])) <= LOSS_TOLERANCE
    assert not (tmp_path / "two" / "checkpoint.safetensors").exists()


def test_ctrl_c_then_resume_with_two_processes(data, two_process_run, tmp_path):
    """Ctrl-C reaches the launcher and both processes (one process group, as in a terminal); the resumed run ends
    exactly where the uninterrupted two-process run does."""
    run = tmp_path / "cut"
    env = {**os.environ, "HEADSTART_FEATURE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "headstart", "train", str(data), *TRAIN, "--out", str(run),
                             "--nproc", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while (saved_position(run) or (0,))[0] < 1:  # trainer 0 is the head warm-up on cached features
        assert proc.poll() is None, f"training ended before it could be interrupted: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == f"error: interrupted; continue with `headstart train --resume {run} --nproc 2`"
    assert "Traceback" not in stderr
    headstart("train", "--resume", run, "--nproc", "2", "--quiet", cache=tmp_path / "cache")
    assert outcome(run) == outcome(two_process_run[0])


def test_sharded_extraction_equals_one_process_exactly(data, tmp_path, monkeypatch):
    args = ["embed", data, "--image-size", "64", "--quiet"]
    monkeypatch.setenv("HEADSTART_FEATURE_CACHE", str(tmp_path / "cache-one"))
    assert run_cli(*args, "-o", tmp_path / "one.parquet").returncode == 0
    headstart(*args, "-o", tmp_path / "two.parquet", "--nproc", "2", cache=tmp_path / "cache-two")
    one, two = Embeddings.from_parquet(tmp_path / "one.parquet"), Embeddings.from_parquet(tmp_path / "two.parquet")
    assert list(one.ids) == list(two.ids) and np.array_equal(one.vectors, two.vectors)
    shards = list((tmp_path / "cache-two").glob("*/*/shard-*.npz"))
    assert len(shards) == 2, "each process wrote its own part of the cache"
