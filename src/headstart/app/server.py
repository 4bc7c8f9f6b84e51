"""``headstart app``: a local web page to make a classifier without code. FastAPI serves the page (HTML, JavaScript
and CSS shipped in the package: no CDN, no web fonts, nothing leaves the machine) and a JSON API over the projects
folder (projects.py); training runs as `headstart train` in its own process (jobs.py)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import json
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.staticfiles import StaticFiles

from headstart.app.jobs import Trainer, resumable
from headstart.app.projects import Project, Projects
from headstart.errors import HeadstartError
from headstart.serving.http import answer_errors, guard_host, is_loopback
from headstart.serving.uploads import DEFAULT_LIMITS, Limits, decode, raw_inputs, read_body

STATIC = Path(__file__).parent / "static"
MISTAKES_SHOWN = 12
SUGGESTED, MAX_SUGGESTED = 12, 100  # "Label next" asks about this many at a time by default, at most


class Models:
    """Trained runs loaded for "try it": the two used last stay in memory; each run is loaded once and predicts
    one request at a time (each prediction uses every core)."""

    KEPT = 2

    def __init__(self) -> None:
        self.loaded: OrderedDict[Path, tuple[Any, threading.Lock]] = OrderedDict()
        self.lock = threading.Lock()
        self.loading: dict[Path, threading.Lock] = {}

    def rows(self, run: Path, items: list[Any], names: list[str], top_k: int = 5) -> list[dict]:
        model, lock = self._get(run)
        with lock:
            rows = model.prediction_rows(items, top_k=top_k)
        for row, shown in zip(rows, names, strict=True):
            row["input"] = shown
        return rows

    def suggest(self, run: Path, pool: Path, n: int, labelled: Path | None) -> list[dict]:
        model, lock = self._get(run)
        with lock:
            return model.suggest(str(pool), n, labelled=None if labelled is None else str(labelled))

    def _get(self, run: Path) -> tuple[Any, threading.Lock]:
        with self.lock:
            if run in self.loaded:
                self.loaded.move_to_end(run)
                return self.loaded[run]
            loading = self.loading.setdefault(run, threading.Lock())
        with loading:  # one load per run; others wait for it, not for every load
            with self.lock:
                if run in self.loaded:
                    return self.loaded[run]
            from headstart.estimators import load

            entry = (load(run), threading.Lock())
            with self.lock:
                self.loaded[run] = entry
                while len(self.loaded) > self.KEPT:
                    self.loaded.popitem(last=False)
                self.loading.pop(run, None)
            return entry


def create_app(root: Path, limits: Limits = DEFAULT_LIMITS, loopback: bool = True, host: str = "127.0.0.1") -> FastAPI:
    projects = Projects(root)
    trainer = Trainer()
    models = Models()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        trainer.stop_all(root)  # as Ctrl-C: each run keeps its checkpoint, and Resume continues it next time

    app = FastAPI(title="headstart app", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    if loopback:
        guard_host(app, host)
    app.state.trainer = trainer
    # Pasted texts: each over the limit is left out by the store, not the whole paste refused.
    pasted = dataclasses.replace(limits, max_text_chars=limits.max_request_bytes)
    exports = ExportLocks()

    @app.middleware("http")
    async def same_origin_only(request: Request, call_next):
        """The app has no login: a page of another site must not change projects through the visitor's browser."""
        if request.method not in ("GET", "HEAD") and _cross_site(request):
            return JSONResponse({"detail": "refused: the request came from another site"}, status_code=403)
        response = await call_next(request)
        if request.url.path == "/":
            response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' blob: data:"
        return response

    answer_errors(app)

    def not_while_training(project: Project) -> None:
        if project.store.read_while_training and trainer.running(project):
            raise HeadstartError(f"project {project.name} is training: its examples cannot move until it ends (or "
                                 "is stopped); try again then")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/projects")
    async def list_projects() -> list[dict]:
        return projects.list()

    @app.post("/api/projects")
    async def create_project(request: Request) -> dict:
        body = await _json(request)
        return projects.create(str(body.get("name", "")), str(body.get("kind", ""))).summary()

    @app.get("/api/projects/{name}")
    async def project(name: str) -> dict:
        chosen = projects.get(name)
        return {**chosen.summary(), "training": trainer.view(chosen)}

    @app.post("/api/projects/{name}/classes")
    async def add_class(name: str, request: Request) -> dict:
        chosen = projects.get(name)
        chosen.add_class(str((await _json(request)).get("name", "")))
        return chosen.summary()

    @app.post("/api/projects/{name}/examples")
    async def add_examples(name: str, label: str, request: Request) -> dict:
        """Images (multipart ``files``) or texts (JSON ``{"texts": [...]}``) for class ``label``."""
        chosen = projects.get(name)
        chosen.check_class(label)
        body = await read_body(request, limits)
        names, items = await raw_inputs(request, body, chosen.store.reads_text, chosen.name, pasted)
        added = await asyncio.to_thread(chosen.store.add, label, names, items, limits)
        return {**added, "project": chosen.summary()}

    @app.post("/api/projects/{name}/unlabelled")
    async def add_unlabelled(name: str, request: Request) -> dict:
        """Examples not labelled yet (as for a class): what "Label next" picks from."""
        chosen = projects.get(name)
        body = await read_body(request, limits)
        names, items = await raw_inputs(request, body, chosen.store.reads_text, chosen.name, pasted)
        added = await asyncio.to_thread(chosen.store.add, None, names, items, limits)
        return {**added, "project": chosen.summary()}

    @app.get("/api/projects/{name}/unlabelled/{example}")
    async def unlabelled_image(name: str, example: str):
        return FileResponse(projects.get(name).store.image_path(None, example))

    @app.post("/api/projects/{name}/unlabelled/label")
    async def label_unlabelled(name: str, request: Request) -> dict:
        """Label one unlabelled example: it joins class ``to``."""
        chosen = projects.get(name)
        body = await _json(request)
        not_while_training(chosen)
        chosen.store.label_pooled(str(body.get("example", "")), chosen.check_class(str(body.get("to", ""))))
        return chosen.summary()

    @app.get("/api/projects/{name}/examples/{label}")
    async def examples(name: str, label: str) -> list[str]:
        chosen = projects.get(name)
        return chosen.store.examples(chosen.check_class(label))

    @app.get("/api/projects/{name}/image/{label}/{example}")
    async def image(name: str, label: str, example: str):
        chosen = projects.get(name)
        return FileResponse(chosen.store.image_path(chosen.check_class(label), example))

    @app.post("/api/projects/{name}/relabel")
    async def relabel(name: str, request: Request) -> dict:
        """Move an example to class ``to``, or (``to`` null) out of the data into ``removed/`` (never deleted)."""
        chosen = projects.get(name)
        body = await _json(request)
        label = chosen.check_class(str(body.get("label", "")))
        to = body.get("to")
        if to is not None:
            to = chosen.check_class(str(to))
        not_while_training(chosen)
        removed = chosen.removed_dir() if to is None else chosen.root / "removed"
        chosen.store.relabel(label, str(body.get("example", "")), to, removed)
        return chosen.summary()

    @app.post("/api/projects/{name}/train")
    async def train(name: str, request: Request) -> dict:
        chosen = projects.get(name)
        body = await _json(request)
        strategy = str(body.get("strategy") or "auto")
        epochs = body.get("epochs")
        epochs = None if epochs is None else _whole_number(epochs, "epochs", 1000)
        resume = body.get("resume")
        job = await asyncio.to_thread(trainer.start, chosen, strategy, epochs, str(resume) if resume else None,
                                      body.get("unlabelled") is True)
        return job.view()

    @app.post("/api/projects/{name}/train/stop")
    async def stop(name: str) -> dict:
        return trainer.stop(projects.get(name))

    @app.get("/api/projects/{name}/train/events")
    async def events(name: str, request: Request):
        """The training's progress as server-sent events, one when it changes, until it ends."""
        chosen = projects.get(name)

        async def stream():
            last = None
            while not await request.is_disconnected():
                view = trainer.view(chosen)
                text = json.dumps(view)
                if text != last:
                    yield f"data: {text}\n\n"
                    last = text
                if view is None or view.get("state") != "running":
                    break
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/projects/{name}/runs/{run_id}")
    async def results(name: str, run_id: str) -> dict:
        chosen = projects.get(name)
        return _results(chosen, chosen.run(run_id))

    @app.post("/api/projects/{name}/runs/{run_id}/predict")
    async def try_it(name: str, run_id: str, request: Request) -> dict:
        chosen = projects.get(name)
        run = chosen.finished_run(run_id)
        body = await read_body(request, limits)
        names, items = await raw_inputs(request, body, chosen.store.reads_text, chosen.name, limits)
        if not chosen.store.reads_text:
            items = await asyncio.to_thread(decode, names, items, limits)
        return {"predictions": await asyncio.to_thread(models.rows, run, items, names)}

    @app.post("/api/projects/{name}/runs/{run_id}/suggest")
    async def label_next(name: str, run_id: str, request: Request) -> dict:
        """The unlabelled examples worth labelling first (`headstart suggest`), with the run's guess for each."""
        chosen = projects.get(name)
        run = chosen.finished_run(run_id)
        n = _whole_number((await _json(request)).get("n", SUGGESTED), "n", MAX_SUGGESTED)
        pool = chosen.store.pool_source()
        if pool is None:
            raise HeadstartError("no unlabelled examples: add some under 'Not labelled yet' first")
        labelled = chosen.store.data if chosen.store.data.exists() else None
        rows = await asyncio.to_thread(models.suggest, run, pool, n, labelled)
        shown = [{**found, "predicted": row["predicted"], "confidence": row["confidence"]}
                 for row in rows if (found := chosen.store.pooled(row)) is not None]
        return {"suggestions": shown, "unlabelled": chosen.store.pool_count()}

    @app.get("/api/projects/{name}/runs/{run_id}/files/{file:path}")
    async def run_file(name: str, run_id: str, file: str):
        """A file of the run (its report.html and figures), never outside the run folder."""
        run = projects.get(name).run(run_id).resolve()
        path = (run / file).resolve()
        if not path.is_relative_to(run) or not path.is_file():
            raise HeadstartError(f"no file {file} in run {run_id}")
        return FileResponse(path)

    @app.get("/api/projects/{name}/runs/{run_id}/export.zip")
    async def export_zip(name: str, run_id: str):
        """The ONNX model, its model.json and (text) its tokenizer, exported first when needed."""
        run = projects.get(name).finished_run(run_id)

        def build() -> Path:
            with exports.lock(run):  # two clicks: one export, and no zip of a half-written file
                if not (run / "export" / "model.onnx").is_file() or not (run / "export" / "model.json").is_file():
                    from headstart.export import export_run

                    export_run(run, "onnx")
                return _zipped(run / "export", f"{name}-{run_id}-onnx")

        return _zip_response(await asyncio.to_thread(build), f"{name}-{run_id}-onnx.zip")

    @app.get("/api/projects/{name}/runs/{run_id}/run.zip")
    async def run_zip(name: str, run_id: str):
        run = projects.get(name).run(run_id)
        return _zip_response(await asyncio.to_thread(_zipped, run, f"{name}-{run_id}"), f"{name}-{run_id}.zip")

    return app


