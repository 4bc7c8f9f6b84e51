"""Learning curves: strategies trained at several labelled-set sizes and seeds, scored on one fixed test split.

This is the picture of transfer learning: with little labelled data a model trained from scratch stays low while a
transferred one starts high. ``compare`` draws it for the user's own data and says how much labelled data scratch
needs to catch up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits
from headstart.errors import HeadstartError
from headstart.files import write_json
from headstart.progress import Reporter
from headstart.rundir import write_csv
from headstart.tasks import get_task, resolve_task

TEST_SHARE = 0.2  # the test split carved out when the data has none
TEST_SEED = 12_345  # fixed, so that every size and seed is scored on the same examples


# How the sizes of a learning curve are counted (``Task.size_unit``): (axis label, table suffix, "at N ..." suffix).
SIZE_UNITS = {
    "per_class": ("labelled examples per class", " / class", " per class"),
    "per_label": ("labelled examples per label (each label on at least this many)", " / label", " per label"),
    "images": ("labelled images", " images", " images"),
    "labels": ("labelled examples", " labels", " labels"),
}


@dataclass
class CurvePoint:
    """One trained model: a strategy at a labelled-set size and seed, and its scores on the test split."""

    strategy: str
    size: int | str  # labelled examples per class (images for detection), or "all"
    seed: int
    n_train: int
    score: float  # the task's curve score: test accuracy, or mAP@0.5 for detection
    fit_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # more CSV columns: the selection round, its seconds


@dataclass
class Comparison:
    """All points, where they were written, what the score and sizes are, and what they say."""

    points: list[CurvePoint]
    out_dir: Path
    n_test: int
    model: str
    findings: list[str] = field(default_factory=list)
    score_name: str = "test accuracy"
    size_unit: str = "per_class"  # a key of SIZE_UNITS
    title: str = "transfer against training from scratch"
    log_sizes: bool = True  # sizes spaced on a log scale in the figure (learning curves), else linear (rounds)

    @property
    def is_accuracy(self) -> bool:
        return "accuracy" in self.score_name

    def show(self, score: float) -> str:
        """A score as people read it: accuracy in percent, mAP as a fraction."""
        return f"{score:.1%}" if self.is_accuracy else f"{score:.3f}"

    @property
    def size_label(self) -> str:
        return SIZE_UNITS[self.size_unit][0]

    def curve(self, strategy: str) -> list[tuple[int | str, float, float, float]]:
        """(size, mean score, lowest, highest) over seeds, in the order the sizes were given."""
        sizes = list(dict.fromkeys(p.size for p in self.points))
        rows = []
        for size in sizes:
            found = [p.score for p in self.points if p.strategy == strategy and p.size == size]
            if found:
                rows.append((size, float(np.mean(found)), min(found), max(found)))
        return rows

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Each strategy's mean (lowest-highest) score over seeds at every size, as ``headstart compare`` prints."""
        unit = SIZE_UNITS[self.size_unit][1]
        strategies = list(dict.fromkeys(p.strategy for p in self.points))
        header = ["strategy", *(f"{size}{unit}" for size, *_ in self.curve(strategies[0]))]
        rows = [[s, *(f"{self.show(mean)} ({self.show(low)}-{self.show(high)})" for _, mean, low, high in self.curve(s))]
                for s in strategies]
        return header, rows

    def lines(self) -> tuple[str, list[str]]:
        """The line above the table, and the findings and files below it."""
        below = [*self.findings, f"curves: {self.out_dir / 'curves.png'}, {self.out_dir / 'curves.csv'}"]
        return f"{self.score_name} on {self.n_test:,} examples, mean (lowest-highest) over seeds", below

    def rows(self) -> list[dict]:
        """One CSV row per point: the size under its unit's name, then every metric."""
        rows = []
        for p in self.points:
            row = {"strategy": p.strategy, self.size_unit: p.size, "seed": p.seed, "n_train": p.n_train}
            row.update({k: v for k, v in p.metrics.items() if k not in row})
            rows.append({**row, "fit_seconds": p.fit_seconds, **{k: v for k, v in p.details.items() if k not in row}})
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


