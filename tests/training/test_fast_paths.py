"""Every speed fast path gives the plain path's outputs: channels-last exactly (fp32), bf16 within tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart import create_backbone, get_model_spec
from headstart.features import extract_features
from headstart.tasks import get_task
from headstart.training import device
from headstart.training.device import native_bf16, resolve_precision

PRE = {**get_model_spec("efficientnet_lite0").preprocessing, "input_size": (3, 96, 96)}


@pytest.fixture(scope="module")
def setup(sample_dir):
    split = get_task("image").read(sample_dir, per_class=2, test_per_class=2).train
    dataset = get_task("image").inputs_dataset(split.items, None, PRE, train=False)
    return create_backbone("efficientnet_lite0"), dataset


def test_auto_precision_is_bf16_only_for_forward_passes_on_bf16_hardware():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", device=cpu) == "fp32" and resolve_precision("bf16", training=True) == "bf16"
    assert resolve_precision("auto", training=True, device=cpu) == "fp32"
    assert resolve_precision("auto", device=cpu) == ("bf16" if native_bf16("cpu") else "fp32")


def test_channels_last_equals_the_plain_memory_order(setup, monkeypatch):
    backbone, dataset = setup
    fast = extract_features(backbone, dataset, precision="fp32")
    monkeypatch.setenv(device.CHANNELS_LAST_ENV, "0")
    plain = extract_features(backbone.to(memory_format=torch.contiguous_format), dataset, precision="fp32")
    assert np.abs(fast - plain).max() < 1e-4


def test_bf16_features_stay_close_to_fp32(setup):
    backbone, dataset = setup
    fp32 = extract_features(backbone, dataset, precision="fp32")
    bf16 = extract_features(backbone, dataset, precision="bf16")
    cosine = (fp32 * bf16).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1))
    relative = np.linalg.norm(fp32 - bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.99 and relative.max() < 0.15, (cosine.min(), relative.max())
