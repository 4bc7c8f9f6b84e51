"""An unlabelled pool beside the labelled data (issue 30): read it, leave out what must not be used, and turn it into
pseudo-labelled examples that the run's strategy trains on with the labelled ones."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits, LabeledData, Unlabeled
from headstart.errors import HeadstartError
from headstart.progress import Reporter
from headstart.strategies import FitContext, Split, Strategy
from headstart.strategies.pseudo_labels import PseudoLabelling, pseudo_label
from headstart.tasks import Task

# A strategy that trains the backbone passes every training input through it every epoch: by default it takes at most
# this many pseudo-labelled inputs per labelled one (the most confident), so a pool of 60,000 images does not turn a
# ten-minute fine-tune into hours. Frozen-backbone strategies take them all (their features are computed once).
TRAINED_POOL_RATIO = 4


def refuse_untrained(strategy: Strategy) -> None:
    if not strategy.pretrained:
        raise HeadstartError(f"--unlabeled needs a pre-trained model to label the pool with; {strategy.name} trains "
                             "from random weights (the reference without transfer): leave --unlabeled out or choose "
                             "another strategy")


def as_pool(task: Task, unlabeled: Any, text_column: str | None = None, reporter: Reporter | None = None) -> Unlabeled:
    """``unlabeled`` as a pool: a path the task reads (folder, glob, CSV, text file: ``text_column`` names a table's
    text column), ``Unlabeled``, inputs, or ``LabeledData`` whose labels are kept only to score the pseudo-labels
    (never trained on). ``reporter`` shows the progress of reading a large one."""
    task.check_unlabeled()
    if isinstance(unlabeled, Unlabeled):
        pool = unlabeled
    elif isinstance(unlabeled, LabeledData):
        pool = Unlabeled(list(unlabeled.items), unlabeled.source or "given inputs", ids=list(unlabeled.ids),
                         labels=list(unlabeled.labels))
    elif isinstance(unlabeled, str | Path):
        pool = task.read_unlabeled(unlabeled, text_column, reporter)
    else:
        pool = Unlabeled(list(unlabeled), "given inputs")
    if not len(pool):
        raise HeadstartError(f"the unlabelled pool {pool.source} is empty; give a folder, file or glob with inputs")
    return pool


@dataclass
class NewInputs:
    """A pool's inputs that are not in the labelled data, their content keys, and what was left out and why."""

    pool: Unlabeled
    keys: list[str]
    left_out: dict[str, int]


def prepare_pool(task: Task, unlabeled: Any, splits: DataSplits, strategy: Strategy,
                 reporter: Reporter | None = None) -> NewInputs:
    """Read ``unlabeled`` and keep its new inputs, refusing what cannot work before anything is trained."""
    refuse_untrained(strategy)
    pool = as_pool(task, unlabeled, reporter=reporter)
    return NewInputs(*new_items(task, pool, splits, reporter))


def new_items(task: Task, pool: Unlabeled, splits: DataSplits,
              reporter: Reporter | None = None) -> tuple[Unlabeled, list[str], dict[str, int]]:
    """(the pool without the inputs of the labelled data, test split included, and without repeats; their content
    keys; how many were left out and why). Test inputs are left out too: learning from them, even unlabelled, would
    make the test score optimistic."""
    labelled = labelled_keys(task, splits)
    keep, keys, seen = [], [], set()
    again = repeated = 0
    items = (reporter or Reporter()).track(pool.items, len(pool), "comparing the unlabelled inputs with the labelled")
    for index, item in enumerate(items):
        key = task.content_key(item)
        if key in labelled:
            again += 1
        elif key in seen:
            repeated += 1
        else:
            seen.add(key)
            keep.append(index)
            keys.append(key)
    left_out = {"labelled_already": again, "repeated": repeated, "unreadable": len(pool.skipped)}
    if not keep:
        raise HeadstartError(f"all {len(pool)} inputs of the unlabelled pool {pool.source} are labelled already or "
                             "repeated; give inputs you have not labelled")
    return pool.subset(keep), keys, left_out


def labelled_keys(task: Task, splits: DataSplits) -> set[str]:
    """The content keys of every labelled input, test split included."""
    return {task.content_key(item) for part in splits.parts() for item in part.items}


