"""Preprocessing chosen for the inputs as well as the model: small scans are resized whole, not centre-cropped."""

from __future__ import annotations

import numpy as np
from PIL import Image

from headstart.models import get_model_spec
from headstart.tasks import get_task
from headstart.tasks.image import SAMPLE_DIR

SPEC = get_model_spec("efficientnet_lite0")


def test_inputs_far_smaller_than_the_model_are_not_centre_cropped():
    scans = sorted((SAMPLE_DIR / "train").rglob("*.png"))[:20]  # Fashion-MNIST: 28 x 28
    chosen = get_task("image").preprocessing(SPEC, {}, scans)
    assert SPEC.preprocessing["crop_pct"] == 0.875 and chosen["crop_pct"] == 1.0
    assert "about 28 px" in chosen["note"] and "224 px" in chosen["note"]
    # Photos as large as the model's input keep its own crop, and a crop given by the user wins.
    photos = [Image.fromarray(np.full((240, 320, 3), 128, np.uint8))] * 3
    assert get_task("image").preprocessing(SPEC, {}, photos)["crop_pct"] == 0.875
    assert "note" not in get_task("image").preprocessing(SPEC, {}, photos)
    assert get_task("image").preprocessing(SPEC, {"crop_pct": 0.9}, scans)["crop_pct"] == 0.9
    # Half the model's size is the line: 112-pixel inputs are small for 224, not for --image-size 160 (80 px is).
    tiles = [Image.fromarray(np.zeros((112, 112, 3), np.uint8))]
    assert get_task("image").preprocessing(SPEC, {}, tiles)["crop_pct"] == 1.0
    assert get_task("image").preprocessing(SPEC, {"image_size": 160}, tiles)["crop_pct"] == 0.875
