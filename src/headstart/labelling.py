"""``headstart suggest``: the label-train-label loop's files (issue 30).

A run ranks an unlabelled pool and writes the inputs worth labelling first as a table a person fills in (its
``label`` column empty, the model's guess and confidence beside it as hints); ``headstart train DATA --labels FILE``
reads the rows that were filled in. Beside it, the likely label errors of the labelled data (cleanlab), in a second
table. Neither file is ever overwritten: one may hold labels typed by hand.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.errors import HeadstartError
from headstart.estimators import load
from headstart.estimators.unlabeled import with_added_labels
from headstart.files import user_path
from headstart.options import Range, check_range
from headstart.rundir import read_config
from headstart.tasks import get_task

TO_LABEL_HINTS = ("predicted", "confidence", "uncertainty", "distance_to_labelled")
ISSUE_COLUMNS = ("label", "suggested", "label_probability", "suggested_probability")


@dataclass
class Suggestions:
    """What ``suggest`` wrote: the inputs to label (and the file), and the likely label errors (and their file, or
    why they were not checked)."""

    to_label: list[dict]
    to_label_file: Path
    issues: list[dict] = field(default_factory=list)
    issues_file: Path | None = None
    issues_note: str | None = None


def suggest(run: str | Path, pool: Any, n: int = 100, out: str | Path = "to-label.csv", data: str | Path | None = None,
            issues: str | Path | None = None, check_labels: bool = True) -> Suggestions:
    """Rank ``pool`` with the run at ``run`` and write the ``n`` inputs to label first to ``out``, leaving out
    inputs of the labelled data; with ``check_labels``, write the likely label errors of that data to ``issues``
    (default: ``label-issues.csv`` beside ``out``). The labelled data is ``data``, else what the run was trained on
    (read with the same options, the rows added with ``--labels`` included)."""
    n = check_range("-n", n, Range(int, 1))
    target = _fresh(out)
    issues_target = _fresh(issues or target.with_name(f"{target.stem}-issues.csv")) if check_labels else None
    if issues_target == target:
        raise HeadstartError(f"--issues and --out both name {target}; give them different files")
    estimator = load(run)
    task = get_task(estimator.task)
    task.check_unlabeled("suggest")
    labelled, note = _labelled_data(run, estimator, data)
    rows = estimator.suggest(pool, n, labelled, _run_args(run).get("text_column"))
    _write_table(target, [task.input_column, "label", *TO_LABEL_HINTS],
                 [[row["input"], "", *(row[k] for k in TO_LABEL_HINTS)] for row in rows])
    found = Suggestions(rows, target, issues_note=note)
    if not check_labels or labelled is None:
        return found
    try:
        found.issues = estimator.label_issues(labelled)
    except HeadstartError as exc:
        found.issues_note = f"labels not checked: {exc}"
        return found
    _write_table(issues_target, [task.input_column, *ISSUE_COLUMNS],
                 [[row["input"], *(row[k] for k in ISSUE_COLUMNS)] for row in found.issues])
    found.issues_file = issues_target
    return found


def _labelled_data(run: str | Path, estimator: Any, data: str | Path | None) -> tuple[Any, str | None]:
    """(the labelled data, None) or (None, why it cannot be read): ``data``, else the run's own, read as it was."""
    task = get_task(estimator.task)
    if data is not None:
        return task.read(data, seed=estimator.seed), None
    args = _run_args(run)
    if args.get("data") is None:
        return None, "labels not checked: the run does not say what it was trained on; pass --data"
    options = {k: args[k] for k in ("per_class", "test_per_class", "text_column", "label_column")
               if args.get(k) is not None and k in task.read_options}
    try:
        splits = task.read(args["data"], seed=estimator.seed, **options)
        if args.get("labels"):
            splits = with_added_labels(task, splits, args["labels"], estimator.seed)
    except HeadstartError as exc:
        return None, f"labels not checked, labelled inputs not left out of the pool: {exc}; pass --data"
    return splits, None


def _run_args(run: str | Path) -> dict:
    """The data arguments a run was trained with (data, read options, --labels)."""
    return read_config(run).get("data", {}).get("args", {})


def _fresh(path: str | Path) -> Path:
    """``path`` as a file that does not exist yet (one that does may hold labels typed by hand)."""
    target = user_path(path).resolve()
    if target.exists():
        raise HeadstartError(f"{target} exists (it may hold labels you filled in); pass another file name, or move it")
    if not target.parent.is_dir():
        raise HeadstartError(f"the folder of {target} does not exist; create it or pass another file name")
    return target


def _write_table(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write a new table; a file that appeared at ``path`` meanwhile is kept, not replaced."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        with path.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text.getvalue())
    except FileExistsError:
        raise HeadstartError(f"{path} appeared while suggest ran; it was kept: run again with another file name") from None
    except OSError as exc:
        raise HeadstartError(f"cannot write {path} ({exc.strerror or exc}); choose another file name") from exc
