"""Shared fixtures: small real data (the embedded Fashion-MNIST sample, scikit-image photos) and one fitted probe."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings


def _one_share_of_the_cores_per_worker() -> None:
    """Under pytest-xdist (-n N) each worker runs on its own share of the cores, before torch is imported: N
    workers each spreading threads over every core would thrash, and headstart sizes its thread pools from the
    process's affinity (compute.cores.usable_cores), which child processes inherit."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    share = cores[int(worker.removeprefix("gw")) % count :: count]
    if len(cores) >= count and share:
        os.sched_setaffinity(0, share)
        os.environ["OMP_NUM_THREADS"] = str(len(share))


_one_share_of_the_cores_per_worker()

from headstart.tasks.image import SAMPLE_DIR  # noqa: E402  (after the cores are shared out)

# Locally hypothesis explores new examples on every run; under CI it replays a fixed set, so that a landing does not
# depend on luck (HYPOTHESIS_PROFILE=explore with a large max_examples is how to hunt for new failures).
quick = {"max_examples": 60, "deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", **quick)
settings.register_profile("ci", **quick, derandomize=True, print_blob=True)
settings.register_profile("explore", **{**quick, "max_examples": 2000})
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory) -> Path:
    """One feature cache for the whole session (CLI subprocesses inherit it), never the user's own."""
    folder = tmp_path_factory.mktemp("feature-cache")
    os.environ["HEADSTART_FEATURE_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


def copy_sample(target: Path, classes: list[str], per_class: int, splits=("train", "test")) -> Path:
    """A smaller image folder made of real sample images: ``target/{train,test}/<class>/*.png``."""
    for split in splits:
        for cls in classes:
            files = sorted((SAMPLE_DIR / split / cls).glob("*.png"))[:per_class]
            (target / split / cls).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy(f, target / split / cls / f.name)
    return target


@pytest.fixture
def small_folder(tmp_path) -> Path:
    """3 real classes, 12 training and 12 test images each."""
    return copy_sample(tmp_path / "data", ["bag", "sneaker", "trouser"], 12)


@pytest.fixture(scope="session")
def fitted_probe():
    """A linear probe on EfficientNet-Lite0 fitted on the whole embedded sample (shared: it takes ~20 s)."""
    from headstart import ImageClassifier

    return ImageClassifier(strategy="linear-probe").fit("sample")


def run_cli(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``headstart ARGS`` through the console script's own entry point, in this process: the same parsing, output
    and exit codes as in a terminal, without paying for a new interpreter and its imports on every call (the suite's
    end-to-end tests that need a real process, for signals, torchrun or imports, start one)."""
    from headstart.cli import main

    stdout, stderr, handler = io.StringIO(), io.StringIO(), signal.getsignal(signal.SIGINT)
    code: int | str | None = 0
    with redirect_stdout(stdout), redirect_stderr(stderr), mock.patch.object(sys, "stdin", io.StringIO(stdin or "")):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        finally:
            signal.signal(signal.SIGINT, handler)  # main() installs its Ctrl-C handler
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["headstart", *map(str, args)], returncode, stdout.getvalue(), stderr.getvalue())


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LONGEST_FIRST = ("tests/test_demo.py",)  # minutes alone: started first, the other worker takes the rest meanwhile


def pytest_collection_modifyitems(items: list) -> None:
    """The longest test first, so that with two workers it does not start last and run alone at the end."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))
