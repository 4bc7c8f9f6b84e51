"""Every speed fast path gives the plain path's outputs: channels-last and the exported graph (OpenVINO, ONNX
Runtime) within 1e-4 in fp32, bf16 (PyTorch's autocast, OpenVINO's kernels) within tolerance."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from headstart import create_backbone, get_model_spec
from headstart.compute import device
from headstart.compute.device import native_bf16, resolve_precision
from headstart.features import extract_features, onnx_engine
from headstart.features.extract import extraction_precision
from headstart.tasks import get_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

PRE = {**get_model_spec("efficientnet_lite0").preprocessing, "input_size": (3, 96, 96)}


@pytest.fixture(scope="module")
def setup(sample_dir):
    split = get_task("image").read(sample_dir, per_class=2, test_per_class=2).train
    dataset = get_task("image").inputs_dataset(split.items, None, PRE, train=False)
    return create_backbone("efficientnet_lite0"), dataset


def test_auto_precision_is_bf16_only_for_forward_passes_on_bf16_hardware():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", device=cpu) == "fp32" and resolve_precision("bf16", training=True) == "bf16"
    assert resolve_precision("auto", training=True, device=cpu) == "fp32"
    assert resolve_precision("auto", device=cpu) == ("bf16" if native_bf16("cpu") else "fp32")


def test_channels_last_equals_the_plain_memory_order(setup, monkeypatch):
    backbone, dataset = setup
    fast = extract_features(backbone, dataset, precision="fp32")
    monkeypatch.setenv(device.CHANNELS_LAST_ENV, "0")
    plain = extract_features(backbone.to(memory_format=torch.contiguous_format), dataset, precision="fp32")
    assert np.abs(fast - plain).max() < 1e-4


def test_bf16_features_stay_close_to_fp32(setup):
    backbone, dataset = setup
    fp32 = extract_features(backbone, dataset, precision="fp32")
    bf16 = extract_features(backbone, dataset, precision="bf16")
    cosine = (fp32 * bf16).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1))
    relative = np.linalg.norm(fp32 - bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.99 and relative.max() < 0.15, (cosine.min(), relative.max())


INSTALLED = [name for name in onnx_engine.BACKENDS if importlib.util.find_spec(name)]


@pytest.fixture(params=INSTALLED)
def onnx_for_any_size(request, monkeypatch):
    """An exported-graph runtime (each installed one in turn), for datasets of any size (the small real ones
    here), with no compiled graph left over."""
    monkeypatch.setenv(onnx_engine.ENV, request.param)
    monkeypatch.setattr(onnx_engine, "MIN_ITEMS", 0)
    onnx_engine._RUNNERS.clear()
    yield request.param
    onnx_engine._RUNNERS.clear()


def test_exported_graph_features_equal_pytorch_fp32(setup, onnx_for_any_size, monkeypatch):
    backbone, dataset = setup
    fast = extract_features(backbone, dataset, precision="fp32")
    (runner,) = onnx_engine._RUNNERS.values()
    assert runner is not None and runner.engine == onnx_for_any_size
    monkeypatch.setenv(onnx_engine.ENV, "0")
    plain = extract_features(backbone, dataset, precision="fp32")
    assert np.abs(fast - plain).max() < 1e-4


def test_openvino_bf16_features_stay_close_to_fp32(setup, onnx_for_any_size):
    if not onnx_engine.bf16_capable():
        pytest.skip(f"{onnx_for_any_size} has no bf16 kernels for this CPU")
    backbone, dataset = setup
    fp32 = extract_features(backbone, dataset, precision="fp32")
    bf16 = extract_features(backbone, dataset, precision="bf16")
    assert next(iter(onnx_engine._RUNNERS.values())).precision == "bf16"
    cosine = (fp32 * bf16).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1))
    relative = np.linalg.norm(fp32 - bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.99 and 0 < relative.max() < 0.15, (cosine.min(), relative.max())


def test_auto_precision_follows_the_runtime_and_the_hardware(setup, onnx_for_any_size, monkeypatch):
    _, dataset = setup
    cpu = torch.device("cpu")
    expected = "bf16" if onnx_for_any_size == "openvino" and onnx_engine._openvino_cpu_has_bf16() else "fp32"
    assert extraction_precision("auto", dataset, cpu) == expected
    assert extraction_precision("bf16", dataset, cpu) == "bf16"  # asked for: the runtime's or PyTorch's autocast
    assert extraction_precision("auto", ["a text", "another"], cpu) == resolve_precision("auto", device=cpu)
    monkeypatch.setenv(onnx_engine.ENV, "0")
    assert extraction_precision("auto", dataset, cpu) == resolve_precision("auto", device=cpu)


def test_onnx_runtime_leaves_bf16_to_pytorch(setup, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv(onnx_engine.ENV, "onnxruntime")
    monkeypatch.setattr(onnx_engine, "MIN_ITEMS", 0)
    assert onnx_engine.runner_for(setup[0], setup[1][0][0][None], 10, "bf16") is None
    assert onnx_engine.backend() == "onnxruntime" and not onnx_engine.bf16_capable()


def test_onnx_session_follows_the_weights(setup, onnx_for_any_size, monkeypatch):
    """A session is reused while the weights stay the same and traced again once they change (a training step)."""
    backbone, dataset = setup
    model = torch.nn.Sequential(backbone, torch.nn.Linear(backbone.num_features, 3))
    before = extract_features(model, dataset, precision="fp32")
    runner = next(iter(onnx_engine._RUNNERS.values()))
    assert np.array_equal(extract_features(model, dataset, precision="fp32"), before)
    assert next(iter(onnx_engine._RUNNERS.values())) is runner
    with torch.no_grad():
        model[1].bias.add_(1.0)  # in place, as an optimiser step is
    after = extract_features(model, dataset, precision="fp32")
    assert next(iter(onnx_engine._RUNNERS.values())) is not runner
    assert np.abs(after - before - 1.0).max() < 1e-4


class Spectrum(torch.nn.Module):
    """A model the ONNX exporter cannot trace (no FFT in its opset)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(x).abs().mean((2, 3))


def test_a_model_onnx_cannot_trace_falls_back_to_pytorch(setup, onnx_for_any_size):
    _, dataset = setup
    with pytest.warns(UserWarning, match="using PyTorch"):
        fast = extract_features(Spectrum(), dataset, precision="fp32")
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    assert np.abs(fast - Spectrum()(images).numpy()).max() < 1e-4
