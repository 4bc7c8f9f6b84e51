"""What a run's training changed in its pre-trained backbone (issue 33), for every strategy that trains it: per
layer group, the relative change of its weights (and of its normalisation statistics) and the linear CKA of its
representations before and after on the run's own inputs, and, where the model has a source head (the ImageNet
classifier of the image models), the share of its answers on those inputs that training kept
(evaluation/changes.py measures and words it; this module picks the inputs and the models)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from headstart.data.dataset import DataSplits
from headstart.evaluation.changes import (
    activations,
    group_name,
    linear_cka,
    output_module,
    statistics_changes,
    weight_changes,
)
from headstart.models import create_backbone, layer_groups
from headstart.progress import Reporter
from headstart.ranking.rank import split_source_head

MAX_INPUTS = 128  # enough for CKA to rank the groups (its estimate settles at a few dozen inputs); each input costs
# two forward passes
BATCH = 32
MIN_INPUTS = 5


def measured_inputs(splits: DataSplits) -> tuple[str, Any]:
    """(which inputs, them): the validation split; with fewer than ``MIN_INPUTS`` there (CKA on a handful of rows
    says little: on 2 it is always 1), the training examples join them; with none, the training examples."""
    val = splits.val if splits.val is not None and len(splits.val) else None
    if val is not None and len(val) >= MIN_INPUTS:
        return "validation", val
    if val is not None:
        return "training and validation", splits.train.join(val)
    return "training", splits.train


def measure_changes_safely(estimator: Any, splits: DataSplits, reporter: Reporter) -> dict:
    """``measure_changes``, or ``{"measured": False, "why"}`` when it fails (a hub model's weights unreachable
    again...): a measurement beside the run must not cost the trained run; the summary says why it is missing."""
    try:
        return measure_changes(estimator, splits, reporter)
    except Exception as exc:
        return {"measured": False, "why": f"{type(exc).__name__}: {exc}"}


def measure_changes(estimator: Any, splits: DataSplits, reporter: Reporter) -> dict:
    """The record of what training changed, for ``summary.json`` and the report (see ``changes_summary``)."""
    start = time.perf_counter()
    trained = getattr(estimator.model_, "backbone", estimator.model_)  # a detector is its own backbone
    device = next(trained.parameters()).device
    reference = create_backbone(estimator.spec_, pretrained=True, keep_source_head=True)
    source_head = split_source_head(reference)
    reference.to(device)
    if source_head is not None:
        source_head.to(device)
    groups = layer_groups(trained)
    split, data = measured_inputs(splits)
    chosen = np.random.default_rng(estimator.seed).permutation(len(data))[:MAX_INPUTS]
    items = [data.items[i] for i in sorted(chosen)]
    task = estimator._task()
    dataset = task.inputs_dataset(items, None, estimator.preprocessing_, train=False)
    loader = DataLoader(dataset, batch_size=BATCH, collate_fn=getattr(dataset, "collate_fn", None))
    modules = [output_module(trained, group) for group in groups]
    reporter.say(f"  what training changed: {len(groups)} layer groups on {len(items)} {split} inputs")
    batches = list(loader)  # decoded once, for both networks
    before, _, answers_before = activations(reference, modules, batches, source_head)
    after, _, answers_after = activations(trained, modules, batches, source_head)
    rows = []
    for names, moved, statistics, old, new in zip(groups, weight_changes(reference, trained, groups),
                                                  statistics_changes(reference, trained, groups), before, after,
                                                  strict=True):
        # one row per input, or per window where long texts are read in windows: the same rows for both networks
        usable = old is not None and new is not None and len(old) == len(new) >= max(len(items), 3)
        rows.append({"group": group_name(names), "weight_change": _rounded(moved), "statistics_change":
                     _rounded(statistics), "cka": round(linear_cka(old, new), 4) if usable else None,
                     # a group the forward pass never calls (a text model's pooler: its output is not used)
                     **({"unused": True} if old is None and new is None and not moved else {})})
    refit_done = bool(estimator.fit_details_.get("refit", {}).get("done"))
    record = {"groups": rows, "inputs": len(items), "split": split,
              "seen_in_training": split != "validation" or refit_done}
    if answers_before is not None and answers_after is not None:
        record["source"] = {"name": "ImageNet" if source_head.out_features == 1000 else "pre-training",
                            "classes": int(source_head.out_features),
                            "agreement": round(float(np.mean(answers_before == answers_after)), 4)}
    elif (kept := task.source_agreement(reference, trained, items, estimator.preprocessing_)) is not None:
        record["source"] = kept  # a task's own source head (a detector's COCO output layers)
    return {**record, "seconds": round(time.perf_counter() - start, 2)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 5)
