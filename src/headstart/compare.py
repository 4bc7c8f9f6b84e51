"""Learning curves: strategies trained at several labelled-set sizes and seeds, scored on one fixed test split.

This is the picture of transfer learning: with little labelled data a model trained from scratch stays low while a
transferred one starts high. ``compare`` draws it for the user's own data and says how much labelled data scratch
needs to catch up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.splits import sample_per_class, split_validation
from headstart.errors import HeadstartError
from headstart.files import write_json
from headstart.progress import Reporter
from headstart.rundir import write_csv
from headstart.tasks import get_task

TEST_SHARE = 0.2  # the test split carved out when the data has none
TEST_SEED = 12_345  # fixed, so that every size and seed is scored on the same examples


@dataclass
class CurvePoint:
    """One trained model: a strategy at a labelled-set size and seed, and its scores on the test split."""

    strategy: str
    per_class: int | str
    seed: int
    n_train: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    fit_seconds: float


@dataclass
class Comparison:
    """All points, where they were written, and what they say."""

    points: list[CurvePoint]
    out_dir: Path
    n_test: int
    model: str
    findings: list[str] = field(default_factory=list)

    def curve(self, strategy: str) -> list[tuple[int | str, float, float, float]]:
        """(size, mean accuracy, lowest, highest) over seeds, in the order the sizes were given."""
        sizes = list(dict.fromkeys(p.per_class for p in self.points))
        rows = []
        for size in sizes:
            found = [p.accuracy for p in self.points if p.strategy == strategy and p.per_class == size]
            if found:
                rows.append((size, float(np.mean(found)), min(found), max(found)))
        return rows


def parse_sizes(text: str | Sequence[int | str]) -> list[int | str]:
    """``"10,50,all"`` -> [10, 50, "all"]."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    sizes: list[int | str] = []
    for part in parts:
        value = str(part).strip().lower()
        if value == "all":
            sizes.append("all")
        elif value.isdigit() and int(value) > 0:
            sizes.append(int(value))
        else:
            raise HeadstartError(f"cannot read the size '{part}'; give labelled examples per class, e.g. 10,50,100,all")
    return sizes


def fixed_test_split(splits: DataSplits) -> tuple[LabeledData, LabeledData, str]:
    """(labelled pool, test split, how the test split was made): the data's own test split when it has one."""
    pool = splits.train
    if splits.val is not None and len(splits.val):
        pool = LabeledData(pool.items + splits.val.items, pool.labels + splits.val.labels, pool.ids + splits.val.ids,
                           source=pool.source)
    if splits.test is not None and len(splits.test):
        return pool, splits.test, "the data's test split"
    train, test, _ = split_validation(pool, TEST_SHARE, TEST_SEED)
    if test is None:
        raise HeadstartError(f"{pool.source or 'the data'} is too small to set a test split aside; add examples")
    return train, test, f"a stratified {TEST_SHARE:.0%} of the data (seed {TEST_SEED})"


def scratch_needs(comparison: Comparison, transfer: Sequence[str]) -> str | None:
    """How many labelled examples per class scratch needs to match the best transfer strategy at the smallest
    size, interpolated on a log scale between the sizes tried; None when there is no scratch curve."""
    scratch = [(s, m) for s, m, _, _ in comparison.curve("scratch") if s != "all"]
    curves = [comparison.curve(s) for s in transfer if s != "scratch"]
    if not scratch or not any(curves):
        return None
    size0 = scratch[0][0]
    target, best = max((c[0][1], name) for c, name in zip(curves, transfer, strict=False) if c and c[0][0] == size0)
    for (s1, a1), (s2, a2) in pairwise(scratch):
        if a1 < target <= a2:
            fraction = (target - a1) / (a2 - a1)
            needed = math.exp(math.log(s1) + fraction * (math.log(s2) - math.log(s1)))
            return (f"scratch needs about {needed:.0f} labelled examples per class to match what {best} reaches with "
                    f"{size0} ({target:.1%}): {needed / size0:.0f}x the labels")
    if scratch[0][1] >= target:
        return f"scratch matches {best} already at {size0} per class ({scratch[0][1]:.1%} >= {target:.1%})"
    top_size, top = max(scratch, key=lambda x: x[1])
    return (f"scratch does not reach what {best} scores with {size0} per class ({target:.1%}) within the sizes tried "
            f"(its best: {top:.1%} at {top_size} per class)")


def compare(
    data: str | Path,
    model: str | None = None,
    strategies: Sequence[str] = ("linear-probe", "fine-tune", "scratch"),
    sizes: Sequence[int | str] = (10, 50, 100, "all"),
    seeds: Sequence[int] = (0, 1, 2),
    *,
    task: str | None = None,
    test_per_class: int | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    **params: Any,
) -> Comparison:
    """Train ``strategies`` at every size (labelled examples per class; "all" uses one seed) and seed, score each
    on one fixed test split (at most ``test_per_class`` per class, drawn with seed 0), and write curves.csv,
    curves.png and summary.json to ``out``."""
    from headstart.api import infer_task
    from headstart.classifier import CLASSIFIERS
    from headstart.reports.curves import plot_curves

    task = task or infer_task(data, model)
    if task == "detect":
        raise HeadstartError("compare does not do detection yet; `python bench/detection.py --sizes 25,100` gives "
                             "transfer against scratch mAP at several dataset sizes")
    if task not in CLASSIFIERS:
        raise HeadstartError(f"unknown task '{task}'; use one of {', '.join(CLASSIFIERS)}")
    reporter = Reporter(verbose)
    pool, test, test_record = fixed_test_split(get_task(task).read(data, test_per_class=test_per_class, seed=0))
    out_dir = Path(out) if out else Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    points: list[CurvePoint] = []
    model_name = model or get_task(task).default_model
    for size in sizes:
        for seed in seeds if size != "all" else list(seeds)[:1]:
            train = pool if size == "all" else sample_per_class(pool, int(size), seed)
            for strategy in strategies:
                reporter.say(f"[bold]{strategy}[/], {size} per class, seed {seed}: {len(train)} training examples")
                start = time.perf_counter()
                clf = CLASSIFIERS[task](model, strategy, seed=seed, verbose=verbose, **params)
                clf.fit(DataSplits(train, None, test, {"test": test_record}))
                fit_seconds = time.perf_counter() - start
                scores = clf.evaluate(test)
                points.append(CurvePoint(strategy, size, seed, len(train), scores["accuracy"],
                                         scores["balanced_accuracy"], scores["macro_f1"], round(fit_seconds, 2)))
                write_csv(out_dir / "curves.csv", [asdict(p) for p in points])  # kept up to date as points come
    comparison = Comparison(points, out_dir, len(test), model_name)
    finding = scratch_needs(comparison, strategies) if "scratch" in strategies else None
    comparison.findings = [finding] if finding else []
    plot_curves(comparison, out_dir / "curves.png")
    write_json(out_dir / "summary.json", {
        "model": model_name, "task": task, "strategies": list(strategies), "sizes": list(sizes), "seeds": list(seeds),
        "test": {"n": len(test), "made_from": test_record}, "findings": comparison.findings,
        "curves": {s: comparison.curve(s) for s in strategies}, "params": params,
    })
    return comparison
