"""``export_run``: a run directory, of any task, to an ONNX or TorchScript file that runs without headstart.

The estimator writes the file and its description (``Estimator.export``: ``<stem>.json`` with the classes, the
inputs and outputs and what the graph does inside, plus what the task needs beside it, e.g. a tokenizer); this
adds the default place in the run directory and int8 quantisation with its measured accuracy change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from headstart.errors import HeadstartError
from headstart.estimators import load
from headstart.onnx import EXPORT_FORMATS, default_export_path, meta_path_for, require_onnx

FORMATS = EXPORT_FORMATS


@dataclass
class ExportResult:
    """The written model file, its description file, and what int8 quantisation did (when asked for)."""

    path: Path
    meta_path: Path
    meta: dict
    quantized: dict = field(default_factory=dict)

    def lines(self) -> tuple[list[str], list[str]]:
        """What ``headstart export`` prints, and its warnings (rich markup)."""
        lines = [f"{self.meta.get('format', 'model')}: {self.path} ({self.path.stat().st_size / 1e6:.1f} MB), "
                 f"description: {self.meta_path}"]
        warnings = []
        tokenizer = self.meta.get("preprocessing", {}).get("tokenizer")
        if tokenizer:
            lines.append(f"tokenizer: {self.path.parent / tokenizer}")
        q = self.quantized
        if q:
            lines.append(f"int8 ({q['method']}): {q['path']} ({q['bytes'] / 1e6:.1f} MB)")
            if "accuracy_change" in q:
                lines.append(f"int8 accuracy on the {q['split']} split (n={q['n']}): {q['int8_accuracy']:.1%} vs fp32 "
                             f"{q['fp32_accuracy']:.1%}, change {q['accuracy_change'] * 100:+.1f} points, "
                             f"same label for {q['agreement']:.1%}")
                if q["accuracy_change"] < -0.01:
                    warnings.append(f"int8 costs {-q['accuracy_change'] * 100:.1f} accuracy points on this model; "
                                    "ship the fp32 file")
            else:
                lines.append(q["note"])
        return lines, warnings


def export_run(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None,
               quantize: str | None = None, data: str | None = None) -> ExportResult:
    """Export a run to ``out`` (default ``RUN/export/model.onnx`` or ``.pt``); ``quantize="int8"`` (ONNX only) also
    writes ``<stem>.int8.onnx`` and measures its accuracy change on ``data`` (default: the run's own data)."""
    import json

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
    estimator = load(run)  # its export checks the file name against the format
    estimator.export(path, format, extra={"run": str(run)})
    meta_path = meta_path_for(path)
    result = ExportResult(path, meta_path, json.loads(meta_path.read_text(encoding="utf-8")))
    if quantize:
        from headstart.export.quantize import quantize_int8

        result.quantized = quantize_int8(path, estimator, data)
    return result
