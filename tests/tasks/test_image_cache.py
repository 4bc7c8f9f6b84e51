"""Decoded-image cache: later epochs read kept pixels, and give exactly the tensors decoding every time gives;
greyscale images resized on one channel give exactly the tensors of their RGB copies."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import create_transform

from headstart import get_model_spec
from headstart.data.images import load_image
from headstart.tasks import get_task
from headstart.tasks import image as image_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

PRE = {**get_model_spec("efficientnet_lite0").preprocessing, "input_size": (3, 64, 64)}


@pytest.fixture
def items(sample_dir, tmp_path):
    """Sample images (28 px) and one large photo-sized image, which the cache keeps shrunk."""
    big = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)).save(big)
    return [*sorted(str(p) for p in (sample_dir / "test").glob("*/*.png"))[:6], str(big)]


def tensors(dataset, seed=0):
    random.seed(seed)  # timm's random crops draw from Python's generator
    torch.manual_seed(seed)
    return [dataset[i][0] for i in range(len(dataset))]


def test_each_file_is_decoded_once(items, monkeypatch):
    calls = []
    real = image_task.load_image
    monkeypatch.setattr(image_task, "load_image", lambda item, **kw: calls.append(item) or real(item, **kw))
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


@pytest.mark.parametrize("train", [False, True])
def test_greyscale_images_resized_on_one_channel_equal_their_rgb_copies(items, monkeypatch, train):
    monkeypatch.setenv(image_task.IMAGE_CACHE_ENV, "0")
    assert load_image(items[0], keep_grey=True).mode == "L" and load_image(items[-1], keep_grey=True).mode == "RGB"
    dataset = get_task("image").inputs_dataset(items, None, PRE, train=train)
    assert "ToRGB" in repr(dataset.transform)
    options = {"input_size": PRE["input_size"], "interpolation": PRE["interpolation"], "mean": PRE["mean"],
               "std": PRE["std"]}
    timm_only = create_transform(is_training=True, scale=(0.5, 1.0), color_jitter=None, **options) if train else \
        create_transform(is_training=False, crop_pct=PRE["crop_pct"], **options)
    random.seed(5)
    torch.manual_seed(5)
    reference = [timm_only(load_image(item)) for item in items]  # decoded to RGB first, as before
    for fast, plain in zip(tensors(dataset, seed=5), reference, strict=True):
        assert fast.shape == plain.shape and torch.equal(fast, plain)
