"""Benchmark: EfficientNet-Lite0 forward passes at 224 px on one set of decoded batches, engine by engine.

    python bench/engines.py                 # 512 Fashion-MNIST images, batch 64
    python bench/engines.py --compile       # torch.compile (inductor, freezing) too: a minute of compiling

Where extraction time goes and what the alternatives give: loading (decoding, resizing, normalising) on its own,
then the same batches through PyTorch eager (NCHW, channels-last, bf16 autocast), TorchScript's
``optimize_for_inference``, optionally ``torch.compile``, and the exported ONNX graph in ONNX Runtime (fp32) and
OpenVINO (fp32, bf16; what headstart uses on CPUs). Each line:
images per second and the fraction of the fp32 and bf16 matmul peaks measured on this machine. Printed, and
appended to bench/results/engines.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from headstart.compute import speed
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.features import onnx_engine
from headstart.features.onnx_engine import OnnxRunner
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "engines.jsonl"


def timed(forward: Callable, batches: list) -> float:
    """Seconds for every batch, after one warm-up batch."""
    with torch.inference_mode():
        forward(batches[0])
        start = time.perf_counter()
        for batch in batches:
            forward(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (inductor, freezing)")
    args = parser.parse_args()

    spec = get_model_spec("efficientnet_lite0")
    items = load_fashion_mnist(per_class=args.images // 10 + 1, test_per_class=1, seed=0).train.items[: args.images]
    dataset = get_task("image").inputs_dataset(items, None, dict(spec.preprocessing), train=False)
    start = time.perf_counter()
    batches = [inputs for inputs, _ in DataLoader(dataset, batch_size=args.batch_size)]
    results = {"loading (decode, resize, normalise)": time.perf_counter() - start}

    model = create_backbone(spec).eval()
    flops = speed.flops_per_input(model, batches[0][:2], 2)
    peaks = speed.machine_peaks()
    results["pytorch eager fp32, NCHW"] = timed(model, batches)
    model = model.to(memory_format=torch.channels_last)
    last = [b.contiguous(memory_format=torch.channels_last) for b in batches]
    results["pytorch eager fp32, channels-last"] = timed(model, last)

    def bf16(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(batch)

    results["pytorch eager bf16 autocast, channels-last"] = timed(bf16, last)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        scripted = torch.jit.optimize_for_inference(torch.jit.trace(model, last[0]))
    results["torchscript optimize_for_inference fp32"] = timed(scripted, last)
    if args.compile:
        import torch._inductor.config as inductor

        inductor.freezing = True
        compiled = torch.compile(model)
        timed(compiled, last[:1])  # compiling is not timed
        results["torch.compile (inductor, freezing) fp32"] = timed(compiled, last)
    runs = [("onnxruntime", "fp32"), ("openvino", "fp32")] + [("openvino", "bf16")] * onnx_engine.bf16_capable()
    for engine, precision in runs:
        results[f"{engine} {precision}"] = timed(OnnxRunner(model, batches[0], engine, precision), batches)

    for name, seconds in results.items():
        rate = len(items) / seconds
        row = {"engine": name, "images": len(items), "batch_size": args.batch_size, "images_per_second": round(rate, 1)}
        if not name.startswith("loading"):
            row |= {"fraction_of_fp32_peak": round(rate * flops / peaks["fp32"], 4),
                    "fraction_of_bf16_peak": round(rate * flops / peaks["bf16"], 4)}
        print(f"{name:45s} {rate:7.1f} images/s" + ("" if name.startswith("loading") else
              f"  {row['fraction_of_fp32_peak']:6.1%} of fp32 peak  {row['fraction_of_bf16_peak']:6.1%} of bf16 peak"))
        append_row(RESULTS, {**row, "gflops_per_image": round(flops / 1e9, 3),
                             "peak_fp32_gflops": round(peaks["fp32"] / 1e9, 1),
                             "peak_bf16_gflops": round(peaks["bf16"] / 1e9, 1), "machine": machine(),
                             "commit": commit()})
    print(f"Machine: {machine()}; peaks fp32 {peaks['fp32'] / 1e9:.0f}, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
