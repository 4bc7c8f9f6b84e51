"""Issue 30's benchmark: active against random selection of what to label, `headstart compare --selection`.

    python bench/active_learning.py --seeds 0 1 2 --strategies linear-probe

Fashion-MNIST with EfficientNet-Lite0 at 160 px, scored on 2,000 official test images (200 per class, seed 0, as
bench/semi_supervised.py). Each seed starts from 10 labelled training images per class, then 5 rounds each label
100 more of the other ~59,900 training images (their labels held back until chosen): drawn at random, or chosen by
the model trained on the labels so far (``suggest``: margin uncertainty spread by k-center greedy). The training
images' features are extracted once into the cache (--cache; shared with bench/semi_supervised.py). One row per
point (strategy, rule, round, seed) goes to bench/results/active_learning.jsonl as each seed ends: rerun the seeds
that are missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from headstart.compare import compare

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "active_learning.jsonl"
IMAGE_SIZE = 160


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", nargs="+", default=["linear-probe"])
    parser.add_argument("--start", type=int, default=10, help="labelled images per class to start from")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--cache", default="/tmp/headstart-bench-cache")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    for seed in args.seeds:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            result = compare("fashion-mnist", "efficientnet_lite0", args.strategies, [args.start], [seed],
                             test_per_class=200, out=out, selection=["random", "active"], rounds=args.rounds,
                             per_round=args.per_round, image_size=IMAGE_SIZE, cache=args.cache)
        seconds = round(time.perf_counter() - started, 1)
        for point in result.points:
            strategy, _, rule = point.strategy.partition(", ")
            append_row(args.out, {
                "set": "fashion-mnist", "model": "efficientnet_lite0", "image_size": IMAGE_SIZE, "strategy": strategy,
                "selection": rule, "round": point.details["round"], "labels": point.size, "seed": seed,
                "start_per_class": args.start, "per_round": args.per_round, "n_test": result.n_test,
                "accuracy": point.score, "fit_seconds": point.fit_seconds,
                "select_seconds": point.details.get("select_seconds"), "seed_seconds": seconds,
                "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
