"""DICOM files as images: the pixels a viewer shows, mapped to 8 bits.

pydicom reads the file and decodes its pixel data (uncompressed and RLE natively; JPEG, JPEG-LS and JPEG 2000
through the decoder plugins that ``pip install 'headstart[dicom]'`` brings: pylibjpeg-openjpeg and pyjpegls, MIT;
baseline JPEG through Pillow; lossless and 12-bit JPEG need pylibjpeg-libjpeg, GPL-3, or python-gdcm, installed by the
user). The stored values go through the
modality LUT (Rescale Slope and Intercept: a CT's Hounsfield units), then a window maps them to 0-255: the one the
user gives (``window=(center, width)``, ``--window 40,400``), else the file's own (Window Center and Width, or its
VOI LUT), else the image's full range. Values keep their 16 (or 32) bits until that last step. MONOCHROME1 images,
where higher values are darker, are inverted so that every greyscale image reads as MONOCHROME2; colour images
(RGB, or YBR converted to RGB by pydicom) are scaled to 8 bits by their bit depth. Multi-frame files (a series or a
cine loop in one file) are refused: a classifier here takes one image per input.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from headstart.errors import HeadstartError

DICOM_SUFFIXES = {".dcm", ".dicom"}
MAGIC_OFFSET, MAGIC = 128, b"DICM"  # the DICOM part 10 preamble, then these four bytes
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit, as for other images
REQUIRED = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation")  # to decode pixels


def is_dicom_file(path: Path, other_suffixes: frozenset[str] = frozenset()) -> bool:
    """A ``.dcm``/``.dicom`` name, or a file that starts like a DICOM file whatever its name (scanners write
    ``IM000001``, PACS exports ``1.2.840.113619.2.55.3``); names ending in one of ``other_suffixes`` (the image
    formats Pillow reads) are not opened to look."""
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    if suffix in other_suffixes or path.name.startswith("."):
        return False
    try:
        with open(path, "rb") as handle:
            handle.seek(MAGIC_OFFSET)
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def parse_window(value: str | Sequence[float] | None) -> tuple[float, float] | None:
    """``"40,400"`` or ``(40, 400)`` -> (center, width); None stays None. Raises a HeadstartError naming the fix."""
    if value is None or value == "":
        return None
    try:
        parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
        center, width = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise HeadstartError(f"window {value!r} is not CENTER,WIDTH; give two numbers, e.g. --window 40,400 "
                             "(a CT's soft-tissue window)") from None
    if not (np.isfinite(center) and np.isfinite(width)) or width < 1:
        raise HeadstartError(f"window {value!r}: the width must be a number of at least 1 and the center finite, "
                             "e.g. --window 40,400")
    return center, width


def _dataset(path: Path, header_only: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns on values outside their VR; the pixels may still be fine
            return pydicom.dcmread(path, defer_size="1 KB" if header_only else None)
    except InvalidDicomError as exc:
        raise UnreadableDicom(path, "no DICOM file header: not a DICOM part 10 file") from exc
    except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise UnreadableDicom(path, _one_line(exc)) from exc


class UnreadableDicom(HeadstartError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read DICOM file {path} ({reason}); remove or replace the file")
        self.reason = reason


def _one_line(exc: Exception, limit: int = 120) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _why_not_one_image(ds) -> tuple[str, str] | None:
    """(what is wrong, the fix) when the dataset is not one decodable image, else None."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return ("holds no image (no pixel data: a report, a DICOMDIR or a structured document)",
                "remove it from the data")
    missing = [name for name in REQUIRED if name not in ds]
    if missing:
        return f"lacks {', '.join(missing)} (a damaged or truncated header)", "correct or remove the file"
    try:
        pixels = int(ds.Rows) * int(ds.Columns)
    except (TypeError, ValueError):
        return "has unreadable Rows or Columns", "correct or remove the file"
    if pixels > MAX_PIXELS:
        return f"is {ds.Columns}x{ds.Rows}, over the {MAX_PIXELS:,}-pixel limit", "downsample it first"
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None:
        return "has no Transfer Syntax UID in its file header", "correct or remove the file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # read lazily: pydicom warns here on a malformed value
            frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return f"has an unreadable Number of Frames ({ds.get('NumberOfFrames')!r})", "correct or remove the file"
    if frames > 1:
        return (f"holds {frames} frames", "headstart takes one image per input: split it into single-frame files "
                                          "or keep the frame you want")
    if not syntax.is_transfer_syntax:
        return f"has an unknown Transfer Syntax UID ({syntax})", "convert it to a standard transfer syntax"
    if syntax.is_compressed:
        from pydicom.pixels import get_decoder

        try:
            available = get_decoder(syntax).is_available
        except NotImplementedError:
            available = False
        if not available:
            return (f"is compressed as {syntax.name}, which no installed decoder reads",
                    "pip install 'headstart[dicom]' (JPEG 2000, JPEG-LS), or pylibjpeg-libjpeg (GPL-3) or "
                    "python-gdcm for lossless and 12-bit JPEG")
    return None