def left_out_lines(pool: Unlabeled, left_out: dict[str, int]) -> list[str]:
    """The run's warnings about the pool: what was left out of it, and why."""
    lines = []
    if left_out["labelled_already"]:
        lines.append(f"{left_out['labelled_already']} input(s) of the unlabelled pool {pool.source} are in the "
                     "labelled data (same content); left out of the pool")
    if left_out["repeated"]:
        lines.append(f"{left_out['repeated']} input(s) of the unlabelled pool repeat another one; used once")
    if pool.skipped:
        lines.append(f"{len(pool.skipped)} input(s) of the unlabelled pool {pool.source} cannot be used and were left "
                     f"out, e.g. {pool.skipped[0]}")
    return lines


def pseudo_labelled(model: Any, train: Split, new: NewInputs, classes: Sequence[str], ctx: FitContext,
                    reporter: Reporter, options: PseudoLabelling | None = None
                    ) -> tuple[LabeledData, list[str], dict, list[Any]]:
    """(the pool's pseudo-labelled inputs, their content keys, the record of how they were chosen, the pool's inputs
    not flagged unlike the labelled examples), from the pre-trained backbone of ``model`` (before any training)."""
    pool, keys = new.pool, new.keys
    start = time.perf_counter()
    reporter.say(f"unlabelled pool: {len(pool)} inputs from {pool.source}")
    found = pseudo_label(model, train, Split(pool.items, None, keys), ctx, options)
    rows = found.rows.tolist()
    labels = [str(classes[t]) for t in found.targets]
    chosen = LabeledData([pool.items[i] for i in rows], labels, [pool.ids[i] for i in rows], pool.source)
    record = {"source": pool.source, "pool": len(pool), **found.record(list(classes)),
              "seconds": round(time.perf_counter() - start, 2)}
    record["left_out"] = {**new.left_out, **record["left_out"]}
    if pool.labels is not None:  # true labels kept aside (benchmarks): how right the pseudo-labels are
        truth = [pool.labels[i] for i in rows]
        record["pseudo_label_accuracy"] = float(np.mean(np.asarray(truth) == np.asarray(labels))) if rows else None
    accuracy = record.get("pseudo_label_accuracy")
    reporter.say(f"  {len(rows)} pseudo-labelled inputs join the {len(train)} labelled ones"
                 + (f" (pseudo-label accuracy {accuracy:.1%})" if accuracy is not None else ""))
    return chosen, [keys[i] for i in rows], record, [pool.items[i] for i in found.usable.tolist()]


def with_added_labels(task: Task, splits: DataSplits, source: str | Path, seed: int = 0) -> DataSplits:
    """``splits`` with the labelled rows of ``source`` (a table ``headstart suggest`` wrote and a person filled in)
    added to its training split; rows left empty are skipped, and inputs already in the data (same content) keep
    the data's label and split (a test input must not become a training one)."""
    task.check_unlabeled("--labels")
    try:
        added = task.read(source, seed=seed)
    except HeadstartError as exc:
        hint = "; fill in the label column of the rows you labelled" if "no usable training rows" in str(exc) else ""
        raise HeadstartError(f"--labels {source}: {exc}{hint}") from None
    rows = added.joined()
    classes = set(splits.classes)
    strange = sorted({str(label) for label in rows.labels} - classes)
    if strange:
        raise HeadstartError(f"--labels {source}: {', '.join(repr(s) for s in strange[:3])} "
                             f"{'is not a class' if len(strange) == 1 else 'are not classes'} of the data (its classes: "
                             f"{', '.join(sorted(classes))}); fix the typo, or add the class to the data itself")
    known = labelled_keys(task, splits)
    keep, labels_of, repeated = [], {}, 0
    for index, (item, label) in enumerate(zip(rows.items, rows.labels, strict=True)):
        key = task.content_key(item)
        if key in labels_of:
            if labels_of[key] != label:
                raise HeadstartError(f"--labels {source}: {rows.ids[index]} is labelled both {labels_of[key]!r} and "
                                     f"{label!r}; keep one row for it")
            repeated += 1
        elif key not in known:
            labels_of[key] = label
            keep.append(index)
    warnings = list(added.warnings)  # rows left empty are counted there
    already = len(rows) - len(keep) - repeated
    if already:
        warnings.append(f"{already} row(s) of {source} are in the data already (same content); they keep the "
                        "data's label")
    if repeated:
        warnings.append(f"{repeated} row(s) of {source} repeat another row; used once")
    train = splits.train.join(rows.subset(keep))
    record = {**splits.record, "added_labels": {"source": str(source), "rows": len(keep)}}
    return DataSplits(train, splits.val, splits.test, record, [*splits.warnings, *warnings])
