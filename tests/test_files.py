"""Archives are unpacked only inside their target folder."""

from __future__ import annotations

import io
import tarfile

import pytest

from headstart.errors import HeadstartError
from headstart.files import extract_tar


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_a_plain_archive_is_unpacked(tmp_path):
    archive = make_tar(tmp_path / "ok.tar.gz", [("data/rt-polarity.pos", b"good\n", "file")])
    extract_tar(archive, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "rt-polarity.pos").read_bytes() == b"good\n"


@pytest.mark.parametrize(
    "member",
    [("../escaped.txt", b"x", "file"), ("link", "/etc", "symlink")],
    ids=["dot-dot", "symlink-out"],
)
def test_members_that_leave_the_target_are_refused(tmp_path, member):
    archive = make_tar(tmp_path / "evil.tar.gz", [member])
    with pytest.raises(HeadstartError, match="tries to write outside"):
        extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_absolute_names_land_inside_the_target(tmp_path):
    archive = make_tar(tmp_path / "abs.tar.gz", [(str(tmp_path / "absolute.txt"), b"x", "file")])
    extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "absolute.txt").exists()
    assert (tmp_path / "out" / str(tmp_path).lstrip("/") / "absolute.txt").exists()


def test_a_damaged_archive_is_one_error(tmp_path):
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(HeadstartError, match="not a readable tar archive"):
        extract_tar(tmp_path / "bad.tar.gz", tmp_path / "out")
