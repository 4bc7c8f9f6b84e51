"""Benchmark: feature-extraction throughput against the number of processes (torch.distributed, gloo on CPU).

    python bench/scaling.py                      # 2,000 Fashion-MNIST images at 224 px, 1 and 2 processes
    python bench/scaling.py --images 500 --procs 1,2

Each run is `headstart embed FOLDER --nproc P` with an empty feature cache, timed from outside (so it includes
starting the processes and loading the model), and the same run with 16 images gives that fixed cost, which is
subtracted to get the extraction rate. From the rate per process and the backbone's FLOPs, the script writes what
ImageNet-1k (1.28M images) would take; results go to bench/results/scaling.jsonl.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from headstart.data.fashion_mnist import find_fashion_mnist, read_idx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scaling.jsonl"
LITE0_GFLOPS = 0.77  # per 224 px image (0.39 GMACs)
IMAGENET = 1_281_167


def image_folder(root: Path, count: int) -> Path:
    """``count`` Fashion-MNIST training images as PNG files in class folders (written once)."""
    folder = root / f"fmnist-{count}"
    if not folder.is_dir():
        images, labels = read_idx(find_fashion_mnist(), "train")
        for i in range(count):
            (folder / str(labels[i])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / str(labels[i]) / f"{i:05d}.png")
    return folder


def timed_embed(folder: Path, procs: int, work: Path, precision: str) -> float:
    cache = tempfile.mkdtemp(dir=work)
    env = {**os.environ, "HEADSTART_FEATURE_CACHE": cache}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "headstart", "embed", str(folder), "-o", str(Path(cache) / "e.parquet"),
                    "--nproc", str(procs), "--precision", precision, "--quiet"], check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--procs", default="1,2")
    parser.add_argument("--precision", default="fp32", help="fp32 (default, comparable across CPUs), bf16 or auto")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="headstart-scaling-"))
    big, small = image_folder(work, args.images), image_folder(work, 16)
    for procs in [int(p) for p in args.procs.split(",")]:
        fixed = timed_embed(small, procs, work, args.precision)
        total = timed_embed(big, procs, work, args.precision)
        rate = (args.images - 16) / max(total - fixed, 1e-9)
        append_row(RESULTS, {
            "processes": procs, "images": args.images, "image_size": 224, "model": "efficientnet_lite0", "precision": args.precision,
            "seconds_total": round(total, 1), "seconds_fixed": round(fixed, 1), "images_per_second": round(rate, 1),
            "gflops_per_second": round(rate * LITE0_GFLOPS, 1), "machine": machine(), "commit": commit(),
        })


if __name__ == "__main__":
    main()
