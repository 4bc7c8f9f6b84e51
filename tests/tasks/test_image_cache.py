"""Decoded-image cache: later epochs read kept pixels, and give exactly the tensors decoding every time gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from headstart import get_model_spec
from headstart.tasks import get_task
from headstart.tasks import image as image_task

PRE = {**get_model_spec("efficientnet_lite0").preprocessing, "input_size": (3, 64, 64)}


@pytest.fixture
def items(sample_dir, tmp_path):
    """Sample images (28 px) and one large photo-sized image, which the cache keeps shrunk."""
    big = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)).save(big)
    return sorted(str(p) for p in (sample_dir / "test").glob("*/*.png"))[:6] + [str(big)]


def tensors(dataset, seed=0):
    random.seed(seed)  # timm's random crops draw from Python's generator
    torch.manual_seed(seed)
    return [dataset[i][0] for i in range(len(dataset))]


def test_each_file_is_decoded_once(items, monkeypatch):
    calls = []
    real = image_task.load_image
    monkeypatch.setattr(image_task, "load_image", lambda item: calls.append(item) or real(item))
    dataset = get_task("image").inputs_dataset(items, None, PRE, train=True)
    tensors(dataset)
    tensors(dataset)
    assert len(calls) == len(items)


def test_cached_evaluation_inputs_equal_decoding_every_time(items, monkeypatch):
    cached = get_task("image").inputs_dataset(items, None, PRE, train=False)
    first, again = tensors(cached), tensors(cached)
    monkeypatch.setenv(image_task.IMAGE_CACHE_ENV, "0")
    plain = get_task("image").inputs_dataset(items, None, PRE, train=False)
    assert plain.decoded is None
    for a, b, c in zip(first, again, tensors(plain), strict=True):
        assert torch.equal(a, c) and torch.equal(b, c)


def test_cached_training_views_equal_decoding_every_time_for_small_images(items, monkeypatch):
    small = items[:-1]  # larger images are kept shrunk to the evaluation scale, so their random crops differ
    cached = get_task("image").inputs_dataset(small, None, PRE, train=True)
    tensors(cached)
    monkeypatch.setenv(image_task.IMAGE_CACHE_ENV, "0")
    plain = get_task("image").inputs_dataset(small, None, PRE, train=True)
    for a, b in zip(tensors(cached, seed=3), tensors(plain, seed=3), strict=True):
        assert torch.equal(a, b)


def test_the_cache_stays_within_its_budget(items, monkeypatch):
    monkeypatch.setenv(image_task.IMAGE_CACHE_ENV, "0.01")  # 10 kB: a few 28 px images, not the large one
    dataset = get_task("image").inputs_dataset(items, None, PRE, train=False)
    tensors(dataset)
    assert 0 < dataset.decoded.used <= 10_000 and len(dataset.decoded.places) < len(items)
