"""Benchmark: transfer (COCO-pretrained YOLOv3-tiny) against scratch on the semi-synthetic detection set.

    python bench/detection.py --seeds 0,1            # the grid of docs/benchmarks.md (about 70 minutes on 2 cores)
    python bench/detection.py --sizes 25 --strategies fine-tune,scratch --epochs 10

Each cell trains on N semi-synthetic images (real cut-outs of the hand-labelled sample pasted onto real
backgrounds, see ``headstart.data.synthetic_detect``) and scores mAP@0.5 and mAP@0.5:0.95 on 200 held-out images
drawn with another seed (one draw of both per ``--seeds``). Every strategy sees the same number of images in all
(``--images-seen``), so small sets get more epochs. Results go to bench/results/detection.jsonl, one line per
cell; ``python bench/report.py`` makes the table.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from headstart import ObjectDetector
from headstart.data.synthetic_detect import make_synthetic, synthetic_splits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "detection.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,100,400")
    parser.add_argument("--strategies", default="fine-tune,head,scratch")
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--images-seen", type=int, default=1500,
                        help="training images seen per cell, in all (1,500: the library's default up to 150 images)")
    parser.add_argument("--epochs", type=int, default=None, help="fixed epochs instead of --images-seen")
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--seeds", default="0", help="one draw of training and test images per seed")
    args = parser.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        test = make_synthetic(args.test_size, seed=10_000 + seed)
        for size in (int(s) for s in args.sizes.split(",")):
            splits = synthetic_splits(size, 0, 0, seed=seed)
            epochs = args.epochs or max(1, math.ceil(args.images_seen / size))
            for strategy in args.strategies.split(","):
                start = time.perf_counter()
                detector = ObjectDetector(strategy=strategy, epochs=epochs, image_size=args.image_size, val_size=0,
                                          seed=seed).fit(splits)
                fit_seconds = time.perf_counter() - start
                scores = detector.evaluate(test)
                append_row(RESULTS, {
                    "strategy": strategy, "train_images": size, "epochs": epochs, "images_seen": epochs * size,
                    "image_size": args.image_size, "map50": scores["map50"], "map": scores["map"],
                    "test_images": args.test_size, "fit_seconds": round(fit_seconds, 1),
                    "seconds": round(time.perf_counter() - start, 1), "seed": seed, "machine": machine(),
                    "commit": commit(),
                })


if __name__ == "__main__":
    main()
