"""Issue 32's deployment numbers: the serving-only install (tools/install_serve.sh, what the Dockerfile runs) against
the full one.

    python bench/serve_install.py

Makes a fresh virtual environment with the serving-only install and records its size on disk (the Python layer of
the Docker image; the python:3.11-slim base is not counted: no Docker engine runs here), that torch cannot be
imported in it, then times `headstart predict RUN one.png --runtime onnx` (5 times: median seconds, peak resident
memory) in it and in the full install, beside the torch runtime, and the idle memory of `headstart serve`. The run is
bench/serve_load.py's (EfficientNet-Lite0 linear-probe on the sample, exported). Rows go to
bench/results/serve_install.jsonl.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from headstart import api
from headstart.export import export_run
from headstart.tasks.image import SAMPLE_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, append_row, commit, free_port, machine, rss_mb, wait_for_http

RESULTS = ROOT / "bench" / "results" / "serve_install.jsonl"


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def timed(command: list[str], repeats: int = 5) -> dict:
    """Median wall seconds and the largest peak resident memory of ``command`` over ``repeats`` runs."""
    seconds, peaks = [], []
    for _ in range(repeats):
        result = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True, text=True,
                                timeout=600)
        if result.returncode != 0:
            raise SystemExit(f"{command} failed: {result.stderr[-2000:]}")
        wall, peak_kb = result.stderr.strip().splitlines()[-1].split()
        seconds.append(float(wall))
        peaks.append(int(peak_kb) / 1024)
    return {"seconds_median": statistics.median(seconds), "seconds_all": seconds, "peak_rss_mb": round(max(peaks), 1)}


def idle_serve_mb(headstart: Path, run: Path, image: Path) -> float:
    port = free_port()
    process = subprocess.Popen([str(headstart), "serve", str(run), "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/health", process)
        answer = requests.post(url + "/predict", files=[("files", (image.name, image.read_bytes()))], timeout=60)
        answer.raise_for_status()
        time.sleep(1)
        return rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "headstart-bench-serve")
    args = parser.parse_args()
    run = args.work / "run"
    if not (run / "export" / "model.onnx").is_file():
        shutil.rmtree(run, ignore_errors=True)
        api.train("sample", strategy="linear-probe", out=run, baseline=False, check_leakage=False)
        export_run(run, "onnx")
    venv = args.work / "serve-venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    started = time.perf_counter()
    subprocess.run(["sh", str(ROOT / "tools" / "install_serve.sh"), str(ROOT)], check=True,
                   env={**os.environ, "PYTHON": str(venv / "bin" / "python")})
    install_seconds = time.perf_counter() - started
    no_torch = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode != 0
    image = sorted((SAMPLE_DIR / "test" / "coat").glob("*.png"))[0]
    full = Path(sys.executable).parent / "headstart"
    slim = venv / "bin" / "headstart"
    common = {"machine": machine(), "commit": commit(), "run": "efficientnet_lite0 linear-probe, sample, 224 px"}
    append_row(RESULTS, {"what": "serving-only install", "venv_mb": round(size_mb(venv), 1), "torch_importable":
                         not no_torch, "install_seconds": round(install_seconds, 1), **common})
    for install, headstart in (("serving-only", slim), ("full", full)):
        for runtime in (("onnx",) if install == "serving-only" else ("onnx", "torch")):
            row = timed([str(headstart), "predict", str(run), str(image), "--runtime", runtime, "-f", "json"])
            append_row(RESULTS, {"what": f"predict one image, {install} install, --runtime {runtime}", **row, **common})
        append_row(RESULTS, {"what": f"serve idle after one request, {install} install",
                             "rss_mb": round(idle_serve_mb(headstart, run, image), 1), **common})


if __name__ == "__main__":
    main()
