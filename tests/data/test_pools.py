"""Unlabelled pools (issue 30): the same kinds of source as labelled data, read without labels; inputs that cannot
be used are left out and counted, and a pool of the other modality or with nothing usable is refused in one line
naming the fix. Real photos from the shipped Fashion-MNIST sample."""

from __future__ import annotations

import io
import shutil

import pytest
from rich.console import Console

from headstart.data.pools import read_image_pool, read_text_pool
from headstart.errors import HeadstartError
from headstart.progress import Reporter
from headstart.tasks import get_task
from headstart.tasks.image import SAMPLE_DIR


def photos(n: int) -> list:
    return sorted((SAMPLE_DIR / "train" / "coat").glob("*.png"))[:n]


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "pool"
    (folder / "deeper").mkdir(parents=True)
    for i, photo in enumerate(photos(4)):
        shutil.copy(photo, (folder if i % 2 else folder / "deeper") / photo.name)
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "notes.txt").write_text("a note beside the images")
    return folder


def test_an_image_folder_is_searched_whole_and_broken_images_are_left_out_and_counted(image_folder):
    pool = read_image_pool(image_folder)
    assert sorted(p.split("/")[-1] for p in pool.items) == sorted(p.name for p in photos(4))
    assert len(pool.skipped) == 1 and "broken.png" in pool.skipped[0] and "not a readable image" in pool.skipped[0]
    assert pool.labels is None and pool.source == str(image_folder)


def test_reading_an_image_pool_shows_its_progress(image_folder):
    """100,000 files take tens of seconds to check: the reader says so instead of sitting silent."""
    out = io.StringIO()
    pool = read_image_pool(image_folder, Reporter(verbose=True, console=Console(file=out)))
    lines = out.getvalue().splitlines()
    assert lines[0] == "checking the unlabelled images: started (5 steps)" and len(pool) == 4
    assert lines[-1].startswith("checking the unlabelled images: done")
    assert read_image_pool(image_folder).items == pool.items  # silent without a reporter, same pool


def test_an_image_glob_and_a_csv_of_paths_read_the_same_images(image_folder, tmp_path):
    from_glob = read_image_pool(str(image_folder / "**" / "*.png"))
    table = tmp_path / "pool.csv"
    rows = [f"{p},coat" for p in sorted(from_glob.items)] + ["missing.png,coat", ",coat"]
    table.write_text("path,label\n" + "\n".join(rows) + "\n")
    from_csv = read_image_pool(table)
    assert sorted(from_csv.items) == sorted(from_glob.items) and len(from_glob.items) == 4
    assert len(from_csv.skipped) == 2 and "row 6: image not found" in from_csv.skipped[0]
    assert "row 7: no image path" in from_csv.skipped[1]


@pytest.mark.parametrize("read, make, message", [
    (read_image_pool, lambda root: _write(root / "reviews.txt", "great film\nawful\n"),
     "is a text file, but this is an image model"),
    (read_image_pool, lambda root: _folder_of_texts(root), "no images found"),
    (read_image_pool, lambda root: _write(root / "broken.png", "xx"), "no usable images in the unlabelled pool"),
    (read_image_pool, lambda root: root / "nowhere", "no such file, folder or pattern"),
    (read_image_pool, lambda root: _write(root / "pool.csv", "path,label\n\n"), "no images listed in the unlabelled"),
    (read_text_pool, lambda root: root, "is a folder, but this is a text model"),
    (read_text_pool, lambda root: _copy(photos(1)[0], root / "photo.png"), "is an image, but this is a text model"),
    (read_text_pool, lambda root: _bytes(root / "data.bin", b"\x00\x01\x02binary"), "not a text file"),
    (read_text_pool, lambda root: _write(root / "empty.txt", "\n  \n"), "no texts in the unlabelled pool"),
    (read_text_pool, lambda root: root / "missing.txt", "unlabelled pool not found"),
    (read_text_pool, lambda root: _write(root / "pool.csv", "title,stars\nx,1\n"), "has no text column"),
])
def test_a_pool_with_nothing_usable_or_of_the_other_kind_is_refused_in_one_line(tmp_path, read, make, message):
    with pytest.raises(HeadstartError, match=message) as caught:
        read(make(tmp_path))
    assert "\n" not in str(caught.value)


def test_a_text_pool_is_a_file_of_lines_or_a_table_with_a_text_column(tmp_path):
    lines = read_text_pool(_write(tmp_path / "pool.txt", "a fine film\n\n  a dull one  \nwhat a ride\n"))
    assert lines.items == ["a fine film", "a dull one", "what a ride"] and lines.skipped == []
    table = read_text_pool(_write(tmp_path / "pool.csv", 'review,stars\n"a fine film, truly",5\n"",3\ndull,1\n'))
    assert table.items == ["a fine film, truly", "dull"]
    assert table.skipped == [f"{tmp_path / 'pool.csv'} line 3: empty text"]
    jsonl = read_text_pool(_write(tmp_path / "pool.jsonl", '{"text": "one"}\n{"text": "two"}\n'))
    assert jsonl.items == ["one", "two"]
    named = _write(tmp_path / "tweets.csv", "tweet,user\nso good,a\n")
    assert read_text_pool(named, text_column="tweet").items == ["so good"]
    assert read_text_pool(jsonl.source, text_column="tweet").items == ["one", "two"]  # the data's column, else usual


def test_tasks_that_cannot_use_a_pool_say_why_and_the_rest_read_theirs(image_folder, tmp_path):
    assert len(get_task("image").read_unlabeled(image_folder)) == 4
    assert get_task("text").read_unlabeled(_write(tmp_path / "p.txt", "x\ny\n")).items == ["x", "y"]
    for name, why in (("image-multilabel", "label sets"), ("text-multilabel", "label sets"), ("detect", "boxes")):
        with pytest.raises(HeadstartError, match=f"--unlabeled does not apply to .*{why}"):
            get_task(name).read_unlabeled(image_folder)
    with pytest.raises(HeadstartError, match="empty name"):
        read_image_pool(" ")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _bytes(path, data):
    path.write_bytes(data)
    return path


def _copy(source, target):
    shutil.copy(source, target)
    return target


def _folder_of_texts(root):
    folder = root / "texts"
    folder.mkdir()
    _write(folder / "a.txt", "one")
    return folder
