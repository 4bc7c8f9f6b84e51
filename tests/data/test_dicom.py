"""DICOM files read as images: windowing, inversion, every transfer syntax pydicom ships a test file for, clear
messages for the files that cannot be used, and a DICOM folder trained on, predicted and exported (issue 29)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, get_decoder

from headstart.data.dicom import linear_window, parse_window
from headstart.data.images import check_image_file, image_header, load_image, read_image_folder
from headstart.errors import HeadstartError
from tests.conftest import run_cli

FILES = Path(pydicom.__file__).parent / "data" / "test_files"  # shipped with pydicom (MIT); never downloaded
MR_ENCODINGS = ["MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm",
                "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_padded.dcm"]


def grey(path: Path, window=None) -> np.ndarray:
    return np.asarray(load_image(path, keep_grey=True, window=window))


def test_one_image_in_seven_encodings_reads_as_the_same_pixels():
    """Little and big endian, implicit VR, RLE, lossless JPEG-LS and JPEG 2000: one MR slice, identical pixels,
    shown through the file's own window (center 600, width 1600)."""
    first = grey(FILES / MR_ENCODINGS[0])
    assert first.shape == (64, 64) and first.dtype == np.uint8
    for name in MR_ENCODINGS[1:]:
        np.testing.assert_array_equal(grey(FILES / name), first, err_msg=name)
    assert image_header(FILES / "MR_small_RLE.dcm") == ((64, 64), "L")
    ds = pydicom.dcmread(FILES / "MR_small.dcm")
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (600.0, 1600.0)
    np.testing.assert_array_equal(grey(FILES / "MR_small.dcm", window=(600, 1600)), first)


def test_the_window_maps_the_16_bit_values_not_8_bit_ones():
    """CT_small holds 16-bit values over a range of about 1,500; a 60-wide window inside it must keep 60 grey
    levels (reducing to 8 bits first would leave about 10), saturate outside, and keep the values' order."""
    ds = pydicom.dcmread(FILES / "CT_small.dcm")
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    center, width = float(np.median(values)), 60.0
    shown = grey(FILES / "CT_small.dcm", window=(center, width))
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    assert (shown[values <= low] == 0).all() and (shown[values > high] == 255).all()
    inside = (values > low) & (values <= high)
    assert len(np.unique(shown[inside])) >= 50
    order = np.argsort(values.ravel(), kind="stable")
    assert (np.diff(shown.ravel()[order].astype(int)) >= 0).all()  # a brighter value never shows darker
    # Without a window in the file or given, the image's full range.
    full = grey(FILES / "CT_small.dcm")
    assert full.min() == 0 and full.max() == 255


def test_rescale_slope_and_intercept_are_applied_before_the_window(tmp_path):
    ds = pydicom.dcmread(FILES / "CT_small.dcm")
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    ds.RescaleSlope, ds.RescaleIntercept = slope * 2, intercept * 2  # every value in the modality's units doubled
    ds.save_as(tmp_path / "doubled.dcm")
    original = grey(FILES / "CT_small.dcm", window=(100, 400)).astype(int)
    doubled = grey(tmp_path / "doubled.dcm", window=(200, 800)).astype(int)
    assert np.abs(original - doubled).max() <= 1  # the same window in doubled units: the same picture
    assert np.abs(original - grey(tmp_path / "doubled.dcm", window=(100, 400)).astype(int)).max() > 50


def test_monochrome1_is_shown_inverted(tmp_path):
    """A CR film stored as MONOCHROME1 (higher values darker) reads as its MONOCHROME2 twin turned negative."""
    source = FILES / "dicomdirtests" / "77654033" / "CR1" / "6154"
    ds = pydicom.dcmread(source)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.save_as(tmp_path / "as-monochrome2.dcm")
    inverted, plain = grey(source).astype(int), grey(tmp_path / "as-monochrome2.dcm").astype(int)
    np.testing.assert_array_equal(inverted + plain, 255)
    assert plain.std() > 0


