"""Unlabelled pools (issue 30): the same sources as labelled data, read without labels.

Images: a folder (searched recursively), a glob, one file, or a CSV/TSV with a path column (a label column there is
ignored). Texts: a file with one text per line, or a CSV/TSV/JSONL table with a text column. Inputs that cannot be
used (unreadable images, empty texts) are left out and counted; a pool of the other modality, or with nothing usable
in it, is refused in one line that names the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.data.dataset import Unlabeled
from headstart.data.images import (
    IMAGE_EXTENSIONS,
    PATH_COLUMNS,
    _missing,
    _pick_column,
    _read_table,
    _row_path,
    check_image_file,
    expand_image_inputs,
)
from headstart.data.texts import TEXT_COLUMNS, TEXT_SUFFIXES, _column, _decode, _table
from headstart.errors import HeadstartError
from headstart.files import user_path
from headstart.progress import Reporter

TEXT_FILES = frozenset({".txt", ".text", ".md", *TEXT_SUFFIXES})
IMAGE_POOL = "a folder, glob or CSV of images"
TEXT_POOL = "a text file (one text per line) or a CSV/TSV/JSONL file with a text column"


def _where(source: Any) -> str:
    text = str(source)
    if not text.strip():
        raise HeadstartError("the unlabelled pool is an empty name; give a folder, file or glob")
    return text


def read_image_pool(source: str | Path, reporter: Reporter | None = None) -> Unlabeled:
    """The images of ``source``; files that are not readable images are skipped and counted. Each file's header is
    read (``reporter`` shows the progress: 100,000 files take tens of seconds)."""
    where = _where(source)
    path = user_path(where)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        paths, skipped = _table_paths(path)
    elif path.is_file() and path.suffix.lower() in TEXT_FILES:
        raise HeadstartError(f"the unlabelled pool {where} is a text file, but this is an image model; give "
                             f"{IMAGE_POOL}")
    else:
        paths, skipped = expand_image_inputs([where]), []
    usable = []
    for name in (reporter or Reporter()).track(paths, len(paths), "checking the unlabelled images"):
        problem = check_image_file(Path(name))
        if problem:
            skipped.append(f"{name}: {problem}")
        else:
            usable.append(name)
    if not paths and not skipped:
        raise HeadstartError(f"no images listed in the unlabelled pool {where}; give {IMAGE_POOL}")
    if not usable:
        texts = sum(Path(p).suffix.lower() in TEXT_FILES for p in paths)
        hint = " (they are text files: this is an image model)" if texts else ""
        raise HeadstartError(f"no usable images in the unlabelled pool {where}{hint}: {len(skipped)} left out, e.g. "
                             f"{skipped[0]}; give {IMAGE_POOL}")
    # Named by absolute path: the tables headstart writes about them are read from another folder.
    return Unlabeled(usable, where, skipped, [str(Path(name).resolve()) for name in usable])


def _table_paths(path: Path) -> tuple[list[str], list[str]]:
    header, body = _read_table(path)
    column = _pick_column(header, PATH_COLUMNS, "image path", path)
    paths, skipped = [], []
    for line_no, row in body:
        cell = row[column].strip() if len(row) > column else ""
        image = _row_path(cell, path.parent)
        problem = "no image path" if not cell else _missing(image)
        if problem:
            skipped.append(f"{path} row {line_no}: {problem}")
        else:
            paths.append(str(image))
    return paths, skipped


def read_text_pool(source: str | Path, text_column: str | None = None) -> Unlabeled:
    """The texts of ``source``; empty ones are skipped and counted."""
    where = _where(source)
    path = user_path(where)
    if path.is_dir():
        raise HeadstartError(f"the unlabelled pool {where} is a folder, but this is a text model; give {TEXT_POOL}")
    if not path.is_file():
        raise HeadstartError(f"unlabelled pool not found: {where}; give {TEXT_POOL}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS or suffix == ".dcm":
        raise HeadstartError(f"the unlabelled pool {where} is an image, but this is a text model; give {TEXT_POOL}")
    skipped: list[str] = []  # one entry per input left out
    if suffix in TEXT_SUFFIXES:
        rows, columns, _ = _table(path)
        # The labelled data's --text-column where the pool has it too, else the usual names.
        column = _column(columns, text_column if text_column in columns else None, TEXT_COLUMNS, "text", path)
        cells = [(row["_line"], "" if row.get(column) is None else str(row.get(column)).strip()) for row in rows]
    else:
        raw = path.read_bytes()
        if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise HeadstartError(f"the unlabelled pool {where} is not a text file (it holds binary data); give "
                                 f"{TEXT_POOL}")
        text, _ = _decode(raw, path)  # undecodable bytes replaced
        cells = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    texts = [value for _, value in cells if value]
    if suffix in TEXT_SUFFIXES:  # a blank line of a plain text file separates texts; an empty table cell is skipped
        skipped = [f"{path} line {line}: empty text" for line, value in cells if not value]
    if not texts:
        raise HeadstartError(f"no texts in the unlabelled pool {where}; give {TEXT_POOL}")
    return Unlabeled(texts, where, skipped)
