"""Image inputs: reading any image a user has as RGB, and finding labelled images in folders and CSV files."""

from __future__ import annotations

import csv
import glob
import io
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from headstart.data.dataset import DataSplits, LabeledData, LabelSets
from headstart.data.dicom import dicom_header, dicom_problem, is_dicom_file, read_dicom
from headstart.data.encoding import decode_table
from headstart.data.label_sets import (
    SET_COLUMNS,
    find_column,
    merge_same_content,
    table_holds_sets,
    table_label_sets,
    table_splits,
)
from headstart.digests import digest, file_digest
from headstart.errors import HeadstartError, listed
from headstart.files import user_path

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
PILLOW_SUFFIXES = frozenset(IMAGE_EXTENSIONS)
# Files met beside images that are never DICOM: a folder scan does not open them to look.
NOT_IMAGES = frozenset({".txt", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".md", ".xml", ".html", ".py",
                        ".zip", ".gz", ".tar", ".pdf", ".npz", ".npy", ".db", ".ini", ".log"})
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
PATH_COLUMNS = ("path", "image", "file", "filename", "filepath", "image_path")
LABEL_COLUMNS = ("label", "class", "target", "category", "y")
# Pillow's own default bomb limit; images above it are refused, not decoded.
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def load_image(item: Any, keep_grey: bool = False, window: Any = None) -> Image.Image:
    """Return ``item`` (a path, a PIL image or a uint8 array) as an 8-bit RGB image (8-bit greyscale, "L", for
    greyscale sources with ``keep_grey``: resizing one channel is a third of the work of three identical ones).

    Greyscale, palette, 16-bit and float images are rescaled to 8 bits; transparency is composited onto white;
    the EXIF orientation of photos is applied; DICOM files are windowed (``window``: (center, width), else the
    file's own, see data/dicom.py). Undecodable files raise a HeadstartError naming the file.
    """
    if isinstance(item, Image.Image):
        image = item
    elif isinstance(item, np.ndarray):
        image = Image.fromarray(item)
    elif is_dicom_file(path := Path(item), PILLOW_SUFFIXES):
        image = read_dicom(path, window)
    else:
        image = _open(path)
    return to_rgb(image, keep_grey)


def image_header(item: Any) -> tuple[tuple[int, int], str] | None:
    """(size, mode) of an image without decoding its pixels; None when it cannot be read."""
    if isinstance(item, Image.Image):
        return item.size, item.mode
    if isinstance(item, np.ndarray):
        return (item.shape[1], item.shape[0]), str(item.dtype)
    if is_dicom_file(Path(item), PILLOW_SUFFIXES):
        return dicom_header(Path(item))
    try:
        with Image.open(item) as image:
            return image.size, image.mode
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def image_key(item: Any) -> str:
    """A digest of an image's content: a file's bytes, or a decoded image's mode, size and pixels."""
    if isinstance(item, Image.Image):
        return digest("pil", item.mode, str(item.size), item.tobytes())
    if isinstance(item, np.ndarray):
        return digest("array", str(item.dtype), str(item.shape), np.ascontiguousarray(item).tobytes())
    try:
        return file_digest(item)
    except OSError as exc:
        raise HeadstartError(f"cannot read image {item} ({exc.strerror or exc}); check the path and its permissions") from exc


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
        return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise HeadstartError(f"{path} is too large to decode safely ({exc}); resize it below 89 megapixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise HeadstartError(f"cannot decode image {path} ({exc}); remove or replace the file") from exc


# What an upload may be: the formats of IMAGE_EXTENSIONS, and no other Pillow decoder (EPS would start Ghostscript).
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "PPM")
MAX_UPLOAD_SIDE = 20_000  # longer sides make the resize's weight matrices huge (224 x side floats per image)