def _cross_site(request: Request) -> bool:
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host")


class ExportLocks:
    def __init__(self) -> None:
        self.locks: dict[Path, threading.Lock] = {}
        self.guard = threading.Lock()

    def lock(self, run: Path) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(run, threading.Lock())


async def _json(request: Request) -> dict:
    """The JSON body; only with its content type (a form of another site cannot send that without asking)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HeadstartError("send the request as application/json")
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HeadstartError(f"the request body is not valid JSON ({type(exc).__name__})") from exc
    if not isinstance(body, dict):
        raise HeadstartError("send a JSON object")
    return body


def _whole_number(value: Any, name: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise HeadstartError(f"{name} must be a whole number from 1 to {most}")
    return value


def _zipped(folder: Path, prefix: str) -> Path:
    """``folder``'s files (no links, nothing hidden) in a zip written to a temporary file."""
    handle = tempfile.NamedTemporaryFile(prefix="headstart-", suffix=".zip", delete=False)  # noqa: SIM115
    try:
        with handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                hidden = any(p.startswith(".") for p in path.relative_to(folder).parts)
                if path.is_file() and not path.is_symlink() and not hidden:
                    archive.write(path, f"{prefix}/{path.relative_to(folder)}")
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Path(handle.name)


def _zip_response(path: Path, filename: str) -> FileResponse:
    return FileResponse(path, media_type="application/zip", filename=filename,
                        background=BackgroundTask(path.unlink, missing_ok=True))