def test_an_empty_window_falls_back_to_the_full_range(tmp_path):
    ds = pydicom.dcmread(FILES / "MR_small.dcm")
    ds.WindowCenter, ds.WindowWidth = None, None  # present but empty, as some exporters write them
    ds.save_as(tmp_path / "empty-window.dcm")
    shown = grey(tmp_path / "empty-window.dcm")
    assert shown.min() == 0 and shown.max() == 255
    assert not np.array_equal(shown, grey(FILES / "MR_small.dcm"))  # not the file's (now empty) window


def test_colour_files_read_as_rgb():
    rgb = np.asarray(load_image(FILES / "SC_rgb_rle_16bit.dcm"))  # 16 bits per sample, scaled to 8
    assert rgb.shape == (100, 100, 3) and rgb.max() == 255
    np.testing.assert_array_equal(np.asarray(load_image(FILES / "SC_rgb_rle.dcm")), rgb)


def test_a_dicom_folder_keeps_the_usable_files_and_names_the_others(tmp_path):
    """Extensionless files are recognised by their header; multi-frame, no pixel data, no DICOM header, a damaged
    header, and a compression no installed decoder reads are each skipped, counted and named in one line."""
    scans = tmp_path / "data" / "scan"
    scans.mkdir(parents=True)
    for name in ("6154", "6247"):  # scanner-style names with no suffix
        shutil.copy(FILES / "dicomdirtests" / "77654033" / ("CR1" if name == "6154" else "CR2") / name, scans / name)
    shutil.copy(FILES / "CT_small.dcm", scans / "ct.dcm")
    shutil.copy(FILES / "MR_small.dcm", scans / "1.2.840.113619.2.55.3")  # a PACS export's name: a UID
    private = pydicom.dcmread(FILES / "MR_small.dcm")
    private.file_meta.TransferSyntaxUID = "1.2.3.4.5"  # no transfer syntax anyone knows
    private.save_as(scans / "private-syntax.dcm")
    bad = {"SC_rgb_rle_2frame.dcm": "holds 2 frames", "rtplan.dcm": "holds no image",
           "no_meta.dcm": "not a readable DICOM file", "nested_priv_SQ.dcm": "lacks Rows"}
    syntax = pydicom.dcmread(FILES / "SC_rgb_jpeg_gdcm.dcm", stop_before_pixels=True).file_meta.TransferSyntaxUID
    if not get_decoder(syntax).is_available:  # JPEG lossless: only GPL-3 libjpeg or GDCM decode it
        bad["SC_rgb_jpeg_gdcm.dcm"] = "which no installed decoder reads"
    for name in bad:
        shutil.copy(FILES / name, scans / name)
    (scans / "notes.txt").write_text("not an image")
    for name, reason in bad.items():
        assert reason in check_image_file(scans / name), name
    splits = read_image_folder(tmp_path / "data")
    assert "unknown Transfer Syntax UID" in check_image_file(scans / "private-syntax.dcm")
    assert sorted(Path(p).name for p in splits.train.items) == ["1.2.840.113619.2.55.3", "6154", "6247", "ct.dcm"]
    (warning,) = splits.warnings
    assert warning.startswith(f"skipped {len(bad) + 1} unreadable image(s)") and "\n" not in warning


@pytest.mark.parametrize("name, expected", [
    ("MR_truncated.dcm", "cannot decode the pixels of DICOM file"),
    ("SC_rgb_rle_2frame.dcm", "holds 2 frames; headstart takes one image per input"),
    ("rtplan.dcm", "holds no image"),
    ("no_meta.dcm", "no DICOM file header"),
])
def test_a_file_that_cannot_be_read_gets_one_line_naming_it(name, expected):
    with pytest.raises(HeadstartError) as caught:
        load_image(FILES / name)
    message = str(caught.value)
    assert expected in message and str(FILES / name) in message and "\n" not in message


