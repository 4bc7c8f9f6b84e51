"""auto: pick the model and the strategy from the data, the ranking, a quick probe and the time budget; say why."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from accelerate.utils import send_to_device
from sklearn.model_selection import cross_val_score
from torch.utils.data import DataLoader

from headstart.compute.device import default_device
from headstart.data.dataset import LabeledData
from headstart.data.splits import sample_per_class
from headstart.errors import HeadstartError
from headstart.features import cached_features
from headstart.features.probe_recipe import (
    C_GRID,
    DEFAULT_C,
    cross_validate,
    cv_folds,
    logistic_regression,
    probe_inputs,
    probe_options,
)
from headstart.models import create_backbone, get_model_spec
from headstart.models.registry import PREPROCESSING_NOTE
from headstart.progress import Reporter
from headstart.strategies.base import budget_epochs
from headstart.strategies.contrastive import Contrastive
from headstart.strategies.head import Head

if TYPE_CHECKING:
    from headstart.tasks.base import Task

FEW_SHOT_PER_CLASS = 20
SEPARABLE = 0.97  # a quick probe this accurate leaves fine-tuning little to gain
RANK_PER_CLASS = 100  # examples per class the ranking and the quick probe look at
TRAIN_COST = 3.0  # a training step (forward, backward, update) costs about three forward passes
SHARE_FOR_CHOOSING = 0.3  # at most this part of the budget goes to ranking the candidates
CLASSICAL_ALPHA = 0.05  # how unlikely under a coin toss the classical model's lead must be for auto to choose it


def choose_strategy(labels: Sequence) -> tuple[str, str]:
    """Return ``(strategy name, reason)`` for training data with these labels, from the data size alone.

    With few examples per class, fine-tuning overfits and its validation signal is noise, while a regularised
    linear probe on frozen features is both strong and nearly free; with more, fine-tuning adapts the features to
    the new domain and wins (see docs/benchmarks.md for the measurements behind the threshold).
    """
    counts = Counter(labels)
    smallest = min(counts.values())
    if smallest < FEW_SHOT_PER_CLASS:
        return "linear-probe", (
            f"the smallest class has {smallest} training examples (< {FEW_SHOT_PER_CLASS}): a linear probe on "
            "frozen features is the most reliable with so little data"
        )
    return "fine-tune", (
        f"every class has at least {smallest} training examples (>= {FEW_SHOT_PER_CLASS}): enough to adapt the "
        "top of the backbone with gradual unfreezing"
    )


def parse_budget(budget: str | float | None) -> float | None:
    """Seconds from ``90``, ``"90s"``, ``"10m"``, ``"1.5h"``; None for no limit."""
    if budget is None or budget == "":
        return None
    if isinstance(budget, int | float):
        seconds = float(budget)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(budget).lower())
        if not match:
            raise HeadstartError(f"cannot read the budget '{budget}'; write it as 90s, 10m or 1.5h")
        seconds = float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    if seconds <= 0:
        raise HeadstartError(f"the budget must be positive, not '{budget}'")
    return seconds


@dataclass
class Plan:
    """What auto chose, why, and the estimates behind it."""

    model: str
    strategy: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def forward_seconds(backbone: torch.nn.Module, task: Task, items: Sequence[Any], preprocessing: dict) -> float:
    """Measured seconds of one forward pass per item: the second batch of 16 (the first one warms up)."""
    dataset = task.inputs_dataset(list(items[:32]), None, preprocessing, train=False)
    loader = DataLoader(dataset, batch_size=16, collate_fn=getattr(dataset, "collate_fn", None))
    device = default_device()
    backbone.eval().to(device)
    per_item = 0.0
    with torch.inference_mode():
        for inputs, targets in loader:
            inputs = send_to_device(inputs, device)
            start = time.perf_counter()
            backbone(inputs)
            per_item = (time.perf_counter() - start) / len(targets)
    return per_item


def estimate_seconds(strategy: str, n_train: int, forward: float, val_share: float = 0.2, refit: bool = True) -> float:
    """Expected wall time of a strategy on ``n_train`` labelled examples, from the forward time per item: the
    guard rail's plain probe extracts every example once more, and with ``refit`` a strategy that sets examples
    aside trains again on all of them (about as long again)."""
    guard = n_train * forward
    if strategy == "linear-probe":
        return n_train * forward + guard
    first = _first_fit_seconds(strategy, n_train, forward, val_share)
    return first + guard + (first if refit else 0.0)


def _first_fit_seconds(strategy: str, n_train: int, forward: float, val_share: float) -> float:
    fit, val = n_train * (1 - val_share), n_train * val_share
    if strategy == "head":
        return (1 + Head.views) * fit * forward + val * forward
    if strategy == "contrastive":  # every example, no validation split; at most max_steps batches of 32
        epochs = max(1, min(Contrastive.default_epochs, Contrastive.max_steps // max(1, n_train // 32)))
        return (epochs * TRAIN_COST + 1) * n_train * forward
    epochs = budget_epochs(int(fit))
    return (2 * fit + val) * forward + epochs * (TRAIN_COST * fit + val) * forward


def quick_probe(features: np.ndarray, labels: Sequence[str], seed: int) -> float:
    """Cross-validated accuracy of a logistic regression on features of the ranking subsample (transformed
    and scaled as the linear probe does it)."""
    folds = int(min(3, min(Counter(labels).values())))
    if folds < 2:
        return float("nan")
    x, _, _ = probe_inputs(features)
    model = logistic_regression(DEFAULT_C, seed)
    return float(cross_val_score(model, x, np.asarray(labels), cv=cv_folds(folds, seed)).mean())


def out_of_fold_correct(features: np.ndarray, labels: Sequence[str], seed: int,
                        defaults: dict | None = None) -> np.ndarray | None:
    """Whether each example is predicted right by a linear probe fitted without it: stratified folds, the features
    and C as the run would fit them (C chosen by cross-validation unless the backbone's ``probe_defaults`` fix it),
    class weights balanced within each fold, so that a fold's majority class does not decide a weak model's answers
    (with a few examples per class, TF-IDF's were all the fold's majority class). None with fewer than 2 examples in a
    class."""
    y = np.asarray(labels)
    folds = int(min(3, min(Counter(labels).values())))
    if folds < 2:
        return None
    defaults = defaults or {}
    x = probe_inputs(features, defaults.get("power"), defaults.get("scale"))[0]
    c = defaults["C"] if "C" in defaults else cross_validate(x, y, C_GRID, folds, seed).C
    correct = np.zeros(len(y), bool)
    for fit_rows, held_out in cv_folds(folds, seed).split(x, y):
        model = logistic_regression(c, seed).set_params(class_weight="balanced").fit(x[fit_rows], y[fit_rows])
        correct[held_out] = model.predict(x[held_out]) == y[held_out]
    return correct


def plan_auto(
    train: LabeledData,
    task: Task,
    candidates: Sequence[str],
    params: dict,
    budget: float | None,
    cache=None,
    reporter: Reporter | None = None,
) -> Plan:
    """Choose a model among ``candidates`` and a strategy for ``train``.

    1. With several candidates, rank them by LogME on up to ``RANK_PER_CLASS`` examples per class (skipped when
       that alone would take more than ``SHARE_FOR_CHOOSING`` of the budget).
    2. A quick probe: a cross-validated logistic regression on those features.
    3. The strategy: the task's ``few_shot_strategy`` (images: the linear probe; text: contrastive, if the budget
       allows) with fewer than ``FEW_SHOT_PER_CLASS`` examples in a class; the linear probe when the quick probe
       already separates the classes; else the first of the task's ``adapting_strategies`` (images:
       fine-tune, head; text: contrastive, head) that the remaining budget allows, or the linear probe (times
       estimated from a measured forward pass).

    A candidate fitted on the data itself (``tfidf``, the classical baseline) is not ranked: its linear probe is
    cross-validated beside the chosen model's, on the same examples and folds, and it is chosen (with the linear
    probe) when it is right on more of them by more than chance (``_classical``).
    """
    from headstart.ranking.rank import rank_models

    reporter = reporter or Reporter()
    start = time.perf_counter()
    n = len(train)
    subsample = sample_per_class(train, RANK_PER_CLASS, int(params.get("seed", 0)))
    steps: list[str] = []
    pretrained = [name for name in candidates if not get_model_spec(name).fitted]
    fitted = [] if params.get("weights") else [name for name in candidates if name not in pretrained]
    if not pretrained:
        name = get_model_spec(candidates[0], params.get("weights")).name  # refuses --weights for a fitted model
        return Plan(name, "linear-probe", f"{name} is fitted on the training data, with no pre-trained layers to "
                    "adapt: a linear probe on its features", {"candidates": list(candidates), "model": name})
    candidates = pretrained
    forwards: dict[str, float] = {}
    backbones: dict[str, torch.nn.Module] = {}
    preprocessings: dict[str, dict] = {}  # each candidate's, as the run would choose it for these inputs
    for name in candidates:
        spec = get_model_spec(name, params.get("weights"))
        task.check_model(spec)
        backbones[name] = create_backbone(spec)
        preprocessings[name] = task.preprocessing(spec, params, train.items)
        preprocessings[name].pop(PREPROCESSING_NOTE, None)
        forwards[name] = forward_seconds(backbones[name], task, subsample.items, preprocessings[name])
    choose_cost = sum(forwards.values()) * len(subsample)
    model = candidates[0]
    ranking = None
    if len(candidates) > 1 and (budget is None or choose_cost <= SHARE_FOR_CHOOSING * budget):
        ranking = rank_models(subsample, candidates, task, params, scores=("logme",), cache=cache, reporter=reporter)
        model = ranking.recommended.model
        steps.append(f"ranked {', '.join(candidates)} on {len(subsample)} examples: {ranking.reason()}")
    elif len(candidates) > 1:
        steps.append(f"kept {model}: ranking {len(candidates)} candidates would take ~{choose_cost:.0f} s of the budget")
    spec = get_model_spec(model, params.get("weights"))
    features = _features(spec, backbones[model], preprocessings[model], task, subsample, params, cache, reporter)
    probe = quick_probe(features, subsample.labels, int(params.get("seed", 0)))
    steps.append(f"a quick linear probe on {len(subsample)} examples scores {probe:.1%} (cross-validated)")
    classical = _classical(fitted, model, features, subsample, task, params, reporter) if fitted else None
    if classical is not None:
        steps.append(classical["message"])
        if classical["chosen"]:
            details = {"candidates": [*candidates, *fitted], "model": classical["model"], "strategy": "linear-probe",
                       "budget_seconds": budget, "choosing_seconds": round(time.perf_counter() - start, 2),
                       "quick_probe_accuracy": probe, "classical": classical,
                       "ranking": [c.to_row() for c in ranking.candidates] if ranking else None}
            return Plan(classical["model"], "linear-probe", "; ".join(steps), details)

    remaining = None if budget is None else budget - (time.perf_counter() - start)
    adapting = task.adapting_strategies
    refit = bool(params.get("refit", True))
    estimates = {s: estimate_seconds(s, n, forwards[model], refit=refit) for s in ("linear-probe", *adapting)}
    by_size, size_reason = choose_strategy(train.labels)
    few_shot = task.few_shot_strategy
    if by_size == "linear-probe" and few_shot != by_size:
        estimates.setdefault(few_shot, estimate_seconds(few_shot, n, forwards[model], refit=refit))
        fits = remaining is None or estimates[few_shot] <= remaining
        strategy = few_shot if fits else by_size
        smallest = min(Counter(train.labels).values())
        limit = "no time limit" if remaining is None else f"{remaining:.0f} s of budget left"
        steps.append(f"the smallest class has {smallest} training examples (< {FEW_SHOT_PER_CLASS}): with so few, "
                     f"{few_shot} is the strongest measured for {task.name} data; it is estimated at "
                     f"{estimates[few_shot]:.0f} s ({limit})" + ("" if fits else ", so the linear probe instead"))
    elif by_size == "linear-probe":
        strategy = by_size
        steps.append(size_reason)
    elif probe >= SEPARABLE:
        strategy = "linear-probe"
        steps.append(f"frozen features already separate the classes (>= {SEPARABLE:.0%}): fine-tuning has little to add")
    else:
        fitting = [s for s in adapting if remaining is None or estimates[s] <= remaining]
        strategy = fitting[0] if fitting else "linear-probe"
        limit = "no time limit" if remaining is None else f"{remaining:.0f} s of budget left"
        others = ", ".join(f"{s} ~{estimates[s]:.0f} s" for s in adapting)
        steps.append(f"{strategy} is estimated at {estimates[strategy]:.0f} s ({limit}; {others})")
    details = {
        "candidates": list(candidates), "model": model, "strategy": strategy, "budget_seconds": budget,
        "choosing_seconds": round(time.perf_counter() - start, 2), "quick_probe_accuracy": probe,
        "forward_seconds_per_item": forwards, "estimated_seconds": {k: round(v, 1) for k, v in estimates.items()},
        "ranking": [c.to_row() for c in ranking.candidates] if ranking else None,
        **({"classical": classical} if classical is not None else {}),
    }
    return Plan(model, strategy, "; ".join(steps), details)


def _classical(fitted: list[str], model: str, features: np.ndarray, data: LabeledData, task: Task, params: dict,
               reporter: Reporter) -> dict | None:
    """The fitted candidates' linear probes cross-validated beside ``model``'s (its ``features`` of ``data``), and
    whether one is chosen: the best of them when it is right on more examples than ``model`` by more than chance (a
    one-sided sign test on the examples exactly one of them gets right, at ``CLASSICAL_ALPHA``): on a few dozen
    examples the two estimates are mostly noise, and the pre-trained model is the one that wins on most data (short
    texts). The reference is ``model``'s linear probe, not the strategy auto may then choose for it (contrastive
    with few examples per class scored a few points above the probe on reviews): the sign test's margin covers that
    much on the sets measured (docs/benchmarks.md). A fitted model's encoding (the TF-IDF vocabulary) is fitted once
    on all of ``data``: it sees the held-out texts' words, not their labels; ``model``'s C is chosen on the same
    folds. A fitted candidate that refuses the run's options (``--max-length``) or the data is left out, and said
    so."""
    from scipy.stats import binomtest

    seed = int(params.get("seed", 0))
    ours = out_of_fold_correct(features, data.labels, seed)
    if ours is None:
        return None
    right, skipped = {}, {}
    for name in fitted:
        spec = get_model_spec(name)
        try:  # e.g. --max-length, which it does not read, or texts without a word it counts
            preprocessing = task.preprocessing(spec, params, data.items)
        except HeadstartError as exc:
            skipped[name] = str(exc)
            continue
        backbone = create_backbone(spec, preprocessing=preprocessing)
        x = _features(spec, backbone, preprocessing, task, data, params, None, reporter)
        right[name] = out_of_fold_correct(x, data.labels, seed, probe_options(backbone))
    if not right:
        reason = "; ".join(f"{name} not considered: {why}" for name, why in skipped.items())
        return {"model": None, "chosen": False, "skipped": skipped, "message": reason}
    best = max(right, key=lambda name: int(right[name].sum()))
    theirs = right[best]
    alone, ours_alone = int((theirs & ~ours).sum()), int((ours & ~theirs).sum())
    p_value = binomtest(alone, alone + ours_alone, 0.5, alternative="greater").pvalue if alone else 1.0
    chosen = bool(p_value < CLASSICAL_ALPHA)
    outcome = (f"{best} is chosen, with a linear probe" if chosen else
               f"{model} is kept" + (f" ({best}'s lead is within chance)" if alone > ours_alone else ""))
    message = (f"{best} cross-validates at {theirs.mean():.1%} against {model}'s {ours.mean():.1%} (linear probes on "
               f"the same {len(data)} examples and folds; right where the other is wrong: {alone} against "
               f"{ours_alone}, sign test p={p_value:.2g}): {outcome}")
    return {"model": best, "chosen": chosen, "accuracy": {model: float(ours.mean()), best: float(theirs.mean())},
            "alone_right": {model: ours_alone, best: alone}, "p_value": float(p_value), "message": message,
            **({"skipped": skipped} if skipped else {})}


def _features(spec, backbone: torch.nn.Module, preprocessing: dict, task: Task, data: LabeledData, params: dict,
              cache, reporter: Reporter) -> np.ndarray:
    dataset = task.inputs_dataset(data.items, None, preprocessing, train=False)
    keys = [task.content_key(item) for item in data.items]
    return cached_features(backbone, dataset, keys, cache, preprocessing,
                           batch_size=max(int(params.get("batch_size", 32)), 64),
                           precision=params.get("precision", "auto"), reporter=reporter,
                           description=f"features ({spec.name}, quick probe)")
