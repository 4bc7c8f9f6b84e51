"""Detection data: the YOLO txt layout, COCO JSON, and the errors a user sees for bad labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from headstart.data.detection import read_detection
from headstart.errors import HeadstartError
from headstart.tasks import get_task
from headstart.tasks.detect import SAMPLE_DETECT_DIR


def yolo_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_DETECT_DIR, tmp_path / "data"))


def test_shipped_sample_reads_with_pixel_boxes():
    splits = get_task("detect").read("detect-sample")
    assert (len(splits.train), len(splits.val)) == (7, 2)
    assert splits.train.classes == ["person", "cat", "cup", "motorcycle", "rocket", "flower"]
    coffee = splits.train.ids.index("coffee.jpg")
    box = splits.train.targets[coffee].boxes[0] * 600 / 480  # stored at 480 px, labelled on the 600 px original
    assert np.allclose(box, [172, 18, 412, 305], atol=2)
    assert len(splits.train.targets[splits.train.ids.index("china.jpg")].labels) == 0


def test_folder_or_yaml(tmp_path):
    root = yolo_copy(tmp_path)
    assert len(read_detection(root).train) == len(read_detection(root / "data.yaml").train)


@pytest.mark.parametrize(
    ("row", "message"),
    [("0 0.5 0.5 0.2", "line 2: '0 0.5 0.5 0.2' is not `class cx cy w h`"),
     ("9 0.5 0.5 0.2 0.2", "line 2: class 9 is not in data.yaml's names"),
     ("1 50 60 20 20", "line 2: box values must be normalised")],
)
def test_bad_rows_name_file_and_line(tmp_path, row, message):
    root = yolo_copy(tmp_path)
    label = root / "labels" / "train" / "coffee.txt"
    label.write_text(label.read_text() + row + "\n")
    with pytest.raises(HeadstartError, match="coffee.txt, " + message.replace("(", r"\(").replace("`", ".")):
        read_detection(root)


def test_missing_label_files(tmp_path):
    root = yolo_copy(tmp_path)
    (root / "labels" / "train" / "coffee.txt").unlink()
    splits = read_detection(root)
    assert any("coffee.txt" in w for w in splits.warnings)
    shutil.rmtree(root / "labels" / "val")
    with pytest.raises(HeadstartError, match="no label files for the images in .*val"):
        read_detection(root)


def test_coco_json(tmp_path):
    root = yolo_copy(tmp_path)
    images = [{"id": 1, "file_name": "images/train/coffee.jpg"}, {"id": 2, "file_name": "images/train/china.jpg"}]
    annotations = [{"id": 5, "image_id": 1, "category_id": 7, "bbox": [10, 20, 100, 50]}]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 7, "name": "cup"}, {"id": 3, "name": "cat"}]}))
    data = read_detection(path).train
    assert data.classes == ["cat", "cup"]
    assert data.targets[0].boxes.tolist() == [[10, 20, 110, 70]] and data.targets[0].labels.tolist() == [1]
    annotations[0]["category_id"] = 99
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 7, "name": "cup"}]}))
    with pytest.raises(HeadstartError, match="annotation 0 has category_id 99"):
        read_detection(path)
