"""Issue 29's multi-label benchmark: Fashion-MNIST mosaics (semi-synthetic: 2x2 grids of real photos, 0 to 4 items
each, labels = the classes present; data/mosaics.py), transfer strategies against scratch and the classical
baseline.

    python bench/multilabel.py --sizes 50 200 1000 --strategies linear-probe head fine-tune scratch baseline

Training mosaics are drawn from 12,000 made of official training photos (``--sizes``: each label on at least that
many, nested draws with the seed), scored on 2,000 made of official test photos only. Each strategy runs as a user
runs it (``ImageMultiLabelClassifier(model, strategy).fit``: validation split where the strategy uses one, per-label
thresholds, refit on every labelled mosaic); ``baseline`` is one-vs-rest logistic regression on 32x32 pixels with its
thresholds chosen on its own out-of-fold probabilities. Rows (macro-F1, micro-F1, mAP, subset accuracy, fit seconds)
go to bench/results/multilabel.jsonl; a (size, seed, strategy, image size) already there is skipped, so a stopped
run continues where it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from headstart import ImageMultiLabelClassifier
from headstart.data.dataset import DataSplits
from headstart.data.mosaics import load_fashion_mosaics
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "multilabel.jsonl"


def done(path: Path) -> set[tuple]:
    if not path.is_file():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["per_label"], r["seed"], r["strategy"], r["image_size"]) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--strategies", nargs="+", default=["baseline", "linear-probe", "head", "fine-tune", "scratch"])
    parser.add_argument("--image-size", type=int, default=112, help="the network's input side (mosaics are 56 px)")
    parser.add_argument("--cache", default="/tmp/headstart-bench-cache")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    finished = done(args.out)
    task = get_task("image-multilabel")
    for per_label in args.sizes:
        for seed in args.seeds:
            splits = load_fashion_mosaics(per_class=per_label, seed=seed)
            for strategy in args.strategies:
                key = (per_label, seed, strategy, args.image_size)
                if key in finished:
                    continue
                row = {"set": "fashion-mnist mosaics", "per_label": per_label, "seed": seed, "strategy": strategy,
                       "image_size": args.image_size, "n_train": len(splits.train), "n_test": len(splits.test)}
                start = time.perf_counter()
                if strategy == "baseline":
                    name, row["macro_f1"] = task.baseline(splits.train, splits.test)
                    row["model"] = name
                else:
                    clf = ImageMultiLabelClassifier("efficientnet_lite0", strategy, seed=seed, cache=args.cache,
                                                    image_size=args.image_size)
                    clf.fit(DataSplits(splits.train, None, splits.test))
                    scores = clf.evaluate(splits.test)
                    row.update({k: scores[k] for k in ("macro_f1", "micro_f1", "mean_average_precision",
                                                       "subset_accuracy")})
                    row.update(model="efficientnet_lite0", strategy_spec=clf.strategy_spec_,
                               thresholds_on=clf.fit_details_["thresholds"]["chosen_on"])
                row["seconds"] = round(time.perf_counter() - start, 1)
                append_row(args.out, {**row, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
