"""What every benchmark records beside its numbers: the machine and the code version, one JSON line per result."""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from pathlib import Path

import torch

from headstart.compute.device import cpu_fields

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    """The CPU, its threads and torch. Virtual machines often name the CPU only by vendor ("AMD EPYC"), so its
    family and model and whether it has bf16 or AMX instructions are added: two such machines can differ 2x."""
    fields = cpu_fields()
    if "model name" in fields:
        flags = set(fields.get("flags", "").split())
        extras = [name for name in ("avx512_bf16", "amx_bf16") if name in flags]
        cpu = f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')}"
        cpu += f"; {', '.join(extras)})" if extras else ")"
    else:
        cpu = platform.processor()
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


@functools.cache
def commit() -> str:
    """The short hash of the code checked out when the benchmark started (read once: commits made while it runs do
    not change what it imported). Run it from a clean tree for the hash to mean something."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False)
    return result.stdout.strip()


commit()  # read when a benchmark imports this module, i.e. at its start


def append_row(path: Path, row: dict) -> None:
    print(json.dumps(row), flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server a benchmark starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Return once ``url`` answers at all; stop ``process`` and the benchmark if it does not within ``seconds``."""
    import time

    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{process.args} did not answer {url} within {seconds:.0f} s")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (Linux), in MB."""
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
