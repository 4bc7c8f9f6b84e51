"""``headstart serve``: exported runs behind an HTTP API (FastAPI on uvicorn), without torch for classification.

``POST /predict`` takes images (multipart files, or base64 in JSON) or texts (JSON) and answers with the rows
``headstart predict --format json`` prints; ``GET /health``, ``GET /model`` and OpenAPI docs at ``/docs`` (served from
the package: no CDN). Requests that arrive while a batch runs are run together as the next batch (one ONNX Runtime
call: more inputs per call, the same latency when the server is idle). Every request is checked against the limits
and, when a token is set, its bearer token; each is logged as one JSON line on stderr.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import secrets
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from headstart.data.images import ImageTooLarge, decode_image
from headstart.errors import HeadstartError
from headstart.serving.runtime import exported_run

# Requests join a batch up to this many inputs: on 2 cores a batch of 8 images already runs at 1.2-1.5x the rate of
# single ones, and larger batches only hold more memory (one request larger than this still runs whole).
BATCH_INPUTS = 16


class TooLarge(HeadstartError):
    """A request over one of the limits (HTTP 413)."""


@dataclass(frozen=True)
class Limits:
    """What one request may hold: bytes, inputs, pixels per image, characters per text."""

    max_request_mb: float = 20.0
    max_inputs: int = 64
    max_pixels: int = 40_000_000
    max_text_chars: int = 20_000

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 2**20)


@dataclass
class Served:
    """One exported run as the service knows it."""

    name: str
    run: Path
    predictor: Any
    info: dict = field(default_factory=dict)

    @property
    def reads_text(self) -> bool:
        return bool(getattr(self.predictor, "reads_text", False))


def load_served(runs: list[str], engine: str = "auto") -> dict[str, Served]:
    """``NAME=RUN`` or ``RUN`` (named by its folder) for each exported run; refused in one line when a run is not
    exported yet or two share a name."""
    served: dict[str, Served] = {}
    for entry in runs:
        name, _, path = entry.rpartition("=") if "=" in entry else ("", "", entry)
        run = Path(path).expanduser()
        name = name or run.resolve().name
        if name in served:
            raise HeadstartError(f"two runs are named '{name}'; name them: headstart serve a={run} b=OTHER_RUN")
        predictor = exported_run(run, engine)
        if predictor is None:
            raise HeadstartError(f"{run} is not exported yet; run `headstart export {run}` first (serving needs no "
                                 "torch, exporting does)")
        meta = predictor.meta
        info = {"name": name, "task": meta["task"], "classes": [str(c) for c in meta["classes"]],
                "inputs": "texts" if getattr(predictor, "reads_text", False) else "images",
                "preprocessing": {k: v for k, v in meta.get("preprocessing", {}).items() if k != "tokenizer"},
                "model": meta.get("model"), "headstart_version": meta.get("headstart_version"),
                "engine": predictor.engine}
        served[name] = Served(name, run, predictor, info)
    return served


class Batcher:
    """Runs the requests of one model one batch at a time, each batch holding every request that arrived while
    the one before ran: throughput under load, no added wait when idle."""

    def __init__(self, served: Served, executor: ThreadPoolExecutor, max_batch: int) -> None:
        self.served, self.executor, self.max_batch = served, executor, max_batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.batches = self.inputs = 0

    async def rows(self, names: list[str], items: list[Any], top_k: int) -> list[dict]:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((names, items, top_k, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            count = len(jobs[0][1])
            while not self.queue.empty() and count < self.max_batch:
                jobs.append(self.queue.get_nowait())
                count += len(jobs[-1][1])
            items = [item for _, job_items, _, _ in jobs for item in job_items]
            try:
                proba = await loop.run_in_executor(self.executor, self.served.predictor.predict_proba, items)
            except Exception as exc:  # every request of the batch gets the error
                for *_, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches, self.inputs = self.batches + 1, self.inputs + len(items)
            start = 0
            for names, job_items, top_k, future in jobs:
                part = proba[start : start + len(job_items)]
                start += len(job_items)
                if not future.done():
                    future.set_result(self.served.predictor.rows(names, part, top_k))


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to expose the service beyond this machine without a token (or an explicit --insecure)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token and not insecure:
        raise HeadstartError(f"--host {host} lets other machines call the service; give --token (or set "
                             "HEADSTART_TOKEN) so that every request must carry it, or --insecure to serve it open")


def create_app(served: dict[str, Served], limits: Limits = Limits(), token: str | None = None,
               log: Any = None) -> Any:
    """The FastAPI application for ``served`` (name -> exported run)."""
    log = log or sys.stderr
    default = next(iter(served))
    executor = ThreadPoolExecutor(max_workers=1)  # one ONNX Runtime call at a time, on every core
    batchers = {name: Batcher(s, executor, BATCH_INPUTS) for name, s in served.items()}
    app = FastAPI(title="headstart serve", version=_version(), docs_url=None, redoc_url=None,
                  description="Predictions of exported headstart runs: " + ", ".join(served))

    @app.middleware("http")
    async def guard_and_log(request: Request, call_next):
        start = time.perf_counter()
        if token and not _token_ok(request.headers.get("authorization", ""), token):
            response = JSONResponse({"detail": "missing or wrong bearer token: send 'Authorization: Bearer TOKEN'"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        else:
            response = await call_next(request)
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "method": request.method, "path": request.url.path,
                  "status": response.status_code, "ms": round((time.perf_counter() - start) * 1000, 1),
                  "client": request.client.host if request.client else None,
                  **getattr(request.state, "logged", {})}
        print(json.dumps(record), file=log, flush=True)
        return response

    @app.exception_handler(HeadstartError)
    async def refused(request: Request, exc: HeadstartError):
        return JSONResponse({"detail": str(exc)}, status_code=413 if isinstance(exc, TooLarge | ImageTooLarge) else 400)

    @app.get("/health")
    async def health() -> dict:
        """Up, and per model how many inputs it answered in how many ONNX Runtime calls."""
        return {"status": "ok", "models": list(served),
                "served": {name: {"inputs": b.inputs, "batches": b.batches} for name, b in batchers.items()}}

    @app.get("/model")
    async def model(name: str | None = None) -> dict:
        """Classes, inputs and preprocessing of a served run (the only one, or ``name``)."""
        return _pick(served, name, default).info

    @app.post("/predict", openapi_extra=_PREDICT_BODY)
    async def predict(request: Request, model: str | None = None, top_k: int = 3) -> dict:
        """Predictions for images (multipart ``files``, or JSON ``{"images": [base64, ...]}``) or texts (JSON
        ``{"texts": [...]}``), in the order sent."""
        chosen = _pick(served, model, default)
        if not 1 <= top_k <= 1000:
            raise HeadstartError(f"top_k must be a whole number from 1 to 1000, not {top_k}")
        body = await _read_body(request, limits)
        names, items = await _inputs(request, body, chosen, limits)
        request.state.logged = {"model": chosen.name, "inputs": len(items)}
        if hasattr(chosen.predictor, "predict_proba"):
            rows = await batchers[chosen.name].rows(names, items, top_k)
        else:  # detection: one call per request
            rows = await asyncio.get_running_loop().run_in_executor(
                executor, lambda: _named(chosen.predictor.prediction_rows(items, top_k=top_k), names))
        return {"model": chosen.name, "predictions": rows}

    assets = _swagger_assets()
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs():
            return get_swagger_ui_html(openapi_url="/openapi.json", title="headstart serve",
                                       swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs-assets/swagger-ui.css",
                                       swagger_favicon_url="/docs-assets/favicon-32x32.png")

    app.state.batchers = batchers
    return app


_PREDICT_BODY = {"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "texts": {"type": "array", "items": {"type": "string"}},
        "images": {"type": "array", "items": {"type": "string", "format": "byte"}}}}},
}}}


def _version() -> str:
    from headstart import __version__

    return __version__


def _swagger_assets() -> str | None:
    """Swagger UI's files from the swagger-ui-bundle package, so /docs works offline (None: /docs is left out)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return str(swagger_ui_path)


