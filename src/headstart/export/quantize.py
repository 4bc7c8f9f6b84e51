"""int8 dynamic quantisation of an exported ONNX file, with its accuracy change measured.

Dynamic quantisation suits transformers (int8 matrix multiplies); on small convolutional networks such as
EfficientNet-Lite (depthwise convolutions, activations quantised per tensor on the fly) it can cost a lot of
accuracy, which is why the change is always measured and reported.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from headstart.errors import HeadstartError


def int8_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.int8.onnx")


def quantize_int8(path: Path, clf, data: str | None = None) -> dict:
    """Write ``<stem>.int8.onnx`` (int8 weights, activations quantised on the fly) and compare it with the fp32
    file on ``data``'s evaluation split (default: the data the run was trained on, when it is still there)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from headstart.export.runtime import OnnxModel

    target = int8_path(path)
    # ONNX Runtime's CPU kernels for dynamically quantised convolutions need unsigned weights.
    weight_type = QuantType.QUInt8 if clf.task == "image" else QuantType.QInt8
    logging.disable(logging.WARNING)  # ONNX Runtime logs shape-inference chatter for every convolution
    try:
        quantize_dynamic(str(path), str(target), weight_type=weight_type)
    finally:
        logging.disable(logging.NOTSET)
    result = {"path": str(target), "bytes": target.stat().st_size, "fp32_bytes": path.stat().st_size}
    split_name, split = _evaluation_split(clf, data)
    if split is None:
        return {**result, "note": "accuracy not measured: the run's data is not available (pass --data)"}
    labels = np.asarray(split.labels)
    fp32 = OnnxModel(path).predict_proba(split.items)
    int8 = OnnxModel(target).predict_proba(split.items)
    acc32 = float((clf.classes_[fp32.argmax(1)] == labels).mean())
    acc8 = float((clf.classes_[int8.argmax(1)] == labels).mean())
    return {**result, "split": split_name, "n": len(labels), "fp32_accuracy": acc32, "int8_accuracy": acc8,
            "accuracy_change": acc8 - acc32, "agreement": float((fp32.argmax(1) == int8.argmax(1)).mean()),
            "max_abs_probability_change": float(np.abs(fp32 - int8).max())}


def _evaluation_split(clf, data: str | None):
    from headstart.api import evaluation_data
    from headstart.tasks import get_task

    args = clf.data_record_.get("args", {})
    source = data or args.get("data")
    if not source:
        return None, None
    try:
        splits = get_task(clf.task).read(source, test_per_class=None if data else args.get("test_per_class"),
                                         seed=clf.seed)
    except HeadstartError:
        if data:
            raise
        return None, None
    return evaluation_data(splits)