def fixed_test_split(splits: DataSplits, task: str = "image") -> tuple[Any, Any, str]:
    """(labelled pool, test split, how the test split was made): the data's own test split when it has one."""
    pool = splits.train
    if splits.val is not None and len(splits.val):
        pool = pool.join(splits.val)
    if splits.test is not None and len(splits.test):
        return pool, splits.test, "the data's test split"
    train, test = get_task(task).hold_out(pool, TEST_SHARE, TEST_SEED)
    if test is None:
        raise HeadstartError(f"{pool.source or 'the data'} is too small to set a test split aside; add examples")
    return train, test, f"a seeded {TEST_SHARE:.0%} of the data (seed {TEST_SEED})"


def scratch_needs(comparison: Comparison, transfer: Sequence[str]) -> str | None:
    """How much labelled data scratch needs to match the best transfer strategy at the smallest size, interpolated
    on a log scale between the sizes tried; None when there is no scratch curve."""
    scratch = [(s, m) for s, m, _, _ in comparison.curve("scratch") if s != "all"]
    curves = [comparison.curve(s) for s in transfer if s != "scratch"]
    if not scratch or not any(curves):
        return None
    size0 = scratch[0][0]
    target, best = max((c[0][1], name) for c, name in zip(curves, transfer, strict=False) if c and c[0][0] == size0)
    show, unit = comparison.show, comparison.size_label
    at = f"{size0}{SIZE_UNITS[comparison.size_unit][2]}"
    for (s1, a1), (s2, a2) in pairwise(scratch):
        if a1 < target <= a2:
            fraction = (target - a1) / (a2 - a1)
            needed = math.exp(math.log(s1) + fraction * (math.log(s2) - math.log(s1)))
            return (f"scratch needs about {needed:.0f} {unit} to match what {best} reaches with {size0} "
                    f"({show(target)}): {needed / size0:.0f}x the labels")
    if scratch[0][1] >= target:
        return f"scratch matches {best} already at {at} ({show(scratch[0][1])} >= {show(target)})"
    top_size, top = max(scratch, key=lambda x: x[1])
    return (f"scratch does not reach what {best} scores with {at} ({show(target)}) within the sizes tried "
            f"(its best: {show(top)} at {top_size})")


def trainable_strategies(model: str, given: Sequence[str] | None, defaults: Sequence[str]) -> list[str]:
    """``given`` (else ``defaults``), checked against ``model``: one fitted on the data (tfidf) has no layers to train,
    so the defaults keep only the strategies that leave them frozen, and one given that trains them is refused
    before any point is trained."""
    from headstart.models import get_model_spec
    from headstart.strategies import get_strategy

    if not get_model_spec(model).fitted:
        return list(given or defaults)
    if not given:
        return [name for name in defaults if get_strategy(name).frozen_backbone]
    training = [name for name in given if not get_strategy(name).frozen_backbone]
    if training:
        raise HeadstartError(f"'{model}' has no layers to train: leave {', '.join(training)} out of --strategies "
                             "(linear-probe and head apply)")
    return list(given)


