"""`headstart predict` streams: its output comes chunk by chunk and its peak memory does not grow with the inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart import api

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

# Runs the CLI in a child process and reports that process's own peak resident memory (KB) on the last line.
MEASURE = (
    "import resource, sys\n"
    "from headstart.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from tests.conftest import copy_sample

    root = tmp_path_factory.mktemp("stream")
    data = copy_sample(root / "data", ["bag", "sneaker", "trouser"], 12)
    return api.train(data, strategy="linear-probe", image_size=64, out=root / "run", check_leakage=False).run_dir


def noise_images(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def predict_peak_kb(run: Path, folder: Path) -> tuple[int, list[str]]:
    result = subprocess.run([sys.executable, "-c", MEASURE, "predict", str(run), str(folder), "-f", "csv"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return int(result.stderr.strip().splitlines()[-1]), result.stdout.strip().splitlines()


def test_peak_memory_does_not_grow_with_the_number_of_inputs(small_run, tmp_path):
    few_kb, few_rows = predict_peak_kb(small_run, noise_images(tmp_path / "few", 150))
    many_kb, many_rows = predict_peak_kb(small_run, noise_images(tmp_path / "many", 1500))
    assert (len(few_rows), len(many_rows)) == (151, 1501)  # a header, then one row per input
    print(f"peak {few_kb} KB for 150 inputs, {many_kb} KB for 1500")
    assert many_kb - few_kb < 40_000, f"peak grew from {few_kb} KB to {many_kb} KB"


def test_predictions_come_in_chunks_equal_to_one_call(small_run, sample_dir):
    from headstart import load

    files = sorted(str(p) for p in (sample_dir / "test").rglob("*.png"))[:50]
    chunks = list(api.predict(small_run, files, top_k=2, chunk=16))
    assert [len(c) for c in chunks] == [16, 16, 16, 2]
    labels = [row["label"] for chunk in chunks for row in chunk]
    assert labels == load(small_run).predict(files).tolist()