def _results(project: Project, run: Path) -> dict:
    """What the page shows of a finished run: the score beside the baseline, the strategy and why, the confusion
    matrix, and the most confident mistakes (to relabel or remove)."""
    summary_path = run / "summary.json"
    if not summary_path.is_file():
        return {"run": run.name, "finished": False, "resumable": resumable(run)}
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    scores = summary.get("scores") or {}  # None when nothing was held out to score on
    classes = list(scores.get("per_class") or {})
    baseline = (summary.get("baseline") or {}).get("accuracy")
    return {"run": run.name, "finished": True, "strategy": summary.get("strategy"), "model": summary.get("model"),
            "reason": summary.get("strategy_reason"), "evaluated_on": summary.get("evaluated_on"),
            "estimate": summary.get("estimate"), "accuracy": scores.get("accuracy"),
            "baseline": baseline, "baseline_name": (summary.get("baseline") or {}).get("name"),
            "gap": None if baseline is None or scores.get("accuracy") is None else scores["accuracy"] - baseline,
            "classes": classes, "confusion": scores.get("confusion_matrix"), "warnings": summary.get("warnings", []),
            "mistakes": _mistakes(project, run), "report": (run / "report.html").is_file(),
            "seconds": summary.get("total_seconds"),
            "note": None if scores else "too few examples to hold some out and score: add at least 3 per class"}


def _mistakes(project: Project, run: Path) -> list[dict]:
    path = run / "predictions.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"correct", "confidence", "label", "predicted", "input", "index"} <= set(rows[0]):
        return []  # not a single-label run's table
    wrong = sorted((r for r in rows if r["correct"] == "False"), key=lambda r: -float(r["confidence"] or 0))
    return [{"label": r["label"], "predicted": r["predicted"], "confidence": float(r["confidence"] or 0),
             **project.store.mistake(r, run)} for r in wrong[:MISTAKES_SHOWN]]


def check_app_bind(host: str, insecure: bool) -> bool:
    """Whether ``host`` is loopback; the app has no login, so another address needs ``--insecure``."""
    loopback = is_loopback(host)
    if not loopback and not insecure:
        raise HeadstartError(f"--host {host} would let other machines use the app, which has no login; keep the "
                             "default 127.0.0.1, or add --insecure")
    return loopback


def run_app(root: Path, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
            insecure: bool = False, announce: Any = print) -> None:
    import uvicorn

    loopback = check_app_bind(host, insecure)
    app = create_app(root, loopback=loopback, host=host)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    announce(f"headstart app on {url} (projects in {root}); Ctrl-C stops it")
    if open_browser:
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
