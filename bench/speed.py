"""Benchmark: streamed feature extraction of all 70,000 Fashion-MNIST images at 224 px, against the machine's limit.

    python bench/speed.py                # all 70,000 images: OpenVINO, ONNX Runtime, then PyTorch
    python bench/speed.py --engines openvino --precisions auto,fp32   # one engine, two precisions
    python bench/speed.py --limit 256 --precisions fp32,bf16 --probe-per-class 0   # a smoke run

For each engine and precision (``auto``: bf16 where the CPU and engine have it; ONNX Runtime has fp32 only):
images per second, peak resident memory so far (the features are streamed to a memory-mapped file,
never held as one tensor), EfficientNet-Lite0's FLOPs per image, and the implied fraction of the peak matmul
FLOP/s measured on this machine (the issue's goal: 40% or more of the bf16 limit). With ``--probe-per-class N``,
a linear probe on N images per class is scored on the test split from fp32 and from bf16 features (extracted by
the default engine), to check that bf16 stays within 0.3 points of fp32. Rows go to bench/results/speed.jsonl (``python bench/report.py --write``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from headstart.compute import speed
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.features import onnx_engine
from headstart.features.extract import extraction_precision, iter_features
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "speed.jsonl"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def extract(backbone, items, preprocessing, precision: str, batch_size: int, out: Path,
            throughput: speed.Throughput) -> tuple[float, int]:
    """Stream the features of ``items`` into a memory-mapped file; return seconds and items done."""
    dataset = get_task("image").inputs_dataset(items, None, preprocessing, train=False)
    store = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(len(items), backbone.num_features))
    start, done = time.perf_counter(), 0
    for batch in iter_features(backbone, dataset, batch_size=batch_size, precision=precision,
                               throughput=throughput):
        store[done : done + len(batch)] = batch
        done += len(batch)
    store.flush()
    return time.perf_counter() - start, done


def probe_accuracies(backbone, preprocessing, per_class: int, test_per_class: int | None) -> dict[str, float]:
    """Linear-probe test accuracy from fp32 and from bf16 features (same images, same regression)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    splits = load_fashion_mnist(per_class=per_class, test_per_class=test_per_class, seed=0)
    task, result = get_task("image"), {}
    for precision in ("fp32", "bf16"):
        def features(data, precision=precision):
            dataset = task.inputs_dataset(data.items, None, preprocessing, train=False)
            return np.concatenate(list(iter_features(backbone, dataset, batch_size=64, precision=precision)))

        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        model.fit(features(splits.train), splits.train.labels)
        result[precision] = float((model.predict(features(splits.test)) == np.asarray(splits.test.labels)).mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="openvino,onnxruntime,pytorch",
                        help="comma-separated: openvino, onnxruntime, pytorch")
    parser.add_argument("--precisions", default="auto", help="comma-separated: auto, fp32, bf16")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (smoke runs)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--probe-per-class", type=int, default=100, help="0: skip the bf16 accuracy check")
    parser.add_argument("--probe-test-per-class", type=int, default=None)
    args = parser.parse_args()

    splits = load_fashion_mnist()
    items = (splits.train.items + splits.test.items)[: args.limit]
    spec = get_model_spec("efficientnet_lite0")
    backbone = create_backbone(spec)
    preprocessing = dict(spec.preprocessing)
    dataset = get_task("image").inputs_dataset(items[:4], None, preprocessing, train=False)
    flops = speed.flops_per_input(backbone, torch.stack([dataset[i][0] for i in range(4)]), 4)
    peaks = speed.machine_peaks()
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        os.environ[onnx_engine.ENV] = engine if engine in onnx_engine.BACKENDS else "0"
        for precision in precisions:
            ran = extraction_precision(precision, dataset)
            with tempfile.TemporaryDirectory() as folder:
                throughput = speed.Throughput()
                seconds, done = extract(backbone, items, preprocessing, precision, args.batch_size, Path(folder) / "f.npy",
                                        throughput)
            rate = done / seconds
            row = {"engine": throughput.engine, "precision": precision, "ran_as": ran, "images": done,
                   "image_size": 224, "batch_size": args.batch_size, "seconds": round(seconds, 2),
                   "images_per_second": round(rate, 2), "gflops_per_image": round(flops / 1e9, 3),
                   "peak_fp32_gflops": round(peaks["fp32"] / 1e9, 1), "peak_bf16_gflops": round(peaks["bf16"] / 1e9, 1),
                   "fraction_of_bf16_peak": round(rate * flops / peaks["bf16"], 4),
                   "fraction_of_own_peak": round(rate * flops / peaks[ran], 4), "peak_rss_mb": round(peak_rss_mb(), 1),
                   "threads": torch.get_num_threads(), "smoke": args.limit is not None, "machine": machine(),
                   "commit": commit()}
            append_row(RESULTS, row)
    os.environ.pop(onnx_engine.ENV)
    if args.probe_per_class:
        accuracy = probe_accuracies(backbone, preprocessing, args.probe_per_class, args.probe_test_per_class)
        append_row(RESULTS, {"check": "bf16-accuracy", "engine": onnx_engine.backend() or "pytorch",
                             "per_class": args.probe_per_class, **accuracy,
                             "smoke": args.limit is not None or args.probe_test_per_class is not None,
                             "difference_points": round((accuracy["bf16"] - accuracy["fp32"]) * 100, 2),
                             "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
