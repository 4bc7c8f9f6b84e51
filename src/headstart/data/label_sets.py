"""Label sets (multi-label data, issue 29): reading them from a table's cells or 0/1 columns, and the splits, draws
and checks that single-label data gets in ``splits.py``, for sets.

Cells hold a set as labels joined by one separator (``cat|dog``, ``cat;dog``, ``cat,dog``), as a JSON list
(``["cat", "dog"]``), or as the Python list pandas writes (``['cat', 'dog']``); an empty cell is the empty set. A table
without a label column but with two or more columns of 0/1 values is a "one-hot" table: each such column is a label.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits, LabeledData, LabelSets
from headstart.data.splits import with_validation
from headstart.errors import HeadstartError

SEPARATORS = ("|", ";", ",")
DETECTED_SEPARATORS = ("|", ";")  # a single-label table may hold "Washington, D.C.": "," only with --multi-label
TRUE_CELLS = frozenset({"1", "1.0", "true", "yes"})
FALSE_CELLS = frozenset({"0", "0.0", "false", "no", ""})
UNCERTAIN_CELLS = frozenset({"-1", "-1.0"})


def _listed(cell: str) -> list | None:
    """A cell written as a JSON or Python list, as a list; None for any other cell."""
    text = cell.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    for parse in (json.loads, ast.literal_eval):  # literal_eval reads literals only: no code runs
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, list):
            return value
    return None


def _separators_in(cell: Any) -> set[str]:
    if not isinstance(cell, str) or _listed(cell) is not None:
        return set()
    return {sep for sep in SEPARATORS if sep in cell}


def detect_separator(cells: Sequence[Any], rows: Sequence[str], where: str, allowed: Sequence[str] = SEPARATORS
                     ) -> str | None:
    """The one separator the label sets of ``cells`` are written with (None: no cell holds several labels).

    ``rows`` names each cell's row for messages. '|' and ';' are never part of a label, so a comma beside one of
    them is part of a label ("news|Washington, D.C."); cells joined by '|' and by ';' cannot be read unambiguously:
    that is an error naming a row of each."""
    first: dict[str, str] = {}
    for cell, row in zip(cells, rows, strict=True):
        for sep in _separators_in(cell) & set(allowed):
            first.setdefault(sep, f"{row}: {str(cell)[:60]!r}")
    strong = [sep for sep in first if sep != ","]
    if len(strong) > 1:
        shown = "; ".join(f"'{sep}' in {first[sep]}" for sep in strong)
        raise HeadstartError(f"{where}: the label column joins labels with different separators ({shown}); write "
                             "every label set with one separator, e.g. cat|dog")
    return strong[0] if strong else ("," if "," in first else None)


def parse_label_set(cell: Any, separator: str | None, row: str, where: str) -> tuple[str, ...] | None:
    """One cell as a label set (an empty cell or list: the empty set); None for a missing one (a JSON null or no
    key: unlabelled, not "none of the labels"). ``row`` and ``where`` name a cell that is not a set in the error."""
    if cell is None:
        return None
    if cell == "":
        return ()
    if isinstance(cell, str):
        listed = _listed(cell)
        if listed is None:
            parts = cell.split(separator) if separator else [cell]
            return tuple(sorted({part.strip() for part in parts if part.strip()}))
        cell = listed
    if isinstance(cell, list | tuple):
        if any(isinstance(value, list | tuple | dict) for value in cell):
            raise HeadstartError(f"{where} {row}: a label set holds a nested list or object ({str(cell)[:60]}); "
                                 "write a flat list of label names")
        return tuple(sorted({str(value).strip() for value in cell if str(value).strip()}))
    if isinstance(cell, dict):
        raise HeadstartError(f"{where} {row}: the label is a JSON object ({str(cell)[:60]}); write a list of "
                             "label names, e.g. [\"cat\", \"dog\"]")
    return (str(cell).strip(),) if str(cell).strip() else ()


def looks_like_sets(cells: Sequence[Any]) -> str | None:
    """Why ``cells`` (a label column) hold label sets, or None: a list, or labels joined by '|' or ';'."""
    for cell in cells:
        if isinstance(cell, list | tuple) or (isinstance(cell, str) and _listed(cell) is not None):
            return "its label column holds lists"
        found = _separators_in(cell) & set(DETECTED_SEPARATORS)
        if found:
            return f"its label column joins labels with '{next(iter(found))}'"
    return None


def one_hot_columns(header: Sequence[str], rows: Sequence[Sequence[Any]], skip: set[int]) -> list[int]:
    """The columns of ``rows`` (outside ``skip``) that hold only 0/1 values: a one-hot table's labels. Fewer than
    two such columns is not a one-hot table (an empty list)."""
    found, uncertain = [], []
    for j, _ in enumerate(header):
        if j in skip:
            continue
        values = {str(row[j]).strip().lower() if j < len(row) and row[j] is not None else "" for row in rows}
        if values and values <= (TRUE_CELLS | FALSE_CELLS) and values & TRUE_CELLS:
            found.append(j)
        elif values & UNCERTAIN_CELLS and values <= (TRUE_CELLS | FALSE_CELLS | UNCERTAIN_CELLS):
            uncertain.append(str(header[j]))
    if uncertain and len(found) + len(uncertain) >= 2:
        raise HeadstartError(f"column(s) {', '.join(uncertain[:5])} hold -1 beside 0/1 (uncertain, as CheXpert "
                             "writes it): map -1 to 0 or to 1 first (the U-Zeros or U-Ones policy), then train")
    return found if len(found) >= 2 else []


def one_hot_set(row: Sequence[Any], header: Sequence[str], columns: Sequence[int]) -> tuple[str, ...]:
    return tuple(sorted(header[j].strip() for j in columns
                        if j < len(row) and str(row[j]).strip().lower() in TRUE_CELLS))


# -- splits, draws and checks ------------------------------------------------------------------------------------
def check_trainable_sets(data: LabelSets, where: str) -> None:
    """Refuse label sets nothing can be learned from, saying what to add."""
    if len(data) == 0:
        raise HeadstartError(f"no labelled examples found in {where}")
    if not data.classes:
        raise HeadstartError(f"no item in {where} has a label; give each item its labels (an empty set only for "
                             "items with none of them)")
    if len(set(data.labels)) == 1:
        shown = ", ".join(data.labels[0]) or "none"
        raise HeadstartError(f"every item in {where} has the same labels ({shown}): there is nothing to tell apart; "
                             "add items with other label sets")
    counts = data.class_counts()
    for label in data.classes:
        if counts[label] < 2:
            raise HeadstartError(f"label '{label}' in {where} is on a single item; give every label at least 2 "
                                 "(better 10 or more), or remove it")
        if counts[label] == len(data):
            raise HeadstartError(f"label '{label}' is on every one of the {len(data)} items in {where}: nothing "
                                 "shows the model when it is absent; add items without it, or remove the label")


def split_label_sets(train: LabelSets, val_size: float, seed: int) -> tuple[LabelSets, LabelSets | None, dict]:
    """A validation part of ``train`` that keeps each label's share (iterative stratification, Sechidis et al.
    2011, from the iterative-stratification package); too little data gives none."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    n_val = max(round(val_size * len(train)), 2)
    if val_size <= 0 or len(train) - n_val < 4:
        return train, None, {"val": "none", "reason": "too few examples for a validation split"}
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    fit_idx, val_idx = next(splitter.split(np.zeros(len(train)), stratification_targets(train.indicator(train.classes))))
    record = {"val": "stratified by label (iterative)", "val_size": val_size, "seed": seed, "n_val": int(n_val)}
    return train.subset(sorted(fit_idx)), train.subset(sorted(val_idx)), record


