"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def user_path(value: str | os.PathLike[str]) -> Path:
    """``~`` expanded like a shell does; an unknown ``~user`` is left as it is instead of raising."""
    return Path(os.path.expanduser(os.fspath(value)))


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``: readers see the old file
    or the whole new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def extract_tar(archive: Path, target: Path) -> None:
    """Unpack a downloaded tar archive into ``target``; a member that would land outside it (``../``, an absolute
    path, a link pointing out, a device file) is refused with a clear error and nothing of it is written."""
    from headstart.errors import HeadstartError

    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")  # the stdlib's "data" filter (PEP 706) does the checking
    except tarfile.FilterError as exc:
        raise HeadstartError(f"{archive} tries to write outside {target} ({exc}); delete it and download again") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise HeadstartError(f"{archive} is not a readable tar archive ({exc}); delete it and download again") from exc
