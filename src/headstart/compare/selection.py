"""Active against random selection (issue 30): the label-train-label loop simulated on labelled data.

Start from the same seeded draw of labelled examples per class; each round, train, score on the fixed test split,
then choose ``per_round`` more examples of the rest of the data (their labels held back until chosen) by each rule:
``random`` draws them (seeded), ``active`` asks the trained model what to label (``suggest``: one typical, uncertain
input per cluster of the pool, search/active.py). The curves show how much a labelling budget buys under each
rule, and the findings the gap after each round and the seconds each rule took to choose.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.compare.learning_curves import Comparison, CurvePoint, PointTrainer, finish
from headstart.errors import HeadstartError
from headstart.estimators.labelling import rank_pool
from headstart.options import Range, check_range
from headstart.rundir import write_csv
from headstart.tasks import Task

SELECTION_RULES = ("random", "active")
ROUNDS = Range(int, 1, 100)
PER_ROUND = Range(int, 1)


def parse_selection(text: str | Sequence[str]) -> list[str]:
    """``"random,active"`` -> ["random", "active"], each a rule of SELECTION_RULES."""
    rules = [r.strip().lower() for r in (text.split(",") if isinstance(text, str) else text) if r.strip()]
    for rule in rules:
        if rule not in SELECTION_RULES:
            raise HeadstartError(f"cannot read the selection rule '{rule}'; give {' and/or '.join(SELECTION_RULES)}, "
                                 "e.g. --selection random,active")
    if not rules:
        raise HeadstartError("--selection is empty; give random,active")
    return list(dict.fromkeys(rules))


def check_selection(task: Task, selection: Sequence[str], sizes: Sequence[int | str], rounds: Any,
                    per_round: Any) -> tuple[int, int]:
    """(rounds, examples per round), checked (5 and 100 when None), refusing what a selection comparison cannot
    run before any data is read."""
    task.check_unlabeled("--selection")
    parse_selection(selection)
    rounds = check_range("--rounds", 5 if rounds is None else rounds, ROUNDS)
    per_round = check_range("--per-round", 100 if per_round is None else per_round, PER_ROUND)
    if len(sizes) != 1 or sizes[0] == "all":
        raise HeadstartError("with --selection, --sizes is the labelled examples per class to start from: one "
                             "number, e.g. --sizes 10")
    return rounds, per_round


def selection_curves(comparison: Comparison, run: PointTrainer, task: Task, pool: Any, strategies: Sequence[str],
                     start_size: int, seeds: Sequence[int], selection: Sequence[str], rounds: int,
                     per_round: int) -> Comparison:
    """Every strategy, seed and rule through ``rounds`` rounds: one curve per strategy and rule, and chosen.csv
    listing the examples each rule chose in each round."""
    selection = parse_selection(selection)
    loop = Rounds(comparison, run, pool, rounds, per_round)
    for seed in seeds:
        start = set(task.draw_train(pool, start_size, seed).ids)
        first = [i for i, name in enumerate(pool.ids) if name in start]
        rest = [i for i, name in enumerate(pool.ids) if name not in start]
        if rounds * per_round > len(rest):
            raise HeadstartError(f"{pool.source or 'the data'} has {len(rest):,} examples beyond the {len(first):,} "
                                 f"to start from, fewer than --rounds x --per-round = {rounds * per_round:,}; lower "
                                 "either, or start smaller")
        for strategy in strategies:
            fitted = None  # the first round's model is the same for every rule: trained once
            for rule in selection:
                fitted = loop.simulate(strategy, seed, rule, first, rest, fitted)
    comparison.findings = [*gaps(comparison, strategies, selection),
                           f"what each rule chose: {comparison.out_dir / 'chosen.csv'}"]
    return finish(comparison, run, {"task": task.name, "strategies": list(strategies), "selection": selection,
                                    "start_per_class": start_size, "rounds": rounds, "per_round": per_round,
                                    "seeds": list(seeds), "size_unit": comparison.size_unit})


@dataclass
class Rounds:
    """The label-train-label loop of one comparison; ``chosen`` lists what each rule chose (chosen.csv)."""

    comparison: Comparison
    run: PointTrainer
    pool: Any
    rounds: int
    per_round: int
    chosen: list[dict] = field(default_factory=list)

    def simulate(self, strategy: str, seed: int, rule: str, first: list[int], rest: list[int],
                 fitted: tuple | None) -> tuple:
        """One rule's rounds for one strategy and seed, adding a point per round; returns the first round's model
        and point, for the next rule to start from."""
        labelled, remaining = list(first), np.asarray(rest)
        curve = f"{strategy}, {rule}"
        for round_ in range(self.rounds + 1):
            train = self.pool.subset(sorted(labelled))
            self.run.say(f"[bold]{curve}[/], round {round_} of {self.rounds}, seed {seed}: {len(train)} labelled "
                         "examples")
            shared = round_ == 0 and fitted is not None
            if shared:
                estimator, point = fitted[0], CurvePoint(**{**vars(fitted[1]), "strategy": curve, "details": {}})
            else:
                estimator, point = self.run(strategy, len(train), seed, train, curve)
                fitted = fitted or (estimator, point)
            # a shared start is the first rule's model, not trained again: its fit_seconds are that model's
            point.details = {"selection": rule, "round": round_, "shared_start": shared}
            self.comparison.points.append(point)
            if round_ < self.rounds:
                started = time.perf_counter()
                picked = remaining[choose(rule, estimator, self.pool, remaining, self.per_round, seed, round_)]
                point.details["select_seconds"] = round(time.perf_counter() - started, 2)
                labelled.extend(picked.tolist())
                remaining = np.setdiff1d(remaining, picked)
                self.chosen.extend({"strategy": strategy, "selection": rule, "seed": seed, "round": round_ + 1,
                                    "order": order, "id": self.pool.ids[index], "label": self.pool.labels[index]}
                                   for order, index in enumerate(picked.tolist(), start=1))
            out = self.comparison.out_dir
            write_csv(out / "curves.csv", self.comparison.rows())  # kept up to date as points come
            write_csv(out / "chosen.csv", self.chosen)
        return fitted


def choose(rule: str, estimator: Any, pool: Any, remaining: np.ndarray, n: int, seed: int, round_: int) -> np.ndarray:
    """Positions in ``remaining`` (indices of ``pool``) of the ``n`` examples ``rule`` labels next."""
    if rule == "random":
        return np.random.default_rng([seed, round_]).choice(len(remaining), n, replace=False)
    return rank_pool(estimator, [pool.items[i] for i in remaining], n).chosen


def gaps(comparison: Comparison, strategies: Sequence[str], selection: Sequence[str]) -> list[str]:
    """For each strategy: how far active selection is ahead of random after each round (mean over seeds), and the
    mean seconds each rule took to choose a round's examples."""
    lines = []
    for strategy in strategies:
        if {"random", "active"} <= set(selection):
            random = {size: mean for size, mean, _, _ in comparison.curve(f"{strategy}, random")}
            active = {size: mean for size, mean, _, _ in comparison.curve(f"{strategy}, active")}
            ahead = [f"{(active[size] - random[size]) * 100:+.1f}" for size in list(active)[1:]]
            lines.append(f"{strategy}: active selection minus random after each round, points of "
                         f"{comparison.score_name}: {', '.join(ahead)} (at {', '.join(map(str, list(active)[1:]))} "
                         "labels)")
        for rule in selection:
            seconds = [p.details["select_seconds"] for p in comparison.points
                       if p.strategy == f"{strategy}, {rule}" and "select_seconds" in p.details]
            fits = [p.fit_seconds for p in comparison.points if p.strategy == f"{strategy}, {rule}"
                    and not p.details.get("shared_start")]
            lines.append(f"{strategy}, {rule}: {np.mean(seconds):.1f} s to choose a round's examples, "
                         f"{np.mean(fits):.1f} s to train")
    return lines