def stratification_targets(y: np.ndarray) -> np.ndarray:
    """``y`` as iterative stratification reads it: one label (present or not) becomes two columns, since a single
    column is "binary" to it, not a set."""
    return np.c_[y, 1 - y] if y.shape[1] == 1 else y


def with_validation_sets(splits: DataSplits, val_size: float, seed: int) -> DataSplits:
    """``splits`` with a validation split carved out of train when none is given (recorded, warned when none)."""
    return with_validation(splits, val_size, seed, split_label_sets,
                           "no validation split: too few examples; early stopping, model selection and per-label "
                           "thresholds are off (every label's threshold is 0.5)")


def sample_per_label(data: LabelSets, per_label: int, seed: int) -> LabelSets:
    """Items such that each label is on at least ``per_label`` of them where the data has that many (and at most
    ``per_label`` items with no label): the first ``per_label`` carriers of each label in one seeded order. Nested: a
    larger draw contains a smaller one. Labels that come with others are drawn more often than ``per_label``."""
    order = np.random.default_rng(seed).permutation(len(data))
    keep: set[int] = set()
    for label in [*data.classes, None]:
        carriers = [i for i in order if (label in data.labels[i] if label is not None else not data.labels[i])]
        keep.update(int(i) for i in carriers[:per_label])
    return data.subset(sorted(keep))


