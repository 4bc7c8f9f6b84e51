import numpy as np
import pytest
from PIL import Image

from headstart import HeadstartError
from headstart.data.images import expand_image_inputs, load_image, read_image_csv, read_image_folder, to_rgb


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("L", (4, 4), 200), (200, 200, 200)),
        (Image.new("RGBA", (4, 4), (255, 0, 0, 0)), (255, 255, 255)),  # fully transparent -> white background
        (Image.new("RGBA", (4, 4), (0, 0, 255, 255)), (0, 0, 255)),
        (Image.fromarray(np.full((4, 4), 65535, np.uint16)), (255, 255, 255)),  # 16-bit scaled, not clipped
        (Image.fromarray(np.full((4, 4), 32896, np.uint16)), (128, 128, 128)),
        (Image.new("CMYK", (4, 4), (0, 0, 0, 0)), (255, 255, 255)),
        (Image.new("1", (4, 4), 1), (255, 255, 255)),
    ],
)
def test_any_mode_becomes_8bit_rgb(image, expected):
    rgb = to_rgb(image)
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 1)) == expected


def test_palette_image_with_transparency(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    image.info["transparency"] = 0
    path = tmp_path / "p.png"
    image.save(path, transparency=0)
    assert load_image(path).getpixel((0, 0)) == (255, 255, 255)
    opaque = Image.new("P", (4, 4), 0)
    opaque.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    assert to_rgb(opaque).getpixel((0, 0)) == (10, 20, 30)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (8, 4), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (4, 8)


def test_split_folders_are_read(small_folder):
    splits = read_image_folder(small_folder)
    assert splits.classes == ["bag", "sneaker", "trouser"]
    assert len(splits.train) == 36 and len(splits.test) == 36
    assert splits.val is None
    assert splits.train.ids[0] == "bag/" + min((small_folder / "train" / "bag").iterdir()).name


def test_bad_files_are_skipped_and_counted(small_folder):
    bag = small_folder / "train" / "bag"
    (bag / "empty.png").write_bytes(b"")
    (bag / "fake.jpg").write_text("not an image")
    truncated = (bag / min(p.name for p in bag.glob("*.png"))).read_bytes()[:40]
    (bag / "truncated.png").write_bytes(truncated)
    (bag / "notes.txt").write_text("ignored: not an image name")
    splits = read_image_folder(small_folder)
    assert len(splits.train) == 36
    assert any("skipped 3 unreadable image(s)" in w for w in splits.warnings)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    from headstart.data import images

    big = tmp_path / "big.png"
    Image.new("L", (200, 200)).save(big)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 10_000)
    assert "limit" in images.check_image_file(big)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "data folder not found"),
        ("empty", "no images found"),
    ],
)
def test_unusable_folders_give_one_line_errors(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout == "empty":
        (root / "cats").mkdir(parents=True)
    with pytest.raises(HeadstartError, match=message):
        read_image_folder(root)


def test_csv_with_relative_paths_and_split_column(small_folder):
    rows = ["path,label,split"]
    for split in ("train", "test"):
        for p in sorted((small_folder / split).rglob("*.png")):
            rows.append(f"{p.relative_to(small_folder).as_posix()},{p.parent.name},{split}")
    rows.append("train/bag/fake.png,bag,train")
    (small_folder / "train" / "bag" / "fake.png").write_text("not an image")
    csv_path = small_folder / "labels.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    splits = read_image_csv(csv_path)
    assert len(splits.train) == 36 and len(splits.test) == 36
    # an image that is there but cannot be decoded is skipped and counted
    assert splits.warnings and "skipped 1 row(s)" in splits.warnings[0] and "row 74" in splits.warnings[0]
    assert "not a readable image" in splits.warnings[0]


def _csv_of_two_classes(folder, missing_rows=()):
    """``photos.csv`` beside real images of two classes; the rows numbered in ``missing_rows`` (2 = first row
    after the header) name images that are not there."""
    rows = ["path,label"]
    for row_no, p in enumerate(sorted((folder / "train").rglob("*.png")), start=2):
        name = p.relative_to(folder).as_posix()
        rows.append(f"{name.replace('.png', '-gone.png') if row_no in missing_rows else name},{p.parent.name}")
    path = folder / "photos.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, rows


def test_csv_row_naming_a_missing_image_is_an_error_naming_the_row(small_folder):
    # The only "cat" image is missing: dropping its row silently used to leave one class and a misleading
    # "only one class" error; now the row itself is named, with the fix.
    bags = [p.relative_to(small_folder).as_posix() for p in sorted((small_folder / "train" / "bag").iterdir())]
    path = small_folder / "photos.csv"
    path.write_text(f"path,label\n{bags[0]},bag\ncats/x.jpg,cat\n{bags[1]},bag\n")
    with pytest.raises(HeadstartError) as caught:
        read_image_csv(path)
    assert str(caught.value) == (
        f"{path} row 3: image not found: cats/x.jpg (relative paths are taken from the CSV's folder, "
        f"{small_folder}); fix the path or remove the row"
    )


def test_csv_with_many_missing_images_names_the_first_rows_and_the_count(small_folder):
    path, rows = _csv_of_two_classes(small_folder, missing_rows=(2, 5, 6, 9, 30))
    with pytest.raises(HeadstartError) as caught:
        read_image_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 5 rows name an image that is not there (row 2: {rows[1].split(',')[0]}, ")
    assert "row 5: " in message and "row 6: " in message and "and 2 more" in message
    assert "row 9" not in message and "row 30" not in message
    assert message.endswith("fix the paths or remove the rows")


@pytest.mark.parametrize(
    ("encoding", "suffix", "delimiter"),
    [
        ("utf-8", ".csv", ","),
        ("utf-8-sig", ".csv", ","),  # Excel's "CSV UTF-8"
        ("utf-16", ".csv", ","),  # UTF-16 LE with a byte-order mark
        ("utf-16", ".tsv", "\t"),  # Excel's "Unicode text": UTF-16 LE with a mark, tab-separated
        ("utf-16-be", ".csv", ","),  # written with a BE mark below
    ],
)
def test_csv_in_utf8_and_utf16_is_read(small_folder, encoding, suffix, delimiter):
    lines = [f"Image{delimiter}Label"]
    for p in sorted((small_folder / "train").rglob("*.png")):
        lines.append(f"{p.relative_to(small_folder).as_posix()}{delimiter}{p.parent.name}-\u00e9t\u00e9")
    text = "\r\n".join(lines) + "\r\n"
    raw = ("\ufeff" + text).encode("utf-16-be") if encoding == "utf-16-be" else text.encode(encoding)
    path = small_folder / f"photos{suffix}"
    path.write_bytes(raw)
    splits = read_image_csv(path)
    assert len(splits.train) == 36 and not splits.warnings
    assert splits.classes == ["bag-\u00e9t\u00e9", "sneaker-\u00e9t\u00e9", "trouser-\u00e9t\u00e9"]
    assert splits.train.ids[0] == "train/bag/" + min((small_folder / "train" / "bag").iterdir()).name


def test_csv_in_another_encoding_names_the_line_and_the_fix(small_folder):
    image = min((small_folder / "train" / "bag").iterdir()).relative_to(small_folder).as_posix()
    path = small_folder / "photos.csv"
    path.write_bytes(f"path,label\n{image},sac\n{image},caf\u00e9\n".encode("latin-1"))
    with pytest.raises(HeadstartError) as caught:
        read_image_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line 3 has a byte that is not UTF-8 (0xe9)")
    assert "UTF-8, or UTF-16 with a byte-order mark" in message and "re-save it as UTF-8" in message


def test_csv_without_label_column_names_the_fix(tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,kind\na.png,cat\n")
    with pytest.raises(HeadstartError, match="no label column.*name one of them 'label'"):
        read_image_csv(csv_path)


def test_expand_inputs_handles_files_folders_and_globs(small_folder):
    bag = small_folder / "test" / "bag"
    one = str(min(bag.iterdir()))
    assert expand_image_inputs([one]) == [one]
    assert len(expand_image_inputs([str(small_folder / "test")])) == 36
    assert len(expand_image_inputs([str(small_folder / "test" / "*" / "*.png")])) == 36
    with pytest.raises(HeadstartError, match="no such file"):
        expand_image_inputs([str(small_folder / "nope*.jpg")])


@pytest.mark.parametrize("empty", ["", "  "])
def test_expand_inputs_refuses_an_empty_input(small_folder, monkeypatch, empty):
    monkeypatch.chdir(small_folder)  # "" used to mean the current folder, searched whole
    one = str(min((small_folder / "test" / "bag").iterdir()))
    with pytest.raises(HeadstartError, match="^input 2 is empty; give an image file, folder or glob$"):
        expand_image_inputs([one, empty])
    from headstart.tasks import get_task

    with pytest.raises(HeadstartError, match="^input 1 is empty; give an image file, folder or glob$"):
        get_task("image").expand_inputs([empty])  # what `headstart predict RUN ""` calls