@pytest.mark.parametrize("window", ["40", "a,400", "40,0", "nan,400", "40,400,1"])
def test_a_bad_window_is_refused_with_the_fix(window):
    with pytest.raises(HeadstartError, match="e.g. --window 40,400"):
        parse_window(window)
    result = run_cli("train", "sample", "--window", window, "--strategy", "linear-probe", "--quiet")
    assert result.returncode != 0 and "--window 40,400" in result.stderr and "Traceback" not in result.stderr


def test_the_linear_window_follows_the_dicom_formula():
    """PS3.3 C.11.2.1.2.1, center 40 and width 400: 0 at or below -160, 255 above 239, linear between."""
    values = np.array([-1000.0, -160.0, -159.0, 39.5, 239.0, 239.5, 3000.0])
    shown = linear_window(values, 40, 400)
    assert shown[0] == shown[1] == 0 and shown[-1] == shown[-2] == 255
    assert shown[3] == pytest.approx(127.5) and 0 < shown[2] < 1 and shown[4] == pytest.approx(255, abs=0.1)


@pytest.mark.slow
def test_a_dicom_folder_trains_predicts_and_exports(tmp_path):
    """CT against MR thumbnails from pydicom's DICOMDIR test tree (scanner-style names, no suffix): trained through
    each file's own window, then through a window given; predicted by the saved run, and the second by its exported
    ONNX graph (exported on first use), which must read the files through the same window."""
    tree = FILES / "dicomdirtests"
    for cls, prefix in (("ct", "CT"), ("mr", "MR")):
        for i, path in enumerate(sorted(p for p in tree.rglob("*") if p.parent.name.startswith(prefix))):
            target = tmp_path / "data" / ("test" if i % 4 == 3 else "train") / cls / f"{path.parent.name}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    test = sorted(str(p) for p in (tmp_path / "data" / "test").rglob("*") if p.is_file())
    common = ["--model", "efficientnet_lite0", "--strategy", "linear-probe", "--precision", "fp32", "--quiet"]
    rows = {}
    for name, window in (("own", []), ("given", ["--window", "40,400"])):
        run = tmp_path / name
        result = run_cli("train", tmp_path / "data", *common, *window, "--out", run)
        assert result.returncode == 0, result.stderr
        rows[name] = json.loads(run_cli("predict", run, *test, "--format", "json").stdout)
    # The exported graph takes 8-bit RGB: the runtime must read the files through the run's window first.
    onnx_rows = json.loads(run_cli("predict", tmp_path / "given", *test, "--format", "json", "--runtime", "onnx").stdout)
    for ours, theirs in zip(rows["given"], onnx_rows, strict=True):
        assert ours["input"] == theirs["input"] and ours["label"] == theirs["label"]
        assert ours["probability"] == pytest.approx(theirs["probability"], abs=0.02)
    summary = json.loads((tmp_path / "own" / "summary.json").read_text())
    assert summary["scores"]["n"] == 6 and summary["scores"]["accuracy"] >= 5 / 6  # 11 CT and 16 MR in all
    assert sum(r["label"] == Path(r["input"]).parent.name for r in rows["own"]) >= 5
    given = json.loads((tmp_path / "given" / "config.json").read_text())["preprocessing"]["window"]
    meta = json.loads((tmp_path / "given" / "export" / "model.json").read_text())
    assert given == meta["preprocessing"]["dicom_window"] == [40.0, 400.0]
    # embed (and rank, similar) take the window too.
    vectors = {}
    for name, window in (("own", []), ("given", ["--window", "40,400"])):
        assert run_cli("embed", tmp_path / "data", "--out", tmp_path / f"{name}.parquet", *window, "--quiet",
                       "--precision", "fp32").returncode == 0
        vectors[name] = np.stack(pq.read_table(tmp_path / f"{name}.parquet").column("embedding").to_pylist())
    assert vectors["own"].shape == vectors["given"].shape and np.abs(vectors["own"] - vectors["given"]).max() > 0.1
    # The window changed what the model saw (a soft-tissue CT window saturates the MR thumbnails).
    assert max(abs(a["probability"] - b["probability"]) for a, b in zip(rows["own"], rows["given"], strict=True)) > 0.05