# -- tables --------------------------------------------------------------------------------------------------------
SET_COLUMNS = ("labels", "label", "tags", "findings", "classes", "class", "categories", "category", "target", "y")


def find_column(header: Sequence[str], candidates: Sequence[str], wanted: str | None = None) -> int | None:
    """The index of ``wanted`` (exactly), else of the first of ``candidates`` present (any case); None if none."""
    if wanted:
        return header.index(wanted) if wanted in header else None
    lowered = [str(h).strip().lower() for h in header]
    return next((lowered.index(name) for name in candidates if name in lowered), None)


def table_label_sets(header: Sequence[str], rows: Sequence[Sequence[Any]], label_col: int | None, skip: set[int],
                     where: str, row_names: Sequence[str]) -> tuple[list[tuple[str, ...] | None], dict]:
    """Each row's label set (None: unlabelled, see parse_label_set), from the label column (its separator detected
    and recorded) or, with none, from the table's 0/1 columns; and a record of which it was."""
    if label_col is not None:
        cells = [row[label_col] if label_col < len(row) else None for row in rows]
        separator = detect_separator(cells, row_names, where)
        sets = [parse_label_set(cell, separator, name, where) for cell, name in zip(cells, row_names, strict=True)]
        return sets, {"label_column": header[label_col], "separator": separator}
    columns = one_hot_columns(header, rows, skip)
    if not columns:
        shown = ", ".join(str(h) for j, h in enumerate(header) if j not in skip) or "none"
        raise HeadstartError(f"{where} has no label column and no 0/1 label columns (other columns: {shown}); add a "
                             "'labels' column (sets joined by |, e.g. cat|dog) or one 0/1 column per label")
    return [one_hot_set(row, header, columns) for row in rows], {"one_hot_columns": [header[j] for j in columns]}


def table_holds_sets(header: Sequence[str], rows: Sequence[Sequence[Any]], label_col: int | None, skip: set[int]
                     ) -> str | None:
    """Why a table's labels are sets (a reason to say), or None when they read as one label per row."""
    if label_col is not None:
        return looks_like_sets([row[label_col] for row in rows if label_col < len(row)])
    columns = one_hot_columns(header, rows, skip)
    return f"it has no label column and {len(columns)} columns of 0/1 values" if columns else None


def merge_same_content(items: list[Any], labels: list[tuple[str, ...]], ids: list[str], keys: list[str]
                       ) -> tuple[list[Any], list[tuple[str, ...]], list[str], int]:
    """One item per content ``key``, with the union of the labels its copies carry (an image in several class
    folders); returns the merged lists and how many copies were folded in."""
    first: dict[str, int] = {}
    merged_items, merged_labels, merged_ids = [], [], []
    for item, label_set, item_id, key in zip(items, labels, ids, keys, strict=True):
        if key in first:
            j = first[key]
            merged_labels[j] = tuple(sorted(set(merged_labels[j]) | set(label_set)))
            continue
        first[key] = len(merged_items)
        merged_items.append(item)
        merged_labels.append(tuple(label_set))
        merged_ids.append(item_id)
    return merged_items, merged_labels, merged_ids, len(items) - len(merged_items)


def merge_repeated_rows(items: list[Any], labels: list[tuple[str, ...]], ids: list[str], where: str
                        ) -> tuple[list[Any], list[tuple[str, ...]], list[str], list[str]]:
    """A table written one row per (item, label): rows naming the same item (a path, a text) become one item with
    all their labels; returns the merged lists and a warning saying how many rows were folded in."""
    merged_items, merged_labels, merged_ids, folded = merge_same_content(items, labels, ids, [str(i) for i in items])
    note = [f"{folded} row(s) of {where} repeat an item of an earlier row: each such item is one item with all "
            "its rows' labels"] if folded else []
    return merged_items, merged_labels, merged_ids, note


def table_splits(parts: dict[str, tuple[list, list, list]], source: str, record: dict, warnings: list[str],
                 multi_label: bool) -> DataSplits:
    """A table's rows, gathered per split as (items, labels, ids), as ``DataSplits``: label sets for
    ``multi_label``, with rows naming the same item merged (a table written one row per (item, label))."""
    warnings = list(warnings)
    if multi_label:
        for name, columns in list(parts.items()):
            *merged, note = merge_repeated_rows(*columns, f"{source} ({name})")
            parts[name], warnings = tuple(merged), warnings + note
    kind = LabelSets if multi_label else LabeledData
    data = {name: kind(*columns, source=source) for name, columns in parts.items()}
    return DataSplits(data["train"], data.get("val"), data.get("test"), record, warnings)