def decode_image(data: bytes, name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Uploaded bytes as an RGB image, refusing what is empty, not an image, truncated, DICOM, over ``max_pixels``
    (at most Pillow's own limit) or over MAX_UPLOAD_SIDE on a side: sizes are read from the header, before the pixels
    are decoded (a small file can hold a decompression bomb). The message names the upload by ``name``, which is
    never used as a path. Safe in threads (no warning filters)."""
    if not data:
        raise HeadstartError(f"{name} is empty; send the image's bytes")
    if data[128:132] == b"DICM":
        raise HeadstartError(f"{name} is a DICOM file: the service reads PNG, JPEG, WebP, BMP, GIF, TIFF or PPM; "
                             "convert it, or use `headstart predict`")
    try:
        image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
        width, height = image.size
        if width * height > min(max_pixels, MAX_IMAGE_PIXELS) or max(width, height) > MAX_UPLOAD_SIDE:
            raise ImageTooLarge(f"{name} is {width}x{height}, over the {min(max_pixels, MAX_IMAGE_PIXELS):,}-pixel "
                                f"or {MAX_UPLOAD_SIDE:,}-pixel-side limit; send a smaller image")
        image.load()
        return to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{name} is over the {min(max_pixels, MAX_IMAGE_PIXELS):,}-pixel limit; send a smaller "
                            "image") from exc
    except HeadstartError:
        raise
    except Exception as exc:  # untrusted bytes: any decoder failure (OSError, EOFError, struct.error...) is theirs
        raise HeadstartError(f"{name} is not a readable image ({type(exc).__name__}); send a PNG, JPEG or "
                             "another image file") from exc


class ImageTooLarge(HeadstartError):
    """An image over a pixel limit: too large rather than wrong (an HTTP service answers it with 413)."""


def to_rgb(image: Image.Image, keep_grey: bool = False) -> Image.Image:
    """Convert any Pillow mode to RGB (greyscale ones to "L" with ``keep_grey``), scaling high bit depths down
    instead of clipping them."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or array.max(initial=0) > 255:
            array = array / 257.0
        elif image.mode == "F" and array.max(initial=0) <= 1.0:
            array = array * 255.0
        image = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if keep_grey and image.mode in ("L", "1"):
        return image.convert("L") if image.mode == "1" else image
    return image.convert("RGB") if image.mode != "RGB" else image


def check_image_file(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image (empty, not an image, too large), or None when it looks fine.

    Reads only the header, so scanning a large folder stays fast.
    """
    try:
        if path.stat().st_size == 0:
            return "empty file"
        if is_dicom_file(path, PILLOW_SUFFIXES):
            return dicom_problem(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                image.verify()
        if width * height > MAX_IMAGE_PIXELS:
            return f"{width}x{height} is over the {MAX_IMAGE_PIXELS:,}-pixel limit"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"over the {MAX_IMAGE_PIXELS:,}-pixel limit"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"not a readable image ({type(exc).__name__})"
    return None


def _is_image_name(path: Path) -> bool:
    """An image by its name (DICOM files may have none: those are recognised by their first bytes)."""
    if path.name.startswith("."):
        return False
    return path.suffix.lower() in IMAGE_EXTENSIONS or is_dicom_file(path, PILLOW_SUFFIXES | NOT_IMAGES)


def _scan_class_folders(root: Path, where: str) -> LabeledData:
    items, labels, ids, skipped = [], [], [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            if not _is_image_name(path):
                continue
            problem = check_image_file(path)
            if problem:
                skipped.append(f"{path}: {problem}")
                continue
            items.append(str(path))
            labels.append(class_dir.name)
            ids.append(path.relative_to(root).as_posix())
    data = LabeledData(items, labels, ids, source=where)
    if skipped:
        data.warnings.append(f"skipped {len(skipped)} unreadable image(s) in {where}, e.g. {skipped[0]}")
    return data


def _as_label_sets(data: LabeledData) -> LabelSets:
    """Folder data as label sets: an image whose content is in several class folders is one item with each of
    their labels (the first path kept)."""
    keys = [image_key(item) for item in data.items]
    items, labels, ids, merged = merge_same_content(data.items, [(label,) for label in data.labels], data.ids, keys)
    sets = LabelSets(items, labels, ids, source=data.source, warnings=list(data.warnings))
    if merged:
        sets.warnings.append(f"{merged} image file(s) in {data.source} have the same content as one in another "
                             "class folder: each such image is one item with all its folders' labels")
    return sets


def read_image_folder(root: Path, multi_label: bool = False) -> DataSplits:
    """Read ``root/<class>/*.jpg``, or ``root/{train,val,test}/<class>/*.jpg`` when split folders exist. With
    ``multi_label`` the labels are sets: a file whose content is in several class folders has each of theirs."""
    if not root.is_dir():
        raise HeadstartError(f"data folder not found: {root}; pass a folder with one sub-folder per class")
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    split_dirs = {SPLIT_NAMES[name]: path for name, path in children.items() if name in SPLIT_NAMES}
    if "train" in split_dirs:
        parts = {name: _scan_class_folders(path, str(path)) for name, path in split_dirs.items()}
        record = {"layout": "split-folders", "given": sorted(parts)}
    else:
        parts = {"train": _scan_class_folders(root, str(root))}
        record = {"layout": "class-folders"}
    if multi_label:
        parts = {name: _as_label_sets(part) for name, part in parts.items()}
    warnings_ = [w for part in parts.values() for w in part.warnings]
    if not len(parts["train"]):
        raise HeadstartError(
            f"no images found in {root}; expected {root}/<class name>/<image files> "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))}, or DICOM)"
        )
    return DataSplits(parts["train"], parts.get("val"), parts.get("test"), record, warnings_)


def _pick_column(header: list[str], candidates: tuple[str, ...], wanted: str, path: Path) -> int:
    lowered = [h.strip().lower() for h in header]
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    raise HeadstartError(
        f"{path} has no {wanted} column (columns: {listed(header)}); name one of them {candidates[0]!r}"
    )


def _row_path(cell: str, folder: Path) -> Path:
    """A CSV cell as a path: ``~`` expanded where it names a home, relative paths from the CSV's folder."""
    try:
        image_path = user_path(cell)
    except RuntimeError:  # "~name" for a user that does not exist: an ordinary relative name then
        image_path = Path(cell)
    return image_path if image_path.is_absolute() else folder / image_path


def _missing(image_path: Path) -> str | None:
    try:
        return None if image_path.is_file() else "image not found"
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte...
        return f"not a usable path ({type(exc).__name__})"


def _shown(cell: str, limit: int = 80) -> str:
    return cell if len(cell) <= limit else cell[: limit - 1] + "\u2026"


def _missing_error(path: Path, missing: list[tuple[int, str, str]]) -> HeadstartError:
    """One line naming the rows whose image is not there (the first three, and how many in all) and the fix."""
    where = f"relative paths are taken from the CSV's folder, {path.parent}"
    if len(missing) == 1:
        line_no, cell, problem = missing[0]
        return HeadstartError(f"{path} row {line_no}: {problem}: {_shown(cell)} ({where}); fix the path or remove the row")
    shown = ", ".join(f"row {line_no}: {_shown(cell)}" for line_no, cell, _ in missing[:3])
    more = f", and {len(missing) - 3} more" if len(missing) > 3 else ""
    return HeadstartError(
        f"{path}: {len(missing)} rows name an image that is not there ({shown}{more}; {where}); "
        "fix the paths or remove the rows"
    )


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, row)]) of a CSV/TSV file of images, blank rows left out."""
    if not path.is_file():
        raise HeadstartError(f"CSV file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HeadstartError(f"cannot read {path} ({exc.strerror or exc}); check its permissions") from exc
    text, _ = decode_table(raw, path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise HeadstartError(f"{path} is not a valid {path.suffix[1:].upper() or 'CSV'} file ({exc}); "
                             "check its quoting") from exc
    if not rows:
        raise HeadstartError(f"{path} is empty; expected a header line 'path,label' and one row per image")
    body = [(line_no, row) for line_no, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    return rows[0], body


def image_table_sets(path: Path) -> str | None:
    """Why the image CSV at ``path`` holds label sets (labels joined by | or ;, or 0/1 columns), or None."""
    header, body = _read_table(path)
    path_col = find_column(header, PATH_COLUMNS)
    if path_col is None:  # not an image table (a text one with a text column of another name, ...)
        return None
    skip = {path_col, find_column(header, ("split",))} - {None}
    return table_holds_sets(header, [row for _, row in body], find_column(header, SET_COLUMNS), skip)


def read_image_csv(path: Path, multi_label: bool = False) -> DataSplits:
    """Read a CSV of ``path,label`` rows (with a header; an optional ``split`` column of train/val/test).

    UTF-8 and UTF-16 (with a byte-order mark) files are read; a ``.tsv`` file is split at tabs. Relative image
    paths are taken from the CSV file's folder. A row naming an image that does not exist is an error naming the
    row; rows without a label and images that cannot be decoded are skipped and counted in the warnings. With
    ``multi_label`` each row has a label set (data/label_sets.py: a ``labels`` column of sets, or 0/1 columns); an
    empty one is kept, as an image with none of the labels.
    """
    header, body = _read_table(path)
    path_col = _pick_column(header, PATH_COLUMNS, "image path", path)
    lowered = [h.strip().lower() for h in header]
    split_col = lowered.index("split") if "split" in lowered else None
    record: dict = {"layout": "csv"}
    if multi_label:
        label_col = find_column(header, SET_COLUMNS)
        sets, found = table_label_sets(header, [row for _, row in body], label_col, {path_col, split_col} - {None},
                                       str(path), [f"row {line_no}" for line_no, _ in body])
        record.update(found)
    else:
        label_col = _pick_column(header, LABEL_COLUMNS, "label", path)
    parts: dict[str, tuple[list, list, list]] = {}
    skipped: list[str] = []
    missing: list[tuple[int, str, str]] = []
    for number, (line_no, row) in enumerate(body):
        if len(row) <= max(path_col, label_col if label_col is not None else 0):
            skipped.append(f"row {line_no}: too few columns")
            continue
        cell = row[path_col].strip()
        label = sets[number] if multi_label else row[label_col].strip()
        if label is None or (not multi_label and not label):
            skipped.append(f"row {line_no} ({cell}): empty label")
            continue
        image_path = _row_path(cell, path.parent)
        problem = "no image path" if not cell else _missing(image_path)
        if problem:
            missing.append((line_no, cell, problem))
            continue
        problem = check_image_file(image_path)
        if problem:
            skipped.append(f"row {line_no} ({image_path}): {problem}")
            continue
        split = SPLIT_NAMES.get(row[split_col].strip().lower(), "train") if split_col is not None else "train"
        items, labels, ids = parts.setdefault(split, ([], [], []))
        items.append(str(image_path))
        labels.append(label)
        ids.append(cell)
    if missing:
        raise _missing_error(path, missing)
    warnings_ = [f"skipped {len(skipped)} row(s) of {path}, e.g. {skipped[0]}"] if skipped else []
    if "train" not in parts:
        raise HeadstartError(f"no usable training rows in {path}" + (f": {skipped[0]}" if skipped else ""))
    return table_splits(parts, str(path), record, warnings_, multi_label)


def expand_image_inputs(inputs: list[str]) -> list[str]:
    """Turn files, folders (searched recursively) and glob patterns into a sorted list of image paths."""
    found: list[str] = []
    for number, entry in enumerate(inputs, start=1):
        if isinstance(entry, str) and not entry.strip():  # "" would be the current folder, searched whole
            raise HeadstartError(f"input {number} is empty; give an image file, folder or glob")
        path = user_path(entry)
        if path.is_dir():
            found.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and _is_image_name(p))
        elif path.is_file():
            found.append(str(path))
        else:
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise HeadstartError(f"no such file, folder or pattern: {entry}")
            found.extend(m for m in matches if Path(m).is_file())
    if not found:
        raise HeadstartError(f"no images found in {', '.join(inputs)}")
    return found