def dicom_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None; reads the header only (pixel data is deferred)."""
    try:
        problem = _why_not_one_image(_dataset(path, header_only=True))
    except UnreadableDicom as exc:
        return f"not a readable DICOM file ({exc.reason})"
    return None if problem is None else problem[0]


def dicom_header(path: Path) -> tuple[tuple[int, int], str] | None:
    """((width, height), "L" or "RGB") from the header, or None when it cannot be read."""
    try:
        ds = _dataset(path, header_only=True)
        return (int(ds.Columns), int(ds.Rows)), ("RGB" if int(ds.get("SamplesPerPixel", 1)) == 3 else "L")
    except (HeadstartError, AttributeError, TypeError, ValueError):
        return None


def read_dicom(path: Path, window: Sequence[float] | None = None) -> Image.Image:
    """The file's image as 8-bit greyscale ("L") or RGB, windowed as the module docstring says."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = _dataset(path)
    if (problem := _why_not_one_image(ds)) is not None:
        raise HeadstartError(f"DICOM file {path} {problem[0]}; {problem[1]}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "excess padding to be removed": handled by pydicom itself
            pixels = ds.pixel_array
    except Exception as exc:
        raise HeadstartError(f"cannot decode the pixels of DICOM file {path} ({_one_line(exc)}); remove or "
                             "replace the file") from exc
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, ds)  # 16-bit RGB entries
        ds = _with_bits(ds, 16)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:  # colour: no windowing, scaled by its bit depth
        bits = int(ds.get("BitsStored", 8) or 8)
        scaled = pixels.astype(np.float64) * (255.0 / (2**bits - 1)) if bits > 8 else pixels
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="RGB")
    modality = apply_modality_lut(pixels, ds)
    values = modality.astype(np.float64)
    own = (_first(ds.get("WindowCenter")), _first(ds.get("WindowWidth")))
    if window is not None:
        grey = linear_window(values, *window)
    elif None not in own and own[1] >= 1:
        grey = linear_window(values, *own)
    elif "VOILUTSequence" in ds:  # a lookup table, indexed by the modality LUT's output
        grey = _full_range(apply_voi_lut(np.rint(modality).astype(np.int64), ds).astype(np.float64))
    else:
        grey = _full_range(values)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        grey = 255.0 - grey
    return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), mode="L")


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM standard's linear VOI window (PS3.3 C.11.2.1.2.1) onto 0-255. Written out: pydicom's
    ``apply_windowing`` maps onto the stored bit depth's range instead, which would need undoing."""
    width = max(float(width), 1.0)
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    scaled = ((values - (center - 0.5)) / (width - 1 if width > 1 else 1) + 0.5) * 255.0
    return np.where(values <= low, 0.0, np.where(values > high, 255.0, scaled))


def _full_range(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values) if high <= low else (values - low) * (255.0 / (high - low))


def _first(value) -> float | None:
    """A window value that may be multi-valued (several windows): the first, as viewers show by default; None when
    it is empty or not a number."""
    try:
        first = value if isinstance(value, (int, float, str)) else value[0]
        number = float(first)
    except (TypeError, IndexError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _with_bits(ds, bits: int):
    """``ds`` with ``BitsStored`` set, for pixels a lookup has turned into ``bits``-bit values."""
    ds = ds.copy()
    ds.BitsStored = bits
    return ds
