"""Exported files give PyTorch's outputs (1e-4, fp32), run without headstart, and int8 reports its accuracy change."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from headstart import HeadstartError, load
from headstart.export import export_run
from headstart.serving.runtime import OnnxModel
from headstart.tasks import get_task
from tests.conftest import run_cli

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def reference(run, inputs):
    """The same graph run in PyTorch, as probabilities."""
    estimator = load(run)
    graph = get_task(estimator.task).export_graph(estimator.model_.eval(), estimator.preprocessing_)
    with torch.inference_mode():
        return graph.module(*inputs).numpy()


def image_inputs(data):
    items = get_task("image").read(data).test.items[:5]
    from headstart.data.images import load_image
    from headstart.serving.runtime import chw_uint8

    return items, (torch.from_numpy(np.stack([chw_uint8(load_image(i)) for i in items])),)


LONG_REVIEW = "A moving, beautifully acted film. " * 12 + "But the ending is a dull, lifeless mess that goes on."


def text_inputs(run):
    """Texts as the run reads them (the run reads long ones in windows: a third input says whose each row is)."""
    estimator = load(run)
    texts = ["A moving, beautifully acted film.", LONG_REVIEW, "A dull, lifeless mess that goes on and on.", "Fine."]
    dataset = get_task(estimator.task).inputs_dataset(texts, None, estimator.preprocessing_, train=False)
    encoded, _ = dataset.collate_fn([(t, -1) for t in texts])
    assert len(encoded["input_ids"]) > len(texts)  # the long review is read in several windows
    return texts, (encoded["input_ids"], encoded["attention_mask"], encoded["window_document"])


def onnx_outputs(path, inputs, names):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})[0]


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_image_export_equals_pytorch(image_run, format):
    data, run = image_run
    result = export_run(run, format)
    items, inputs = image_inputs(data)
    expected = reference(run, inputs)
    other = (torch.randint(0, 256, (3, 3, 200, 300), dtype=torch.uint8),)  # another size and shape, shrunk
    for batch, reference_output in ((inputs, expected), (other, reference(run, other))):
        if format == "onnx":
            got = onnx_outputs(result.path, batch, ["images"])
        else:
            got = torch.jit.load(str(result.path))(*batch).numpy()
        assert np.abs(got - reference_output).max() < 1e-4
    assert result.meta["classes"] == ["bag", "sneaker", "trouser"]
    assert result.meta["preprocessing"]["centre_crop"] == [64, 64]


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_text_export_equals_pytorch(text_run, format):
    _, run = text_run
    result = export_run(run, format)
    assert (result.path.parent / "tokenizer" / "tokenizer.json").is_file()
    _, inputs = text_inputs(run)
    expected = reference(run, inputs)
    if format == "onnx":
        got = onnx_outputs(result.path, inputs, ["input_ids", "attention_mask", "window_document"])
    else:
        got = torch.jit.load(str(result.path))(*inputs).numpy()
    assert got.shape == (4, 2) and np.abs(got - expected).max() < 1e-4
    assert result.meta["preprocessing"]["long_text"] == "windows" and result.meta["preprocessing"]["window_overlap"] == 8


def test_onnx_runtime_agrees_with_the_classifier(image_run, text_run):
    """The graph resizes and crops as PIL does (one grey level off on a few pixels: PIL's fixed-point weights);
    text runs the same tokenizer and model, so within 1e-4."""
    for data, run in (image_run, text_run):
        export_run(run, "onnx")
        clf = load(run)
        split = get_task(clf.task).read(data, test_per_class=10).test
        items = split.items + ([LONG_REVIEW, "Fine."] if clf.task == "text" else [])
        ours = clf.predict_proba(items)
        exported = OnnxModel(run / "export" / "model.onnx").predict_proba(items)
        assert (ours.argmax(1) == exported.argmax(1)).mean() == 1
        assert np.abs(ours - exported).max() < (1e-4 if clf.task == "text" else 5e-3)
        print(clf.task, "largest probability difference with predict:", np.abs(ours - exported).max())


STANDALONE = """
import json, sys, numpy as np, onnxruntime as ort
from PIL import Image
folder = sys.argv[1]
meta = json.load(open(folder + "/model.json"))
session = ort.InferenceSession(folder + "/model.onnx")
image = np.asarray(Image.open(sys.argv[2]).convert("RGB")).transpose(2, 0, 1)[None]
probabilities = session.run(None, {"images": image})[0]
assert "headstart" not in sys.modules
print(json.dumps({"label": meta["classes"][int(probabilities.argmax())], "sum": float(probabilities.sum())}))
"""


def test_exported_file_runs_without_headstart(image_run, tmp_path):
    data, run = image_run
    export_run(run, "onnx")
    image = sorted((data / "test" / "sneaker").glob("*.png"))[0]
    script = tmp_path / "standalone.py"
    script.write_text(STANDALONE)
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    result = subprocess.run([sys.executable, "-I", str(script), str(run / "export"), str(image)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["label"] == "sneaker" and abs(answer["sum"] - 1) < 1e-4


def test_int8_quantisation_reports_its_accuracy_change(image_run, text_run):
    """Static int8 (calibrated) for the CNN, dynamic for the transformer: both keep their accuracy."""
    for (_, run), n, method in ((image_run, 24, "static"), (text_run, 40, "dynamic")):
        result = export_run(run, "onnx", quantize="int8")
        q = result.quantized
        assert q["bytes"] < q["fp32_bytes"] / 2 and q["method"].startswith(method)
        assert q["split"] == "test" and q["n"] == n
        assert abs(q["accuracy_change"] - (q["int8_accuracy"] - q["fp32_accuracy"])) < 1e-9
        print(result.meta["task"], "int8:", q)
        assert q["accuracy_change"] >= -0.1 and q["agreement"] >= 0.85


def test_bad_requests_say_how_to_fix_them(image_run, tmp_path):
    _, run = image_run
    with pytest.raises(HeadstartError, match="onnx or torchscript"):
        export_run(run, "tflite")
    with pytest.raises(HeadstartError, match="needs --format onnx"):
        export_run(run, "torchscript", quantize="int8")
    with pytest.raises(HeadstartError, match="must end in .onnx"):
        export_run(run, "onnx", out=tmp_path / "model.bin")


def headstart(*args):
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result


def test_cli_export_and_predict_with_onnx_runtime(image_run, tmp_path):
    data, run = image_run
    target = tmp_path / "lite0.onnx"
    result = headstart("export", run, "--format", "onnx", "--quantize", "int8", "-o", target)
    assert target.is_file() and (tmp_path / "lite0.int8.onnx").is_file() and (tmp_path / "lite0.json").is_file()
    assert "int8 accuracy on the test split (n=24)" in result.stdout and "points" in result.stdout
    images = data / "test"
    torch_rows = json.loads(headstart("predict", run, images, "-f", "json").stdout)
    onnx_rows = json.loads(headstart("predict", run, images, "-f", "json", "--runtime", "onnx").stdout)
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows]
    assert [r["input"] for r in onnx_rows] == [r["input"] for r in torch_rows]


TEXT_STANDALONE = """
import json, sys, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
folder = sys.argv[1]
meta = json.load(open(folder + "/model.json"))["preprocessing"]
tokenizer = Tokenizer.from_file(folder + "/tokenizer/tokenizer.json")
tokenizer.enable_truncation(max_length=meta["max_length"], stride=meta["window_overlap"])
batch = tokenizer.encode_batch(sys.argv[2:])
windows = [(text, w) for text, e in enumerate(batch) for w in [e, *e.overflowing]]  # long texts: several rows
width = max(len(w.ids) for _, w in windows)
feeds = {"input_ids": np.array([w.ids + [0] * (width - len(w.ids)) for _, w in windows], np.int64),
         "attention_mask": np.array([w.attention_mask + [0] * (width - len(w.ids)) for _, w in windows], np.int64),
         "window_document": np.array([text for text, _ in windows], np.int64)}
probabilities = ort.InferenceSession(folder + "/model.onnx").run(None, feeds)[0]
assert "headstart" not in sys.modules and "transformers" not in sys.modules
print(json.dumps(probabilities.tolist()))
"""


def test_text_export_runs_with_the_tokenizers_package_alone(text_run, tmp_path):
    _, run = text_run
    export_run(run, "onnx")
    texts = ["A moving, beautifully acted film.", "A dull, lifeless mess that goes on and on.", LONG_REVIEW]
    script = tmp_path / "standalone_text.py"
    script.write_text(TEXT_STANDALONE)
    result = subprocess.run([sys.executable, "-I", str(script), str(run / "export"), *texts], capture_output=True,
                            text=True, timeout=300, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = load(run).predict_proba(texts)
    assert np.abs(np.array(json.loads(result.stdout)) - expected).max() < 1e-4


def test_the_exported_tokenizer_encodes_as_transformers_does(text_run):
    """Serving reads the exported tokenizer with the tokenizers library alone; it must give transformers' ids and
    masks: texts longer than max_length cut the same way, a batch padded to its longest text."""
    from transformers import AutoTokenizer

    from headstart.serving.runtime import exported_tokenizer

    _, run = text_run
    export_run(run, "onnx")
    folder = run / "export" / "tokenizer"
    texts = ["Short.", "A moving, beautifully acted film " * 40, "Ünïcödé reviews, too — and emoji 🎬 of course."]
    ours = exported_tokenizer(folder, 64).encode_batch(texts)
    theirs = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, truncation=True, max_length=64)
    assert [e.ids for e in ours] == theirs["input_ids"]
    assert [e.attention_mask for e in ours] == theirs["attention_mask"]
    assert len(ours[1].ids) == 64 and ours[0].attention_mask.count(1) < 64
    # in windows sharing 8 tokens, as the run reads long texts
    ours = exported_tokenizer(folder, 64, 8).encode_batch(texts)
    theirs = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, truncation=True, max_length=64, stride=8,
                                                        return_overflowing_tokens=True)
    assert [w.ids for e in ours for w in (e, *e.overflowing)] == theirs["input_ids"]
    assert [w.attention_mask for e in ours for w in (e, *e.overflowing)] == theirs["attention_mask"]
    assert len(theirs["input_ids"]) > len(texts)


def test_serving_sends_long_texts_in_bounded_calls(text_run, monkeypatch):
    """A batch of long texts is sent to the graph a few windows at a time (a text of more windows alone), with the
    same probabilities as in one call."""
    from headstart.serving import runtime

    _, run = text_run
    path = export_run(run, "onnx").path
    texts = [LONG_REVIEW, "Fine.", LONG_REVIEW + " Again.", "A dull, lifeless mess that goes on and on."]
    whole = runtime.OnnxModel(path).predict_proba(texts)
    monkeypatch.setattr(runtime, "WINDOW_BUDGET", 2)
    model = runtime.OnnxModel(path)
    calls = [indices for indices, _ in model.feeds(texts)]
    assert calls == [[0], [1], [2], [3]]  # a long review fills the budget of 2 windows: each text goes alone
    np.testing.assert_allclose(model.predict_proba(texts), whole, atol=1e-6)
    monkeypatch.setattr(runtime, "WINDOW_BUDGET", 64)
    assert [indices for indices, _ in model.feeds(texts)] == [[0, 1, 2, 3]]
