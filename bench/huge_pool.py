"""Issue 30's huge pool: `headstart train --unlabeled` with 100,000 image files, interrupted and resumed.

    python bench/huge_pool.py --stop-after 60

The pool: Fashion-MNIST's 60,000 training images and 40,000 variants of them (mirrored and shifted one pixel, so
their content differs) as PNG files; the labelled data: 10 training images per class (also in the pool: left out and
counted) and 200 test images per class. EfficientNet-Lite0 at 64 px, linear-probe, a fresh feature cache. Three
runs of the command line, each in its own process: the first is stopped (SIGINT, as Ctrl-C) ``--stop-after``
seconds into the pool's feature extraction, the second resumes (the features stored before the stop are read from the cache), the third finds every
feature cached. Each row: seconds, the process's peak resident memory, features read from the cache, the pool record.
Rows go to bench/results/huge_pool.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.splits import sample_per_class

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "huge_pool.jsonl"
POOL_SIZE = 100_000
EXTRACTING = "features (unlabelled pool): started"


def write_images(root: Path) -> tuple[Path, Path]:
    """(labelled folder, pool folder) under ``root``, written once."""
    labelled, pool = root / "labelled", root / "pool"
    if (root / "done").is_file():
        return labelled, pool
    shutil.rmtree(root, ignore_errors=True)
    full = load_fashion_mnist()
    for split, data in (("train", sample_per_class(full.train, 10, 0)), ("test", sample_per_class(full.test, 200, 0))):
        for index, (image, label) in enumerate(zip(data.items, data.labels, strict=True)):
            folder = labelled / split / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{index:05d}.png")
    for index in range(POOL_SIZE):
        image = full.train.items[index % len(full.train)]
        if index >= len(full.train):  # a variant: mirrored, shifted one pixel
            image = np.roll(image[:, ::-1], 1, axis=1)
        folder = pool / f"{index // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"{index:06d}.png")
    (root / "done").write_text("")
    return labelled, pool


def run(labelled: Path, pool: Path, out: Path, cache: Path, stop_after: float | None) -> dict:
    """One `headstart train` process: its seconds, peak memory (MB), the lines it printed about the cache."""
    command = [sys.executable, "-m", "headstart", "train", str(labelled), "--unlabeled", str(pool), "--strategy",
               "linear-probe", "--image-size", "64", "--out", str(out)]
    env = {"HEADSTART_FEATURE_CACHE": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        deadline = None
        while True:  # os.wait4 gives this child's own peak memory
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if stop_after is not None and deadline is None and EXTRACTING in log.read_text():
                deadline = time.perf_counter() + stop_after
            if deadline is not None and time.perf_counter() > deadline:
                process.send_signal(signal.SIGINT)
                stop_after = deadline = None
            time.sleep(0.5)
    returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    peak_mb = usage.ru_maxrss / 1024
    output = log.read_text()
    cached = [int(m.replace(",", "")) for m in re.findall(r"features \(unlabelled pool\): ([\d,]+) of [\d,]+ from",
                                                          output)]
    cached += [int(m.replace(",", "")) for m in re.findall(r"features \(unlabelled pool\): all ([\d,]+) from", output)]
    summary = out / "summary.json"
    record = json.loads(summary.read_text()).get("unlabeled") if summary.is_file() and returncode == 0 else None
    return {"returncode": returncode, "seconds": round(seconds, 1), "peak_mb": round(peak_mb),
            "pool_from_cache": cached[0] if cached else 0, "unlabeled": record, "last_lines": output.splitlines()[-3:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/headstart-huge-pool"))
    parser.add_argument("--stop-after", type=float, default=60.0, help="seconds into the pool's extraction")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    labelled, pool = write_images(args.root)
    print(f"images ready in {time.perf_counter() - started:.0f} s", flush=True)
    cache = args.root / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    for phase, stop in (("stopped", args.stop_after), ("resumed", None), ("all cached", None)):
        out = args.root / f"run-{phase.replace(' ', '-')}"
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        row = run(labelled, pool, out, cache, stop)
        append_row(args.out, {"phase": phase, "pool_files": POOL_SIZE, "image_size": 64, "strategy": "linear-probe",
                              **row, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
