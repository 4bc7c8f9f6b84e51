"""``headstart serve``: exported runs behind an HTTP API (FastAPI on uvicorn), without torch for classification.

``POST /predict`` takes images (multipart files, or base64 in JSON) or texts (JSON) and answers with the rows
``headstart predict --format json`` prints; ``GET /health``, ``GET /model`` and OpenAPI docs at ``/docs`` (served from
the package: no CDN). Requests are batched (batching.py) and read within limits (uploads.py); images are decoded in
threads beside the event loop. With a token every request must carry it; each is logged as one JSON line on stderr.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.staticfiles import StaticFiles

from headstart.errors import HeadstartError
from headstart.serving.batching import Batcher
from headstart.serving.http import answer_errors, guard_host, is_loopback
from headstart.serving.runtime import exported_run
from headstart.serving.uploads import DEFAULT_LIMITS, Limits, decode, raw_inputs, read_body


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
    """``RUN`` (named by its folder) or ``NAME=RUN`` for each exported run, loaded whole (tokenizer included) so that
    what cannot be served is refused in one line before the service starts."""
    served: dict[str, Served] = {}
    for entry in runs:
        name, _, path = ("", "", entry) if Path(entry).expanduser().exists() or "=" not in entry else entry.partition("=")
        run = Path(path).expanduser()
        name = name or run.resolve().name
        if name in served:
            raise HeadstartError(f"two runs are named '{name}'; name them: headstart serve a={run} b=OTHER_RUN")
        predictor = exported_run(run, engine)
        if predictor is None:
            raise HeadstartError(f"{run} is not exported yet; run `headstart export {run}` first (on a full install: "
                                 "serving needs no torch, exporting does)")
        if getattr(predictor, "reads_text", False):
            predictor.read_text_encoding()
        if not hasattr(predictor, "predict_proba"):
            _check_torch(run)
        meta = predictor.meta
        info = {"name": name, "task": meta["task"], "classes": [str(c) for c in meta["classes"]],
                "inputs": "texts" if getattr(predictor, "reads_text", False) else "images",
                "preprocessing": {k: v for k, v in meta.get("preprocessing", {}).items() if k != "tokenizer"},
                "model": meta.get("model"), "headstart_version": meta.get("headstart_version"),
                "engine": predictor.engine}
        served[name] = Served(name, run, predictor, info)
    return served


def _check_torch(run: Path) -> None:
    try:
        import torchvision  # noqa: F401
    except ImportError as exc:
        raise HeadstartError(f"{run} is a detection run: its box decoding needs torch and torchvision; serve it from "
                             "the full install (pip install headstart)") from exc


def check_bind(host: str, token: str | None, insecure: bool) -> bool:
    """Whether ``host`` is loopback; refuses to expose the service beyond this machine without a token (or an
    explicit --insecure), and a token that no HTTP header can carry."""
    if token is not None and (not token.strip() or not token.isascii() or not token.isprintable()):
        raise HeadstartError("--token must be printable ASCII without spaces at the ends (HTTP headers carry no other)")
    loopback = is_loopback(host)
    if not loopback and not token and not insecure:
        raise HeadstartError(f"--host {host} lets other machines call the service; give --token (or set "
                             "HEADSTART_TOKEN) so that every request must carry it, or --insecure to serve it open")
    return loopback


def create_app(served: dict[str, Served], limits: Limits = DEFAULT_LIMITS, token: str | None = None,
               log: Any = None, loopback: bool = True, host: str = "127.0.0.1") -> FastAPI:
    """The FastAPI application for ``served`` (name -> exported run)."""
    log = log or sys.stderr
    default = next(iter(served))
    runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runtime")  # one runtime call at a time, all cores
    decoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")  # image decoding off the event loop
    batchers = {name: Batcher(s.predictor.predict_proba, runner) for name, s in served.items()
                if hasattr(s.predictor, "predict_proba")}
    app = FastAPI(title="headstart serve", version=_version(), docs_url=None, redoc_url=None,
                  description="Predictions of exported headstart runs: " + ", ".join(served))
    if loopback:
        guard_host(app, host)

    @app.middleware("http")
    async def guard_and_log(request: Request, call_next):
        start = time.perf_counter()
        if token and not _token_ok(request.headers.get("authorization", ""), token):
            response = JSONResponse({"detail": "missing or wrong bearer token: send 'Authorization: Bearer TOKEN'"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        else:
            try:
                response = await call_next(request)
            except Exception as exc:  # a bug of ours: one line to the client, the type in the log
                request.state.logged = {**getattr(request.state, "logged", {}), "error": type(exc).__name__}
                response = JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server's log"},
                                        status_code=500)
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "method": request.method, "path": request.url.path,
                  "status": response.status_code, "ms": round((time.perf_counter() - start) * 1000, 1),
                  "client": request.client.host if request.client else None, **getattr(request.state, "logged", {})}
        print(json.dumps(record), file=log, flush=True)
        return response

    answer_errors(app)

    @app.get("/health")
    async def health() -> dict:
        """Up, and per model how many inputs it answered in how many batches."""
        return {"status": "ok", "models": list(served),
                "served": {name: {"inputs": b.inputs, "batches": b.calls} for name, b in batchers.items()}}

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
        body = await read_body(request, limits)
        names, items = await raw_inputs(request, body, chosen.reads_text, chosen.name, limits)
        request.state.logged = {"model": chosen.name, "inputs": len(items)}
        loop = asyncio.get_running_loop()
        if not chosen.reads_text:
            items = await loop.run_in_executor(decoder, decode, names, items, limits)
        if chosen.name in batchers:
            proba = await batchers[chosen.name].proba(items)
            rows = chosen.predictor.rows(names, proba, top_k)
        else:  # detection: one call per request
            rows = await loop.run_in_executor(runner, lambda: chosen.predictor.prediction_rows(items, top_k=top_k))
            for row, name in zip(rows, names, strict=True):
                row["input"] = name
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
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode("latin-1"), token.encode())


def _pick(served: dict[str, Served], name: str | None, default: str) -> Served:
    if name is None:
        if len(served) > 1:
            raise HeadstartError(f"this service has {len(served)} models; choose one with ?model= "
                                 f"({', '.join(served)})")
        return served[default]
    if name not in served:
        raise HeadstartError(f"no model named '{name}'; this service has {', '.join(served)}")
    return served[name]


def serve(runs: list[str], host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          insecure: bool = False, limits: Limits = DEFAULT_LIMITS, engine: str = "auto", max_connections: int = 256,
          announce: Any = print) -> None:
    """Serve ``runs`` until stopped (Ctrl-C or SIGTERM finish the requests in flight first). Connections beyond
    ``max_connections`` are answered 503 at once (bounded memory)."""
    import uvicorn

    loopback = check_bind(host, token, insecure)
    served = load_served(runs, engine)
    # Images over Pillow's own limit are refused by their header (uploads.py); its warning would only be noise.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    app = create_app(served, limits, token, loopback=loopback, host=host)
    for s in served.values():
        announce(f"serving {s.name}: {s.info['task']}, {len(s.info['classes'])} classes, {s.info['inputs']}, "
                 f"{s.info['engine']} ({s.run})")
    announce(f"listening on http://{host}:{port} (POST /predict, GET /health, GET /model, docs at /docs); "
             f"limits: {json.dumps(asdict(limits))}")
    # uvicorn finishes the requests in flight on SIGTERM, then raises the signal again: exit 0 then, not -15.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=30,
                limit_concurrency=max_connections)


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)
