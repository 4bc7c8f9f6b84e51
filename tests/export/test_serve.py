"""``headstart serve`` and the torch-free ONNX path (issue 32): a real server process on a free loopback port,
answering as ``headstart predict`` does, refusing what is over a limit with the right 4xx, checking its token; and
``predict --runtime onnx`` without torch or transformers loaded."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image
from urllib3 import encode_multipart_formdata

from headstart.export import export_run
from tests.conftest import free_port, run_cli

TEXTS = ["A moving, beautifully acted film.", "A dull, lifeless mess that goes on and on.", "It was fine, I guess."]


class Server:
    """``headstart serve ARGS`` as a real process on 127.0.0.1, stopped (SIGTERM) at the end."""

    def __init__(self, *args, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115 (closed in stop)
        environment = {k: v for k, v in os.environ.items() if k != "HEADSTART_TOKEN"} | (env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "headstart", "serve", *map(str, args), "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=self.log, text=True, env=environment)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server stopped: {self.stderr()}")
            try:
                requests.get(self.url + "/health", timeout=1, headers=self.headers(env))
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("the server did not answer within 60 s")

    @staticmethod
    def headers(env: dict | None) -> dict:
        token = (env or {}).get("HEADSTART_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def stderr(self) -> str:
        return Path(self.log.name).read_text()

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        stderr = self.stderr()
        self.log.close()
        return self.process.returncode, stderr


@pytest.fixture(scope="module")
def exported(image_run, text_run):
    for _, run in (image_run, text_run):
        export_run(run, "onnx")
    return image_run, text_run


@pytest.fixture(scope="module")
def server(exported):
    (_, image_run), (_, text_run) = exported
    server = Server(f"images={image_run}", f"texts={text_run}", "--max-inputs", "8", "--max-pixels", "1000000",
                    "--max-total-pixels", "1500000", "--max-request-mb", "1", "--max-text-chars", "200")
    yield server
    server.stop()


def predicted(run, inputs, *flags) -> list[dict]:
    result = run_cli("predict", run, *inputs, "-f", "json", "-k", "3", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_images_and_texts_are_answered_as_predict_answers(exported, server):
    (data, image_run), (_, text_run) = exported
    images = sorted((data / "test").rglob("*.png"))[:6]
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in images]
    answer = requests.post(server.url + "/predict?model=images", files=files, timeout=60)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    onnx_rows = predicted(image_run, images, "--runtime", "onnx")
    assert [r["input"] for r in rows] == [p.name for p in images]  # the name as sent, never a path
    # OpenVINO here, ONNX Runtime there: the same file, fp32 both
    assert [[t["label"] for t in r["top_k"]] for r in rows] == [[t["label"] for t in r["top_k"]] for r in onnx_rows]
    assert max(abs(a["probability"] - b["probability"]) for a, b in zip(rows, onnx_rows, strict=True)) < 1e-4
    torch_rows = predicted(image_run, images)
    assert [r["label"] for r in rows] == [r["label"] for r in torch_rows]
    assert max(abs(a["probability"] - b["probability"]) for a, b in zip(rows, torch_rows, strict=True)) < 5e-3

    encoded = [base64.b64encode(p.read_bytes()).decode() for p in images]
    as_json = requests.post(server.url + "/predict?model=images", json={"images": encoded}, timeout=60).json()
    assert [r["top_k"] for r in as_json["predictions"]] == [r["top_k"] for r in rows]

    texts = requests.post(server.url + "/predict?model=texts&top_k=2", json={"texts": TEXTS}, timeout=60)
    assert texts.status_code == 200, texts.text
    text_rows = predicted(text_run, TEXTS, "--runtime", "onnx")
    assert [(r["input"], r["label"]) for r in texts.json()["predictions"]] == [(r["input"], r["label"]) for r in text_rows]
    assert max(abs(a["probability"] - b["probability"])
               for a, b in zip(texts.json()["predictions"], text_rows, strict=True)) < 1e-4
    assert [len(r["top_k"]) for r in texts.json()["predictions"]] == [2, 2, 2]


def test_the_model_health_and_offline_docs_describe_the_service(server):
    model = requests.get(server.url + "/model?name=texts", timeout=10).json()
    assert model["task"] == "text" and model["inputs"] == "texts" and model["classes"] == ["fresh", "rotten"]
    assert model["engine"] == "openvino"  # auto: installed with headstart
    assert model["preprocessing"]["max_length"] == 64 and "tokenizer" not in model["preprocessing"]
    assert requests.get(server.url + "/health", timeout=10).json()["status"] == "ok"
    docs = requests.get(server.url + "/docs", timeout=10).text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert requests.get(server.url + "/docs-assets/swagger-ui-bundle.js", timeout=10).status_code == 200
    assert "/predict" in requests.get(server.url + "/openapi.json", timeout=10).json()["paths"]


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_every_limit_and_bad_input_gets_its_4xx_and_a_message(exported, server):
    (data, _), _ = exported
    image = sorted((data / "test").rglob("*.png"))[0].read_bytes()
    url = server.url + "/predict"
    cases = [
        # (request, status, words in the message)
        (dict(params={"model": "images"}, files=[("files", ("a.png", image))] * 9), 413, "--max-inputs"),
        (dict(params={"model": "images"}, files=[("files", ("a.png", image))] * 30), 413, "holds 30 inputs"),
        (dict(params={"model": "images"}, json={"images": [base64.b64encode(image).decode()] * 9}), 413, "--max-inputs"),
        (dict(params={"model": "images"}, files=[("files", ("big.png", os.urandom(1_200_000)))]), 413, "--max-request-mb"),
        # no Content-Length (chunked): cut off while reading
        (dict(params={"model": "texts"}, data=iter([b'{"texts": ["', b"x" * 700_000, b"x" * 700_000, b'"]}']),
              headers={"content-type": "application/json"}), 413, "--max-request-mb"),
        (dict(params={"model": "images"}, files=[("files", ("huge.png", png(1100, 1000)))]), 413, "1,000,000-pixel"),
        (dict(params={"model": "images"}, files=[("files", ("thin.png", png(20_001, 1)))]), 413, "20,000-pixel-side"),
        (dict(params={"model": "images"}, files=[("files", (f"{i}.png", png(1000, 500))) for i in range(4)]), 413,
         "--max-total-pixels"),
        (dict(params={"model": "images"}, files=[("files", ("scan.dcm", b"\0" * 128 + b"DICM" + b"\0" * 64))]), 400,
         "scan.dcm is a DICOM file"),
        (dict(params={"model": "images"}, json={"images": ["data:image/png;base64"]}), 400, "image 0 is empty"),
        (dict(params={"model": "texts"}, data="[" * 100_000, headers={"content-type": "application/json"}), 400,
         "not valid JSON"),
        (dict(params={"model": "texts"}, data='{"texts": ["a \\ud800 b"]}', headers={"content-type": "application/json"}),
         400, "text 0 is not valid Unicode"),
        (dict(params={"model": "texts", "top_k": "many"}, json={"texts": TEXTS}), 400, "bad request parameter (top_k"),
        (dict(params={"model": "texts"}, json={"texts": ["x" * 201]}), 413, "--max-text-chars"),
        (dict(params={"model": "images"}, files=[("files", ("notes.png", b"plain text, not a picture"))]), 400,
         "notes.png is not a readable image"),
        (dict(params={"model": "images"}, files=[("files", ("empty.png", b""))]), 400, "empty.png is empty"),
        (dict(params={"model": "images"}, files=[("files", ("cut.png", image[: len(image) // 2]))]), 400,
         "cut.png is not a readable image"),
        (dict(params={"model": "texts"}, files=[("files", ("a.png", image))]), 400, "reads texts"),
        (dict(params={"model": "images"}, json={"texts": TEXTS}), 400, "reads images, not texts"),
        (dict(params={"model": "images"}, json={"images": ["not base64!"]}), 400, "not valid base64"),
        (dict(params={"model": "texts"}, json={"texts": []}), 400, "no inputs"),
        (dict(params={"model": "texts"}, json={"texts": ["  "]}), 400, "text 0 is empty"),
        (dict(params={"model": "texts"}, data="{not json", headers={"content-type": "application/json"}), 400,
         "not valid JSON"),
        (dict(params={"model": "texts"}, data="hello", headers={"content-type": "text/plain"}), 400,
         "unsupported content type"),
        (dict(params={"model": "nope"}, json={"texts": TEXTS}), 400, "no model named 'nope'"),
        (dict(json={"texts": TEXTS}), 400, "choose one with ?model="),
        (dict(params={"model": "texts", "top_k": 0}, json={"texts": TEXTS}), 400, "top_k"),
    ]
    for request, status, words in cases:
        answer = requests.post(url, timeout=60, **request)
        assert answer.status_code == status, (words, answer.status_code, answer.text)
        assert words in answer.json()["detail"], (words, answer.json())
    # the service is still up and right after all of them
    assert requests.post(url, params={"model": "texts"}, json={"texts": TEXTS[:1]}, timeout=60).status_code == 200
    # a page elsewhere reaching the loopback service through a rebound DNS name
    assert requests.get(server.url + "/health", headers={"Host": "evil.example"}, timeout=10).status_code == 400


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(exported, server):
    (data, _), _ = exported
    images = sorted((data / "test").rglob("*.png"))[:8]
    singles = [requests.post(server.url + "/predict?model=images", files=[("files", (p.name, p.read_bytes()))],
                             timeout=60).json()["predictions"][0] for p in images]
    before = requests.get(server.url + "/health", timeout=10).json()["served"]["images"]

    def one(i: int) -> dict:
        p = images[i % len(images)]
        return requests.post(server.url + "/predict?model=images", files=[("files", (p.name, p.read_bytes()))],
                             timeout=120).json()["predictions"][0]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(48)))
    assert [a["top_k"] for a in answers] == [singles[i % len(images)]["top_k"] for i in range(48)]
    after = requests.get(server.url + "/health", timeout=10).json()["served"]["images"]
    assert after["inputs"] - before["inputs"] == 48
    assert after["batches"] - before["batches"] < 48  # some requests shared a runtime call


def test_a_token_is_checked_on_every_request_and_other_hosts_need_one(exported, tmp_path, monkeypatch):
    (data, image_run), _ = exported
    monkeypatch.delenv("HEADSTART_TOKEN", raising=False)
    server = Server(image_run, "--engine", "onnxruntime", env={"HEADSTART_TOKEN": "s3cret"})
    try:
        image = sorted((data / "test").rglob("*.png"))[0]
        answer = requests.post(server.url + "/predict", files=[("files", (image.name, image.read_bytes()))],
                               headers={"Authorization": "Bearer s3cret"}, timeout=60)
        assert answer.json()["predictions"][0]["top_k"] == predicted(image_run, [image], "--runtime", "onnx")[0]["top_k"]
        assert requests.get(server.url + "/health", timeout=10).status_code == 401
        wrong = requests.get(server.url + "/model", headers={"Authorization": "Bearer guess"}, timeout=10)
        assert wrong.status_code == 401 and "bearer token" in wrong.json()["detail"]
        right = requests.get(server.url + "/model", headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert right.status_code == 200 and right.json()["inputs"] == "images"
    finally:
        code, stderr = server.stop()
    assert code == 0
    log = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [r["status"] for r in log if r["path"] == "/model"] == [401, 200] and "s3cret" not in stderr

    refused = run_cli("serve", image_run, "--host", "0.0.0.0")
    assert refused.returncode == 1 and "--token" in refused.stderr and "--insecure" in refused.stderr
    for option, value in (("--max-inputs", "0"), ("--max-pixels", "100000000"), ("--max-request-mb", "0"),
                          ("--port", "70000"), ("--max-connections", "0")):
        answer = run_cli("serve", image_run, option, value)
        assert answer.returncode == 1 and answer.stderr.count(option) == 1, answer.stderr
    assert "unknown --engine 'gpu'" in run_cli("serve", image_run, "--engine", "gpu").stderr
    assert "--token must be printable ASCII" in run_cli("serve", image_run, "--token", "pässwort").stderr
    assert "not a complete headstart run" in run_cli("serve", image_run.parent).stderr
    unexported = tmp_path / "lr=0.1"  # a name with '=' is a path when it exists
    shutil.copytree(image_run, unexported, ignore=shutil.ignore_patterns("export"))
    answer = run_cli("serve", unexported)
    assert answer.returncode == 1 and f"{unexported} is not exported yet" in answer.stderr, answer.stderr


def test_stopping_finishes_the_request_in_flight(exported):
    """SIGTERM arrives while a client is still uploading: the server stops taking connections, answers that request
    in full, then exits 0."""
    (data, image_run), _ = exported
    server = Server(image_run)
    images = sorted((data / "test").rglob("*.png"))[:10]
    body, content_type = encode_multipart_formdata([("files", (p.name, p.read_bytes())) for p in images])
    pieces = [body[i : i + len(body) // 8 + 1] for i in range(0, len(body), len(body) // 8 + 1)]
    started, answer = threading.Event(), {}

    def slowly():
        for i, piece in enumerate(pieces):
            yield piece
            if i == 0:
                started.set()
            time.sleep(0.15)

    def send() -> None:
        answer["response"] = requests.post(server.url + "/predict", data=slowly(), timeout=120,
                                           headers={"content-type": content_type})

    sender = threading.Thread(target=send)
    sender.start()
    assert started.wait(30)
    code, stderr = server.stop()  # about a second of upload still to come
    sender.join()
    assert answer["response"].status_code == 200, answer["response"].text
    assert [r["input"] for r in answer["response"].json()["predictions"]] == [p.name for p in images]
    assert code == 0, stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/health", timeout=5)


PROBE = """
import json, sys
from headstart.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps({m: m in sys.modules for m in ("torch", "transformers", "sklearn", "timm")}), file=sys.stderr)
"""


@pytest.mark.parametrize("which", ["image", "text"])
def test_predict_with_onnx_runtime_loads_neither_torch_nor_transformers(exported, which, tmp_path):
    (data, image_run), (_, text_run) = exported
    run, inputs = (image_run, [str(data / "test")]) if which == "image" else (text_run, TEXTS)
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    result = subprocess.run([sys.executable, str(script), "predict", str(run), *inputs, "--runtime", "onnx", "-f",
                             "json"], capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    assert loaded == {"torch": False, "transformers": False, "sklearn": False, "timm": False}
    assert json.loads(result.stdout) == predicted(run, inputs, "--runtime", "onnx")


def test_a_request_that_fails_its_batch_alone_gets_the_error(exported):
    """Three requests queued together run as one batch; the batch fails on one request's input, so each is run
    again alone: the other two get their probabilities (the model's own), only the bad one the error."""
    from headstart.serving.batching import Batcher
    from headstart.serving.runtime import OnnxModel

    (data, image_run), _ = exported
    model = OnnxModel(image_run / "export" / "model.onnx")
    image = Image.open(sorted((data / "test").rglob("*.png"))[0]).convert("RGB")

    def proba(items):
        if any(isinstance(item, str) for item in items):
            raise ValueError("not an image")
        return model.predict_proba(items)

    async def three():
        batcher = Batcher(proba, ThreadPoolExecutor(1), max_batch=16)
        answers = await asyncio.gather(batcher.proba([image]), batcher.proba(["bad"]), batcher.proba([image, image]),
                                       return_exceptions=True)
        return answers, batcher.calls

    (one, bad, two), calls = asyncio.run(three())
    assert isinstance(bad, ValueError) and calls == 2
    expected = model.predict_proba([image])
    assert one.shape == (1, 3) and two.shape == (2, 3)
    assert abs(one - expected).max() < 1e-6 and abs(two - expected).max() < 1e-6