def _token_ok(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())


def _pick(served: dict[str, Served], name: str | None, default: str) -> Served:
    if name is None:
        if len(served) > 1:
            raise HeadstartError(f"this service has {len(served)} models; choose one with ?model= "
                                 f"({', '.join(served)})")
        return served[default]
    if name not in served:
        raise HeadstartError(f"no model named '{name}'; this service has {', '.join(served)}")
    return served[name]


async def _read_body(request: Request, limits: Limits) -> bytes:
    """The request body, read no further than the size limit."""
    declared = request.headers.get("content-length")
    limit = limits.max_request_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request is {int(declared) / 2**20:.1f} MB, over the {limits.max_request_mb:g} MB limit "
                       "(--max-request-mb); send fewer or smaller inputs per request")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request is over the {limits.max_request_mb:g} MB limit (--max-request-mb); send "
                           "fewer or smaller inputs per request")
        chunks.append(chunk)
    return b"".join(chunks)


async def _inputs(request: Request, body: bytes, served: Served, limits: Limits) -> tuple[list[str], list[Any]]:
    """(names, inputs) of the request: texts, or decoded images, each checked against the limits."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        if served.reads_text:
            raise HeadstartError(f"model '{served.name}' reads texts; send JSON {{\"texts\": [...]}}")
        uploads = await _form_files(request, body, limits)
        _check_count(len(uploads), limits)
        return [name for name, _ in uploads], [decode_image(data, name, limits.max_pixels) for name, data in uploads]
    if kind != "application/json":
        raise HeadstartError(f"unsupported content type '{kind or 'none'}'; send multipart/form-data (image files) or "
                             "application/json (texts or base64 images)")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HeadstartError(f"the request body is not valid JSON ({exc})") from exc
    key = "texts" if served.reads_text else "images"
    other = "images" if served.reads_text else "texts"
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        hint = f" (model '{served.name}' reads {key}, not {other})" if isinstance(payload, dict) and other in payload else ""
        raise HeadstartError(f"send JSON {{\"{key}\": [...]}}{hint}")
    values = payload[key]
    _check_count(len(values), limits)
    if served.reads_text:
        return _texts(values, limits)
    names = [f"image {i}" for i in range(len(values))]
    return names, [decode_image(_base64(value, name), name, limits.max_pixels) for name, value in zip(names, values, strict=True)]


def _check_count(count: int, limits: Limits) -> None:
    if count == 0:
        raise HeadstartError("the request holds no inputs; send at least one")
    if count > limits.max_inputs:
        raise TooLarge(f"the request holds {count} inputs, over the limit of {limits.max_inputs} (--max-inputs); "
                       "split it into several requests")


def _texts(values: list, limits: Limits) -> tuple[list[str], list[str]]:
    for i, text in enumerate(values):
        if not isinstance(text, str) or not text.strip():
            raise HeadstartError(f"text {i} is {'empty' if isinstance(text, str) else 'not a string'}; send texts "
                                 "to classify")
        if len(text) > limits.max_text_chars:
            raise TooLarge(f"text {i} has {len(text):,} characters, over the limit of {limits.max_text_chars:,} "
                           "(--max-text-chars); send a shorter text")
    return list(values), list(values)


def _base64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise HeadstartError(f"{name} is not a base64 string; send each image's file bytes in base64")
    try:
        return base64.b64decode(value.split(",", 1)[1] if value.startswith("data:") else value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HeadstartError(f"{name} is not valid base64 ({exc})") from exc


async def _form_files(request: Request, body: bytes, limits: Limits) -> list[tuple[str, bytes]]:
    """The uploaded files of a multipart body: (the name as sent, used only to label the row; the bytes)."""
    from starlette.datastructures import UploadFile

    async def replay() -> dict:  # the body was read already, under the size limit
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=limits.max_inputs + 1, max_fields=limits.max_inputs + 1)
    except Exception as exc:  # python-multipart's parse errors and Starlette's limits alike
        raise HeadstartError(f"cannot read the multipart body ({getattr(exc, 'detail', exc)})") from exc
    uploads = []
    for _, value in form.multi_items():
        if isinstance(value, UploadFile):
            uploads.append((value.filename or f"file {len(uploads)}", await value.read()))
    if not uploads:
        raise HeadstartError("the multipart request holds no files; send images as 'files'")
    return uploads


def _named(rows: list[dict], names: list[str]) -> list[dict]:
    for row, name in zip(rows, names, strict=True):
        row["input"] = name
    return rows


def serve(runs: list[str], host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          insecure: bool = False, limits: Limits = Limits(), engine: str = "auto", announce: Any = print) -> None:
    """Serve ``runs`` until stopped (Ctrl-C or SIGTERM finish the requests in flight first)."""
    import uvicorn

    check_bind(host, token, insecure)
    served = load_served(runs, engine)
    app = create_app(served, limits, token)
    for s in served.values():
        announce(f"serving {s.name}: {s.info['task']}, {len(s.info['classes'])} classes, {s.info['inputs']}, "
                 f"{s.info['engine']} ({s.run})")
    announce(f"listening on http://{host}:{port} (POST /predict, GET /health, GET /model, docs at /docs); "
             f"limits: {json.dumps(asdict(limits))}")
    # uvicorn finishes the requests in flight on SIGTERM, then raises the signal again: exit 0 then, not -15.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=30)


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)
