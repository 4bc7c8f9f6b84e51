"""Text inputs: CSV, TSV and JSONL files with a text column and a label column, with problems counted, not hidden."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from headstart.data.dataset import DataSplits
from headstart.data.encoding import EXPECTED, decode_table
from headstart.data.images import SPLIT_NAMES
from headstart.data.label_sets import (
    SET_COLUMNS,
    find_column,
    one_hot_columns,
    table_holds_sets,
    table_label_sets,
    table_splits,
)
from headstart.errors import HeadstartError, listed
from headstart.files import user_path

TEXT_COLUMNS = ("text", "sentence", "review", "content", "body", "message", "document", "question", "utterance")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target", "sentiment", "intent", "topic", "y")
TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")


def _decode(raw: bytes, path: Path) -> tuple[str, int]:
    """The text of ``path`` (UTF-8, or UTF-16 with a byte-order mark), with undecodable bytes replaced; returns the
    text and how many lines had such bytes."""
    return decode_table(raw, path, replace=True)


def _rows(path: Path, text: str) -> list[dict]:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HeadstartError(f"{path} line {line_no} is not valid JSON ({exc.msg}); write one object per line") from exc
            if not isinstance(row, dict):
                raise HeadstartError(f"{path} line {line_no} is not a JSON object; write one object per line")
            rows.append({"_line": line_no, **row})
        return rows
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return [{"_line": i, **row} for i, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise HeadstartError(f"{path} line {reader.line_num} is not valid {path.suffix[1:].upper()} ({exc}); "
                             "check its quoting") from exc


def _column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, path: Path) -> str:
    lowered = {c.strip().lower(): c for c in columns if c}
    if wanted:
        if wanted in columns:
            return wanted
        raise HeadstartError(f"{path} has no column '{wanted}' (columns: {listed(columns)}); pass the right --{what}-column")
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise HeadstartError(
        f"{path} has no {what} column (columns: {listed(c for c in columns if c != '_line')}); "
        f"name it '{candidates[0]}' or pass --{what}-column"
    )


def _table(path: Path) -> tuple[list[dict], list[str], int]:
    """(rows, their named columns, lines with undecodable bytes) of a text file."""
    if not path.is_file():
        raise HeadstartError(f"text file not found: {path}; pass a .csv, .tsv or .jsonl file")
    text, bad_lines = _decode(path.read_bytes(), path)
    rows = _rows(path, text)
    if not rows:
        raise HeadstartError(f"{path} has no rows; expected a header with a text and a label column")
    # Only named columns: csv gives extra cells of a long row under None, and JSON keys are always strings.
    columns = list(dict.fromkeys(k for row in rows for k in row if isinstance(k, str) and k != "_line"))
    return rows, columns, bad_lines


def _set_columns(columns: list[str], rows: list[list], text_col: str, label_column: str | None, path: Path,
                 detecting: bool = False) -> tuple[int | None, set]:
    """(the label column's index, None for a one-hot table; the columns that are not labels) of a multi-label text
    table. A label-set name ("labels", "tags") first, then two or more 0/1 columns, then a single-label name
    ("sentiment", "topic"); when ``detecting``, a table with a single-label name is not taken for a one-hot one
    ("review,sentiment,verified" with 0/1 cells is ambiguous: read as it always was)."""
    if label_column and label_column not in columns:
        raise HeadstartError(f"{path} has no column '{label_column}' (columns: {listed(columns)}); pass the right "
                             "--label-column")
    skip = {columns.index(text_col)} | {j for j, c in enumerate(columns) if c.strip().lower() in ("split", "id")}
    found = find_column(columns, SET_COLUMNS, label_column)
    if found is not None:
        return found, skip
    single = find_column(columns, LABEL_COLUMNS)
    if single is not None and (detecting or not one_hot_columns(columns, rows, skip)):
        return single, skip
    return None, skip


def text_table_sets(path: Path, text_column: str | None = None, label_column: str | None = None) -> str | None:
    """Why the text table at ``path`` holds label sets (lists, labels joined by | or ;, or 0/1 columns), or None."""
    rows, columns, _ = _table(path)
    text_col = _column(columns, text_column, TEXT_COLUMNS, "text", path)
    cells = [[row.get(c) for c in columns] for row in rows]
    label_col, skip = _set_columns(columns, cells, text_col, label_column, path, detecting=True)
    return table_holds_sets(columns, cells, label_col, skip)


def read_text_file(path: Path, text_column: str | None = None, label_column: str | None = None,
                   multi_label: bool = False) -> DataSplits:
    """Read labelled texts; an optional ``split`` column (train/val/test) is honoured. With ``multi_label`` each
    row has a label set (data/label_sets.py: a list, labels joined by one separator, or 0/1 columns); an empty one
    is kept, as a text with none of the labels.

    Empty texts and missing labels are skipped, exact duplicate (text, label) rows are dropped, and undecodable
    bytes are replaced; each is counted in the warnings.
    """
    rows, columns, bad_lines = _table(path)
    text_col = _column(columns, text_column, TEXT_COLUMNS, "text", path)
    record: dict = {"layout": path.suffix.lower().lstrip("."), "text_column": text_col}
    if multi_label:
        cells = [[row.get(c) for c in columns] for row in rows]
        index, skip = _set_columns(columns, cells, text_col, label_column, path)
        sets, found = table_label_sets(columns, cells, index, skip, str(path), [f"line {row['_line']}" for row in rows])
        record.update(found)
    else:
        label_col = _column(columns, label_column, LABEL_COLUMNS, "label", path)
        record["label_column"] = label_col
    split_col = next((c for c in columns if c.strip().lower() == "split"), None)
    parts: dict[str, tuple[list, list, list]] = {}
    seen: set[tuple[str, Any]] = set()
    empty, unlabeled, duplicates = [], [], 0
    for number, row in enumerate(rows):
        value = row.get(text_col)
        value = "" if value is None else str(value).strip()
        if multi_label:
            label: Any = sets[number]
        else:
            label = row.get(label_col)
            if isinstance(label, list | dict):
                raise HeadstartError(f"{path} line {row['_line']}: the label is a JSON {type(label).__name__}, not "
                                     "one label; for several labels per text pass --multi-label")
            label = "" if label is None else str(label).strip()
        if not value:
            empty.append(row["_line"])
            continue
        if label is None or (not multi_label and not label):
            unlabeled.append(row["_line"])
            continue
        if (value, label) in seen:
            duplicates += 1
            continue
        seen.add((value, label))
        split = SPLIT_NAMES.get(str(row.get(split_col, "train")).strip().lower(), "train") if split_col else "train"
        items, labels, ids = parts.setdefault(split, ([], [], []))
        items.append(value)
        labels.append(label)
        ids.append(f"line {row['_line']}")
    warnings = []
    if bad_lines:
        warnings.append(f"{bad_lines} line(s) of {path} had bytes that are not UTF-8; they were replaced by '\ufffd' "
                        f"(headstart reads {EXPECTED}; re-save the file as UTF-8 to keep them)")
    if empty:
        warnings.append(f"skipped {len(empty)} empty text(s) in {path}, e.g. line {empty[0]}")
    if unlabeled:
        warnings.append(f"skipped {len(unlabeled)} row(s) without a label in {path}, e.g. line {unlabeled[0]}")
    if duplicates:
        warnings.append(f"dropped {duplicates} duplicate row(s) in {path}")
    if "train" not in parts:
        raise HeadstartError(f"no usable training rows in {path}; every row was empty, unlabelled or not 'train'")
    return table_splits(parts, str(path), record, warnings, multi_label)


def _refuse_a_path(entry: str) -> None:
    """A folder or a file named as a text is almost surely a mistake (an image for a text run, or a forgotten @)."""
    if "\n" in entry or len(entry) > 4096:
        return
    path = user_path(entry)
    if path.is_dir():
        raise HeadstartError(f"{entry} is a folder, but this is a text model; pass texts, @FILE (one per line) or -")
    if path.is_file():
        raise HeadstartError(f"{entry} is a file: this text model reads texts, so pass @{entry} for its lines")


def read_texts(inputs: list[str]) -> list[str]:
    """What ``predict`` gets for text: the arguments themselves, lines of ``@file``, or lines of stdin for ``-``."""
    texts: list[str] = []
    for number, entry in enumerate(inputs, start=1):
        if not entry.strip():
            raise HeadstartError(f"input {number} is an empty text; give a text to classify")
        if entry == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
        elif entry.startswith("@"):
            path = user_path(entry[1:])
            if not path.is_file():
                raise HeadstartError(f"no such file: {path} (an argument starting with @ names a file of texts)")
            texts.extend(line for line in _decode(path.read_bytes(), path)[0].splitlines() if line.strip())
        else:
            _refuse_a_path(entry)
            texts.append(entry)
    if not texts:
        raise HeadstartError("no texts given: pass texts as arguments, @FILE (one per line), or - for stdin")
    return texts
