"""Issue 32's load benchmark: `headstart serve` against the plain FastAPI + PyTorch endpoint (bench/plain_endpoint.py)
on the same run, 127.0.0.1 only, bounded in count and time.

    python bench/serve_load.py --seconds 60 --clients 1,8,32

The run: EfficientNet-Lite0 (224 px), linear-probe on the embedded sample, exported to ONNX. Each request sends one
image (a sample test photo scaled to 320 x 320, JPEG, as multipart). For each server and each number of concurrent
clients, wrk (one thread, keep-alive connections) sends requests for ``--seconds``; a row records requests per second,
p50/p99 latency, errors, and the server's resident memory when idle (after one request) and at the end. Both servers
answer the same image with the same label (checked before the load). Rows go to bench/results/serve_load.jsonl.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from PIL import Image
from urllib3 import encode_multipart_formdata

from headstart import api
from headstart.export import export_run
from headstart.tasks.image import SAMPLE_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, append_row, commit, free_port, machine, rss_mb, wait_for_http

RESULTS = ROOT / "bench" / "results" / "serve_load.jsonl"
WRK_SCRIPT = """
local f = io.open(os.getenv("BODY_FILE"), "rb")
wrk.body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE")
"""


def start(command: list[str], env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for_http(f"http://127.0.0.1:{port}/health", process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(url: str, clients: int, seconds: int, env: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    result = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "30s",
                             "-s", script.name, url], capture_output=True, text=True, env={**os.environ, **env},
                            timeout=seconds + 120)
    text = result.stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "requests": int(re.search(r"(\d+) requests in", text).group(1)),
            "p50_ms": latency("50"), "p99_ms": latency("99"),
            "errors": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1).strip() if socket_errors else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "headstart-bench-serve")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    run = args.work / "run"
    if not (run / "export" / "model.onnx").is_file():
        shutil.rmtree(run, ignore_errors=True)
        api.train("sample", strategy="linear-probe", out=run, baseline=False, check_leakage=False)
        export_run(run, "onnx")
    photo = sorted((SAMPLE_DIR / "test" / "coat").glob("*.png"))[0]
    buffer = io.BytesIO()
    Image.open(photo).convert("RGB").resize((320, 320), Image.BICUBIC).save(buffer, "JPEG", quality=90)
    body, content_type = encode_multipart_formdata([("files", ("coat.jpg", buffer.getvalue()))])
    body_file = args.work / "body.bin"
    body_file.write_bytes(body)
    wrk_env = {"BODY_FILE": str(body_file), "CONTENT_TYPE": content_type}

    servers = {
        "headstart serve": lambda port: [sys.executable, "-m", "headstart", "serve", str(run), "--port", str(port)],
        "plain FastAPI + PyTorch": lambda port: [sys.executable, "-m", "uvicorn", "bench.plain_endpoint:app",
                                                 "--port", str(port), "--log-level", "warning"],
    }
    labels = {}
    for name, command in servers.items():
        port = free_port()
        process = start(command(port), {"RUN": str(run)}, port)
        try:
            url = f"http://127.0.0.1:{port}/predict"
            first = requests.post(url, data=body, headers={"content-type": content_type}, timeout=60).json()
            labels[name] = first["predictions"][0]["label"] if "predictions" in first else first["label"]
            idle = rss_mb(process.pid)
            for clients in [int(c) for c in args.clients.split(",")]:
                measured = wrk(url, clients, args.seconds, wrk_env)
                append_row(RESULTS, {"server": name, "clients": clients, "seconds": args.seconds, **measured,
                                     "idle_rss_mb": round(idle, 1), "rss_mb_after": round(rss_mb(process.pid), 1),
                                     "label": labels[name], "image": "sample coat, 320x320 JPEG",
                                     "run": "efficientnet_lite0 linear-probe, sample, 224 px",
                                     "machine": machine(), "commit": commit()})
        finally:
            stop(process)
    if len(set(labels.values())) != 1:
        raise SystemExit(f"the servers disagree on the label: {labels}")


if __name__ == "__main__":
    main()
