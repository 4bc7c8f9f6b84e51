"""Two CPU processes (torchrun, gloo) train like one and extract exactly what one process extracts."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from headstart.features.embeddings import Embeddings
from tests.conftest import copy_sample

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


def test_two_processes_train_like_one(data, tmp_path):
    headstart("train", data, *TRAIN, "--out", tmp_path / "one", cache=tmp_path / "cache-one")
    result = headstart("train", data, *TRAIN, "--out", tmp_path / "two", "--nproc", "2", cache=tmp_path / "cache-two")
    assert result.stdout.count("test accuracy") == 1, "only the first process reports"
    one, two = (json.loads((tmp_path / r / "summary.json").read_text())["scores"] for r in ("one", "two"))
    assert abs(one["accuracy"] - two["accuracy"]) <= ACCURACY_TOLERANCE
    rows_one, rows_two = history(tmp_path / "one"), history(tmp_path / "two")
    assert [(r["stage"], r["epoch"]) for r in rows_one] == [(r["stage"], r["epoch"]) for r in rows_two]
    for a, b in zip(rows_one, rows_two, strict=True):
        assert abs(float(a["val_loss"]) - float(b["val_loss"])) <= LOSS_TOLERANCE
    assert not (tmp_path / "two" / "checkpoint.safetensors").exists()


def test_sharded_extraction_equals_one_process_exactly(data, tmp_path):
    args = ["embed", data, "--image-size", "64", "--quiet"]
    headstart(*args, "-o", tmp_path / "one.parquet", cache=tmp_path / "cache-one")
    headstart(*args, "-o", tmp_path / "two.parquet", "--nproc", "2", cache=tmp_path / "cache-two")
    one, two = Embeddings.from_parquet(tmp_path / "one.parquet"), Embeddings.from_parquet(tmp_path / "two.parquet")
    assert list(one.ids) == list(two.ids) and np.array_equal(one.vectors, two.vectors)
    shards = list((tmp_path / "cache-two").glob("*/*/shard-*.npz"))
    assert len(shards) == 2, "each process wrote its own part of the cache"
