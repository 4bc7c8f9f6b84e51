"""Issue 31: auto's classical check on short texts, where TF-IDF should not be chosen.

    python bench/auto_classical.py            # Rotten Tomatoes, 8 / 32 / 128 / 512 reviews per class, seeds 0 1 2

auto cross-validates the ``tfidf`` model's linear probe beside MiniLM's on the examples it ranks on (at most 100 per
class) and chooses TF-IDF only on a lead beyond chance (a sign test; strategies/auto.py). On long speeches it should
(bench/long_documents.py, method ``auto``); here, on one-sentence reviews, it should not. Each row: what the check
found and chose, and the test accuracy (500 reviews per class) of both linear probes trained on all the examples, so
that a wrong choice shows. Rows go to bench/results/auto_classical.jsonl; cells already there for this commit are
skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from headstart import TextClassifier
from headstart.data.dataset import DataSplits
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.strategies.auto import plan_auto
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "auto_classical.jsonl"


def done() -> set[tuple]:
    if not RESULTS.is_file():
        return set()
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return {(r["per_class"], r["seed"]) for r in rows if r["commit"] == commit()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128, 512])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    task = get_task("text")
    finished = done()
    for seed in args.seeds:
        for per_class in args.sizes:
            if (per_class, seed) in finished:
                continue
            splits = load_rotten_tomatoes(per_class=per_class, test_per_class=500, seed=seed)
            start = time.perf_counter()
            plan = plan_auto(splits.train, task, ["minilm-l6", "tfidf"], {"seed": seed, "precision": "fp32"}, None)
            seconds = time.perf_counter() - start
            classical = plan.details["classical"]
            probe = TextClassifier(strategy="linear-probe", precision="fp32", seed=seed).fit(DataSplits(splits.train))
            test = splits.test
            minilm = float((probe.predict(test.items) == np.asarray(test.labels)).mean())
            tfidf = task.baseline(splits.train, test)[1]  # the tfidf model's probe (tests/tasks/test_tfidf.py)
            append_row(RESULTS, {
                "dataset": "rotten-tomatoes", "per_class": per_class, "seed": seed, "chosen": plan.model,
                "classical_chosen": classical["chosen"], "p_value": classical["p_value"],
                "cv_accuracy": classical["accuracy"], "alone_right": classical["alone_right"],
                "test_accuracy": {"minilm-l6 linear-probe": minilm, "tfidf": tfidf}, "n_test": len(test),
                "planning_seconds": round(seconds, 1), "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
