"""Benchmark: how long the transferability scores take at ImageNet-probe scale.

    python bench/ranking_speed.py                      # 10,000 x 1,280 features, 100 classes, 3 repeats

The issue's goal: LogME on 10,000 x 1,280 features with 100 classes in under 10 s on 2 cores. The features are
synthetic (Gaussian class clusters, seeded): the time depends on the shapes, not on the values. Results are
appended to bench/results/ranking_speed.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from headstart.compute.cores import usable_cores
from headstart.ranking.scores import h_score, leep, logme, nce

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ranking_speed.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    labels = rng.integers(0, args.classes, args.n)
    features = (rng.normal(size=(args.classes, args.dim))[labels] + 2 * rng.normal(size=(args.n, args.dim))).astype(np.float32)
    logits = rng.normal(size=(args.n, 1000))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    scores = {
        "logme": lambda: logme(features, labels),
        "hscore": lambda: h_score(features, labels),
        "leep": lambda: leep(probs, labels),
        "nce": lambda: nce(probs.argmax(1), labels),
    }
    threads = usable_cores()
    with threadpool_limits(limits=threads):
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
        for name, score in scores.items():
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                score()
                times.append(time.perf_counter() - start)
            row = {"score": name, "n": args.n, "dim": args.dim, "classes": args.classes,
                   "seconds_best": round(min(times), 3), "seconds_median": round(float(np.median(times)), 3),
                   "blas": blas, "machine": machine(), "commit": commit()}
            append_row(RESULTS, row)


if __name__ == "__main__":
    main()
