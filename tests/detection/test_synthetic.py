"""The semi-synthetic set: real cut-outs on real backgrounds, exact boxes, seeded."""

from __future__ import annotations

import numpy as np

from headstart.data.detection import read_detection
from headstart.data.synthetic_detect import CANVAS, make_synthetic, synthetic_splits, write_yolo


def test_seeded_boxes_inside_the_canvas():
    a, b = make_synthetic(6, seed=3), make_synthetic(6, seed=3)
    assert [t.boxes.tolist() for t in a.targets] == [t.boxes.tolist() for t in b.targets]
    assert np.array_equal(np.asarray(a.items[0]), np.asarray(b.items[0]))
    for image, target in zip(a.items, a.targets, strict=True):
        assert image.size == (CANVAS, CANVAS) and 1 <= len(target.labels) <= 3
        assert (target.boxes >= 0).all() and (target.boxes <= CANVAS).all()


def test_written_as_yolo_and_read_back(tmp_path):
    splits = synthetic_splits(4, 2, 0, seed=0)
    back = read_detection(write_yolo(splits, tmp_path))
    assert back.train.classes == splits.train.classes and len(back.val) == 2
    assert np.allclose(back.train.targets[0].boxes, splits.train.targets[0].boxes, atol=0.01)
