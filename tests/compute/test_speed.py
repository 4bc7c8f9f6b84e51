"""Throughput, FLOPs per input and the measured matmul peak, as a run records them."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from headstart import api
from headstart.compute import speed

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_flops_of_a_linear_layer_are_counted_per_input():
    assert speed.flops_per_input(nn.Linear(10, 4), torch.zeros(3, 10), 3) == 2 * 10 * 4


def test_peaks_are_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    peaks = speed.machine_peaks()
    assert peaks["fp32"] > 1e8 and peaks["bf16"] > 1e8
    assert speed.machine_peaks() == peaks
    stored = tmp_path / "headstart" / "machine-peak.json"
    assert list(json.loads(stored.read_text())["peaks_by_key"].values()) == [peaks]
    threads = torch.get_num_threads()
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads + 1)  # another thread count: its own entry
    other = speed.machine_peaks()
    assert list(json.loads(stored.read_text())["peaks_by_key"].values()) == [peaks, other]


def test_a_dtype_too_slow_for_the_full_probe_is_probed_on_smaller_products():
    assert speed.probe_side(torch.float32, size=1024, budget=1e-9) == 256
    assert speed.probe_side(torch.float32, size=512, budget=1e9) == 512


def test_a_run_records_its_speed_and_fraction_of_peak(small_folder, tmp_path):
    result = api.train(small_folder, strategy="linear-probe", out=tmp_path / "run", image_size=64, cache=False,
                       baseline=False, check_leakage=False)
    record = json.loads((tmp_path / "run" / "summary.json").read_text())["speed"]
    # 36 training images for the probe, 36 again for the unknown-input detector (no cache), 36 test images.
    assert record["items"] == 108 and record["items_per_second"] > 0
    assert 0.01 < record["gflops_per_item"] < 0.2  # Lite0 is 0.77 GFLOPs at 224 px, about 1/12 of it at 64 px
    assert 0 < record["fraction_of_peak"] <= 1.5
    print(result.summary["speed"])
