"""Property-based: the readers meet random and hostile input with data or one HeadstartError, never a crash."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from headstart.data.dataset import DataSplits
from headstart.data.images import read_image_csv, read_image_folder
from headstart.data.splits import check_trainable
from headstart.data.texts import read_text_file, read_texts
from headstart.errors import HeadstartError

SETTINGS = settings()  # the profile loaded in conftest: dev, ci (replays a fixed set) or explore
cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)
hostile = st.sampled_from(["", "\x00", "\ufeff", '"', '""', "\r", "\n", ",", "\t", "{", "}", "../../etc/passwd",
                           "=cmd|' /C calc'!A0", "\u202e", "a" * 5000, "NaN", "null", "label"])
cell = st.one_of(cells, hostile)


def survives(read, path: Path) -> DataSplits | None:
    """Run a reader; it may refuse the file with a HeadstartError, and what it returns must be consistent."""
    try:
        splits = read(path)
    except HeadstartError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), "errors are one line"
        return None
    for part in (splits.train, splits.val, splits.test):
        if part is not None:
            assert len(part.items) == len(part.labels) == len(part.ids)
    with contextlib.suppress(HeadstartError):  # refusing is fine; crashing is not
        check_trainable(splits.train, str(path))
    return splits


def in_temp_file(suffix: str, payload: bytes, read) -> DataSplits | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(payload)
        return survives(read, path)


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from([".csv", ".tsv", ".jsonl"]))
def test_text_readers_survive_random_bytes(payload, suffix):
    splits = in_temp_file(suffix, payload, read_text_file)  # a one-line refusal, or consistent splits
    if splits is not None:
        assert all(isinstance(t, str) and t.strip() for t in splits.train.items), "empty texts are dropped"


@SETTINGS
@given(st.lists(st.lists(cell, min_size=1, max_size=4), max_size=20), st.sampled_from([",", "\t"]))
def test_text_readers_survive_hostile_tables(rows, delimiter):
    header = delimiter.join(["text", "label"])
    body = "\n".join(delimiter.join(row) for row in rows)
    suffix = ".csv" if delimiter == "," else ".tsv"
    splits = in_temp_file(suffix, f"{header}\n{body}\n".encode(), read_text_file)
    if splits is not None:
        assert all(isinstance(t, str) and t.strip() for t in splits.train.items), "empty texts are dropped"


@SETTINGS
@given(st.lists(st.one_of(st.dictionaries(cell, st.one_of(cell, st.integers(), st.none(), st.booleans()),
                                          max_size=4), cell, st.integers()), max_size=15))
def test_jsonl_reader_survives_hostile_records(records):
    payload = "\n".join(json.dumps(r) for r in records).encode()
    splits = in_temp_file(".jsonl", payload, read_text_file)  # a one-line refusal, or consistent splits
    if splits is not None:
        assert all(isinstance(t, str) and t.strip() for t in splits.train.items), "empty texts are dropped"


@SETTINGS
@given(st.lists(st.lists(cell, min_size=1, max_size=3), max_size=15))
def test_image_csv_reader_survives_hostile_rows(rows):
    body = "\n".join(",".join(row) for row in rows)
    splits = in_temp_file(".csv", f"path,label\n{body}\n".encode(), read_image_csv)
    if splits is not None:  # a row without a label is skipped, never kept with an empty one
        assert all(label.strip() for label in splits.train.labels)


@SETTINGS
@given(st.dictionaries(st.text(alphabet="abcxyz_-. ", min_size=1, max_size=8),
                       st.lists(st.tuples(st.text(alphabet="abc", min_size=1, max_size=5),
                                          st.sampled_from([".png", ".jpg", ".txt", ""]), st.binary(max_size=64)),
                                max_size=4), max_size=4))
def test_folder_reader_survives_junk_files(layout):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for cls, files in layout.items():
            try:
                (root / cls).mkdir(parents=True, exist_ok=True)
            except OSError:
                continue
            for stem, suffix, payload in files:
                try:
                    (root / cls / f"{stem}{suffix}").write_bytes(payload)
                except OSError:  # the layout names a class folder as a file too ("." and "c"): cannot be made
                    continue
        splits = survives(read_image_folder, root)
        if splits is not None:
            assert not splits.train.items or splits.warnings, "junk files are skipped and counted"


@SETTINGS
@given(st.lists(cell, max_size=10))
def test_predict_text_inputs_survive_anything(entries):
    try:
        texts = read_texts([e for e in entries if e != "-"])
    except HeadstartError:
        return
    assert texts and all(isinstance(t, str) for t in texts)
