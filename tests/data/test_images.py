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
    assert splits.train.ids[0] == "bag/" + sorted((small_folder / "train" / "bag").iterdir())[0].name


def test_bad_files_are_skipped_and_counted(small_folder):
    bag = small_folder / "train" / "bag"
    (bag / "empty.png").write_bytes(b"")
    (bag / "fake.jpg").write_text("not an image")
    truncated = (bag / sorted(p.name for p in bag.glob("*.png"))[0]).read_bytes()[:40]
    (bag / "truncated.png").write_bytes(truncated)
    (bag / "notes.txt").write_text("ignored: not an image name")
    splits = read_image_folder(small_folder)
    assert len(splits.train) == 36
    assert any("skipped 3 unreadable image(s)" in w for w in splits.warnings)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    import headstart.data.images as images

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
    rows.append("train/bag/missing.png,bag,train")
    csv_path = small_folder / "labels.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    splits = read_image_csv(csv_path)
    assert len(splits.train) == 36 and len(splits.test) == 36
    assert splits.warnings and "row 74" in splits.warnings[0] and "file not found" in splits.warnings[0]


def test_csv_without_label_column_names_the_fix(tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,kind\na.png,cat\n")
    with pytest.raises(HeadstartError, match="no label column.*name one of them 'label'"):
        read_image_csv(csv_path)


def test_expand_inputs_handles_files_folders_and_globs(small_folder):
    bag = small_folder / "test" / "bag"
    one = str(sorted(bag.iterdir())[0])
    assert expand_image_inputs([one]) == [one]
    assert len(expand_image_inputs([str(small_folder / "test")])) == 36
    assert len(expand_image_inputs([str(small_folder / "test" / "*" / "*.png")])) == 36
    with pytest.raises(HeadstartError, match="no such file"):
        expand_image_inputs([str(small_folder / "nope*.jpg")])
