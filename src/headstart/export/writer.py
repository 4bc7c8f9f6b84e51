"""``export_run``: a run directory to an ONNX or TorchScript file that runs without headstart.

Beside the model file go ``<stem>.json`` (classes, inputs, the preprocessing done inside the graph) and, for
text, the tokenizer folder ``tokenizer/`` (Hugging Face format, ``tokenizer.json`` included).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from headstart import __version__
from headstart.detection.boxes import PAD_VALUE
from headstart.errors import HeadstartError
from headstart.export.graph import FILTERS, ImagePipeline, TextPipeline, crop_geometry
from headstart.files import write_json
from headstart.rundir import read_config

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 17
TOKENIZER_DIR = "tokenizer"
EXPORT_DIR = "export"


@dataclass
class ExportResult:
    """The written model file, its description file, and what int8 quantisation did (when asked for)."""

    path: Path
    meta_path: Path
    meta: dict
    quantized: dict = field(default_factory=dict)


def require_onnx() -> None:
    """ONNX export and ONNX Runtime are an optional extra: say how to install them."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise HeadstartError("ONNX needs the export extra: run `pip install 'headstart[export]'`") from exc


def default_export_path(run_dir: Path, format: str) -> Path:
    return run_dir / EXPORT_DIR / f"model{FORMATS[format]}"


def meta_path_for(model_path: Path) -> Path:
    """``model.json`` for ``model.onnx``, ``model.pt`` and the quantised ``model.int8.onnx`` alike."""
    name = model_path.name
    for suffix in (".int8.onnx", *FORMATS.values()):
        name = name.removesuffix(suffix) if name.endswith(suffix) else name
    return model_path.with_name(name + ".json")


def build_pipeline(clf) -> tuple[nn.Module, tuple[torch.Tensor, ...], dict]:
    """The module to export for a loaded classifier, example inputs, and the description of its inputs."""
    model = clf.model_.eval().requires_grad_(False)  # a deployed model is never trained
    if clf.task == "image":
        scale, crop = crop_geometry(clf.preprocessing_)
        interpolation = clf.preprocessing_.get("interpolation", "bilinear")
        interpolation = interpolation if interpolation in FILTERS else "bilinear"
        pipeline = ImagePipeline(model, clf.preprocessing_).eval()
        example = (torch.randint(0, 256, (2, 3, crop, crop), dtype=torch.uint8),)
        inputs = {"images": "uint8 or float32 0-255, N x 3 x H x W, RGB, any size (one size per batch)"}
        preprocessing = {"resize_shorter_side": scale, "centre_crop": [crop, crop], "mean": list(clf.preprocessing_["mean"]),
                         "std": list(clf.preprocessing_["std"]),
                         "interpolation": f"PIL {interpolation} (8-bit, antialiased)"}
        return pipeline, example, {"inputs": inputs, "preprocessing": preprocessing}
    from headstart.tasks.text import tokenizer_for

    tokenizer = tokenizer_for(str(clf.preprocessing_["tokenizer"]))
    encoded = tokenizer(["an example text", "a second, longer example text"], padding=True, return_tensors="pt")
    example = (encoded["input_ids"], encoded["attention_mask"])
    inputs = {"input_ids": "int64, N x T", "attention_mask": "int64, N x T (1 for tokens, 0 for padding)"}
    return TextPipeline(model).eval(), example, {
        "inputs": inputs, "preprocessing": {"tokenizer": TOKENIZER_DIR, "max_length": int(clf.preprocessing_.get("max_length", 256))}}


def _dynamic_axes(names: list[str], task: str) -> dict[str, dict[int, str]]:
    axes = {name: {0: "batch", 1: "tokens"} if task == "text" else {0: "batch", 2: "height", 3: "width"} for name in names}
    return {**axes, "probabilities": {0: "batch"}}


def write_model(pipeline: nn.Module, example: tuple[torch.Tensor, ...], names: list[str], task: str, format: str,
                path: Path) -> None:
    """Trace ``pipeline`` to ``path`` as ONNX (dynamic batch, image size or text length) or TorchScript."""
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter chatter, not the user's concern
        if format == "onnx":
            torch.onnx.export(pipeline, example, str(path), dynamo=False, input_names=names,
                              output_names=["probabilities"], dynamic_axes=_dynamic_axes(names, task),
                              opset_version=OPSET)
        else:
            torch.jit.trace(pipeline, example, check_trace=False).save(str(path))


def export_run(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None,
               quantize: str | None = None, data: str | None = None) -> ExportResult:
    """Export a run to ``out`` (default ``RUN/export/model.onnx`` or ``.pt``); ``quantize="int8"`` (ONNX only) also
    writes ``<stem>.int8.onnx`` and measures its accuracy change on ``data`` (default: the run's own data)."""
    from headstart.classifier import load

    if format not in FORMATS:
        raise HeadstartError(f"unknown export format '{format}'; use onnx or torchscript")
    if quantize not in (None, "int8"):
        raise HeadstartError(f"unknown quantisation '{quantize}'; use int8")
    if quantize and format != "onnx":
        raise HeadstartError("--quantize int8 needs --format onnx (it uses ONNX Runtime's quantisation)")
    if format == "onnx":
        require_onnx()
    run = Path(run_dir).expanduser()
    path = Path(out).expanduser() if out else default_export_path(run, format)
    if path.suffix != FORMATS[format]:
        raise HeadstartError(f"the {format} file must end in {FORMATS[format]}: rename {path}")
    if read_config(run).get("task") == "detect":
        return export_detection_run(run, format, path, quantize)
    clf = load(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    pipeline, example, description = build_pipeline(clf)
    names = list(description["inputs"])
    write_model(pipeline, example, names, clf.task, format, path)
    if clf.task == "text":
        from headstart.tasks.text import tokenizer_for

        tokenizer_for(str(clf.preprocessing_["tokenizer"])).save_pretrained(path.parent / TOKENIZER_DIR)
    meta = {"format": format, "task": clf.task, "classes": clf.classes_.tolist(), "outputs": {"probabilities": "N x classes"},
            **description, "run": str(run), "headstart_version": __version__}
    write_json(meta_path_for(path), meta)
    result = ExportResult(path, meta_path_for(path), meta)
    if quantize:
        from headstart.export.quantize import quantize_int8

        result.quantized = quantize_int8(path, clf, data)
    return result


def export_detection_run(run: Path, format: str, path: Path, quantize: str | None) -> ExportResult:
    """A detection run as one file: letterboxed images in, decoded rows out (NMS is left to the caller; the
    description file gives the input size, thresholds and how to read the rows)."""
    from headstart.detector import ObjectDetector
    from headstart.tasks.detect import input_side

    if quantize:
        raise HeadstartError("--quantize int8 is for classifiers; export the detector without it (fp32)")
    detector = ObjectDetector.load(run)
    detector.export(path, format)
    side = input_side(detector.preprocessing_)
    meta = {"format": format, "task": "detect", "classes": detector.classes_.tolist(),
            "inputs": {"images": f"N x 3 x {side} x {side} float32 RGB in [0, 1], each image scaled to fit "
                                 f"{side} x {side} with its aspect ratio kept and centred on grey ({PAD_VALUE}/255)"},
            "input_side": side, "pad_value": PAD_VALUE,
            "outputs": {"rows": "N x boxes x (5 + classes): cx, cy, w, h in input pixels, objectness, class "
                                "probabilities; score = objectness x class probability, then per-class NMS"},
            "conf": detector.conf, "iou": detector.iou, "run": str(run), "headstart_version": __version__}
    write_json(meta_path_for(path), meta)
    return ExportResult(path, meta_path_for(path), meta)
