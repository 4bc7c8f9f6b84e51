"""int8 quantisation of an exported ONNX file, with its accuracy change measured.

Text models get dynamic quantisation (int8 weights, activations quantised on the fly): it suits transformers'
matrix multiplies. Convolutional image models get static quantisation of their convolutions: activation ranges
are calibrated on the run's training images, weights are quantised per channel, and the depthwise convolutions stay
in float. Dynamic quantisation of EfficientNet-Lite (one activation scale per tensor computed on the fly) took its
accuracy from 81.5% to 13.5%. The change is always measured and reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from headstart.errors import HeadstartError
from headstart.estimators import evaluation_split
from headstart.tasks import get_task

CALIBRATION_IMAGES = 128  # training images whose activations set the int8 ranges (more changes little, costs time)


def int8_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.int8.onnx")


def quantize_int8(path: Path, clf, data: str | None = None) -> dict:
    """Write ``<stem>.int8.onnx`` and compare it with the fp32 file on ``data``'s evaluation split (default: the data
    the run was trained on, when it is still there). Images: static, calibrated on the run's training images;
    text: dynamic."""
    from headstart.serving.runtime import OnnxModel

    target = int8_path(path)
    splits = _run_data(clf, data)
    quantizers = {"static": lambda: _quantize_static(path, target, splits), "dynamic": lambda: _quantize_dynamic(path, target)}
    how = get_task(clf.task).quantization
    if how not in quantizers:
        raise HeadstartError(f"--quantize int8 is not available for {get_task(clf.task).title}; export without it")
    logging.disable(logging.WARNING)  # ONNX Runtime logs shape-inference chatter for every convolution
    try:
        method = quantizers[how]()
    finally:
        logging.disable(logging.NOTSET)
    result = {"path": str(target), "bytes": target.stat().st_size, "fp32_bytes": path.stat().st_size, "method": method}
    if splits is None:
        return {**result, "note": "accuracy not measured: the run's data is not available (pass --data)"}
    split_name, split = evaluation_split(splits)
    labels = np.asarray(split.labels)
    fp32 = OnnxModel(path).predict_proba(split.items)
    int8 = OnnxModel(target).predict_proba(split.items)
    acc32 = float((clf.classes_[fp32.argmax(1)] == labels).mean())
    acc8 = float((clf.classes_[int8.argmax(1)] == labels).mean())
    return {**result, "split": split_name, "n": len(labels), "fp32_accuracy": acc32, "int8_accuracy": acc8,
            "accuracy_change": acc8 - acc32, "agreement": float((fp32.argmax(1) == int8.argmax(1)).mean()),
            "max_abs_probability_change": float(np.abs(fp32 - int8).max())}


def _quantize_dynamic(path: Path, target: Path) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8)
    return "dynamic"


def _quantize_static(path: Path, target: Path, splits) -> str:
    """The dense convolutions in int8 (QDQ, per-channel weights), activation ranges from up to
    ``CALIBRATION_IMAGES`` training images. The resize at the graph's start, the first convolution, the depthwise
    convolutions and the head stay fp32. On the Fashion-MNIST sample's 200 test images (linear probe, 224 px, fp32
    81.5%): every convolution but the first in int8 gave 74.5%, percentile or entropy calibration 70.0% and 74.5%,
    the depthwise ones kept in float 82.5% (+0.3 MB). Depthwise convolutions have one input channel per filter, so
    a per-tensor activation scale fits them badly (a known weak spot of MobileNet-style networks in int8), and they
    do a small share of the arithmetic. Quantising the head (a linear probe's folded standardisation gives it a
    wide weight range) took a sample's accuracy from 100% to 54%, the first convolution from 100% to 87.5% on the
    test's 24 images at 64 px."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from headstart.serving.runtime import OnnxModel

    if splits is None:
        raise HeadstartError("int8 for image models is calibrated on the run's training images, which are not "
                             "there any more; pass --data with images like them")
    rng = np.random.default_rng(0)
    train = splits.train
    picked = sorted(rng.permutation(len(train))[:CALIBRATION_IMAGES].tolist())
    feeds = OnnxModel(path).feeds([train.items[i] for i in picked])

    class Reader(CalibrationDataReader):
        def __init__(self, batches: Iterator) -> None:
            self.batches = batches

        def get_next(self) -> dict | None:
            return next((feed for _, feed in self.batches), None)

    convs = [node for node in onnx.load(str(path)).graph.node if node.op_type == "Conv"]
    in_float = [convs[0].name] + [node.name for node in convs[1:] if _groups(node) > 1]
    quantize_static(str(path), str(target), Reader(feeds), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv"], nodes_to_exclude=in_float, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return (f"static ({len(convs) - len(in_float)} of {len(convs)} convolutions: not the first nor the depthwise "
            f"ones), calibrated on {len(picked)} training images")


def _groups(node) -> int:
    """A Conv node's ``group`` attribute: above 1 for grouped and depthwise convolutions."""
    return next((attr.i for attr in node.attribute if attr.name == "group"), 1)


def _run_data(clf, data: str | None):
    """The splits of ``data``, else of the data the run was trained on (None when it is gone)."""
    args = clf.data_record_.get("args", {})
    source = data or args.get("data")
    if not source:
        return None
    try:
        return get_task(clf.task).read(source, test_per_class=None if data else args.get("test_per_class"),
                                       seed=clf.seed)
    except HeadstartError:
        if data:
            raise
        return None
