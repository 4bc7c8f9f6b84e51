"""Issue 32: the app's time from "Train" to a usable model on the embedded sample.

    python bench/app_train.py

Starts `headstart app` (a real process on a free loopback port, a fresh projects folder), makes an image project
through the same API the page uses, uploads the sample's 300 training images (10 classes of 30 Fashion-MNIST
images), presses Train (auto) and waits until the run is done and "try it" answers. Records the seconds from the click
to the finished run, to the first prediction, the strategy auto chose, the accuracy the page shows and the app's
idle memory before and after. Rows go to bench/results/app_train.jsonl.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from headstart.tasks.image import SAMPLE_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, free_port, machine, rss_mb, wait_for_http

RESULTS = Path(__file__).resolve().parent / "results" / "app_train.jsonl"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="headstart-app-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = subprocess.Popen([sys.executable, "-m", "headstart", "app", "--project", str(work), "--port", str(port),
                            "--no-browser"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(url + "/api/projects", app)
        idle = rss_mb(app.pid)
        requests.post(url + "/api/projects", json={"name": "sample", "kind": "image"}, timeout=30).raise_for_status()
        classes = sorted(p.name for p in (SAMPLE_DIR / "train").iterdir())
        for label in classes:
            requests.post(url + "/api/projects/sample/classes", json={"name": label}, timeout=30).raise_for_status()
            files = [("files", (p.name, p.read_bytes())) for p in sorted((SAMPLE_DIR / "train" / label).glob("*.png"))]
            requests.post(url + "/api/projects/sample/examples", params={"label": label}, files=files,
                          timeout=120).raise_for_status()
        clicked = time.perf_counter()
        requests.post(url + "/api/projects/sample/train", json={}, timeout=60).raise_for_status()
        while True:
            training = requests.get(url + "/api/projects/sample", timeout=30).json()["training"]
            if training["state"] != "running":
                break
            time.sleep(0.5)
        done = time.perf_counter() - clicked
        if training["state"] != "done":
            raise SystemExit(f"training {training['state']}: {training.get('error')}")
        run = training["run"]
        results = requests.get(url + f"/api/projects/sample/runs/{run}", timeout=30).json()
        test_image = sorted((SAMPLE_DIR / "test" / "coat").glob("*.png"))[0]
        answer = requests.post(url + f"/api/projects/sample/runs/{run}/predict",
                               files=[("files", (test_image.name, test_image.read_bytes()))], timeout=300)
        answer.raise_for_status()
        usable = time.perf_counter() - clicked
        append_row(RESULTS, {"images": 300, "classes": len(classes), "click_to_done_seconds": round(done, 1),
                             "click_to_first_prediction_seconds": round(usable, 1), "strategy": results["strategy"],
                             "model": results["model"], "accuracy": results["accuracy"],
                             "evaluated_on": results["evaluated_on"], "idle_rss_mb": round(idle, 1),
                             "rss_mb_after": round(rss_mb(app.pid), 1), "machine": machine(), "commit": commit()})
    finally:
        app.terminate()
        app.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