def compare(
    data: str | Path | DataSplits,
    model: str | None = None,
    strategies: Sequence[str] | None = None,
    sizes: Sequence[int | str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    task: str | None = None,
    multi_label: bool | None = None,
    test_per_class: int | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    selection: Sequence[str] | None = None,
    rounds: int | None = None,
    per_round: int | None = None,
    **params: Any,
) -> Comparison:
    """Train ``strategies`` (default: the task's, transfer and scratch) at every size (labelled examples per class,
    or images for detection; "all" uses one seed; default 10, 50, 100, all) and seed, score each on one fixed test split (at most
    ``test_per_class`` per class, drawn with seed 0), and write curves.csv, curves.png and summary.json to ``out``.

    With ``selection`` (rules of ``SELECTION_RULES``, e.g. ``["random", "active"]``): start from the one size given
    (default 10),
    then ``rounds`` (5) times label ``per_round`` (100) more examples of the data chosen by each rule (their labels held back
    until chosen) and train again; see selection.py."""
    from headstart.estimators import estimator_for

    task = resolve_task(task, None if isinstance(data, DataSplits) else data, model, multi_label)
    handler = get_task(task)
    handler.check_read_options({"test_per_class": test_per_class})
    estimator_cls = estimator_for(task)
    estimator_cls.check_knobs(params)
    sizes = list(sizes or ([10] if selection else [10, 50, 100, "all"]))
    if selection:
        from headstart.compare.selection import check_selection

        rounds, per_round = check_selection(handler, selection, sizes, rounds, per_round)
    elif rounds is not None or per_round is not None:
        raise HeadstartError("--rounds and --per-round apply to a selection comparison; add --selection random,active "
                             "or leave them out")
    splits = data if isinstance(data, DataSplits) else handler.read(data, test_per_class=test_per_class, seed=0)
    pool, test, test_record = fixed_test_split(splits, task)
    out_dir = Path(out) if out else Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    model_name = model or handler.default_model
    score_key, score_name = handler.curve_score
    run = PointTrainer(estimator_cls, model_name, params, verbose, score_key, test, test_record)
    if selection:
        from headstart.compare.selection import selection_curves

        comparison = Comparison([], out_dir, len(test), model_name, score_name=score_name, size_unit="labels",
                                title="active against random selection", log_sizes=False)
        strategies = list(strategies or handler.compare_strategies[:1])
        return selection_curves(comparison, run, handler, pool, strategies, int(sizes[0]), seeds, selection,
                                rounds, per_round)
    strategies = trainable_strategies(model_name, strategies, handler.compare_strategies)
    comparison = Comparison([], out_dir, len(test), model_name, score_name=score_name, size_unit=handler.size_unit)
    for size in sizes:
        for seed in seeds if size != "all" else list(seeds)[:1]:
            train = pool if size == "all" else handler.draw_train(pool, int(size), seed)
            for strategy in strategies:
                run.say(f"[bold]{strategy}[/], {size} ({comparison.size_label}), seed {seed}: "
                        f"{len(train)} training examples")
                comparison.points.append(run(strategy, size, seed, train)[1])
                write_csv(out_dir / "curves.csv", comparison.rows())  # kept up to date as points come
    finding = scratch_needs(comparison, strategies) if "scratch" in strategies else None
    comparison.findings = [finding] if finding else []
    return finish(comparison, run, {"task": task, "strategies": strategies, "sizes": list(sizes),
                                    "seeds": list(seeds), "size_unit": handler.size_unit})


@dataclass
class PointTrainer:
    """Trains one point of a comparison (a strategy on a training set, with a seed) and scores it on the fixed test
    split."""

    estimator_cls: type
    model: str
    params: dict[str, Any]
    verbose: bool
    score_key: str
    test: Any
    test_record: str

    def say(self, line: str) -> None:
        Reporter(self.verbose).say(line)

    def __call__(self, strategy: str, size: int | str, seed: int, train: Any, curve: str | None = None
                 ) -> tuple[Any, CurvePoint]:
        """(the fitted estimator, its point on the curve named ``curve``, by default the strategy's)."""
        start = time.perf_counter()
        estimator = self.estimator_cls(self.model, strategy, seed=seed, verbose=self.verbose, **self.params)
        estimator._measure_changes = False  # a point of a curve is scored, not reported on
        estimator.fit(DataSplits(train, None, self.test, {"test": self.test_record}))
        fit_seconds = time.perf_counter() - start
        scores = estimator.evaluate(self.test)
        metrics = {k: round(float(v), 6) for k, v in scores.items() if isinstance(v, int | float)}
        return estimator, CurvePoint(curve or strategy, size, seed, len(train), float(scores[self.score_key]),
                                     round(fit_seconds, 2), metrics)


def finish(comparison: Comparison, run: PointTrainer, record: dict[str, Any]) -> Comparison:
    """Write the comparison's curves.csv, curves.png and summary.json (with ``record``) and return it."""
    from headstart.reports.curves import plot_curves

    out_dir = comparison.out_dir
    write_csv(out_dir / "curves.csv", comparison.rows())
    plot_curves(comparison, out_dir / "curves.png")
    curves = list(dict.fromkeys(p.strategy for p in comparison.points))
    write_json(out_dir / "summary.json", {
        "model": comparison.model, **record, "score": comparison.score_name,
        "test": {"n": comparison.n_test, "made_from": run.test_record}, "findings": comparison.findings,
        "curves": {name: comparison.curve(name) for name in curves}, "params": run.params,
    })
    return comparison
