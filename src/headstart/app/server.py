"""``headstart app``: a local web page to make a classifier without code. FastAPI serves the page (HTML, JavaScript
and CSS shipped in the package: no CDN, no web fonts, nothing leaves the machine) and a JSON API over the projects
folder (projects.py); training runs as `headstart train` in its own process (jobs.py)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles

from headstart.app.jobs import Trainer
from headstart.app.projects import Project, Projects
from headstart.errors import HeadstartError
from headstart.serving.server import LOOPBACK_NAMES
from headstart.serving.uploads import DEFAULT_LIMITS, Limits, decode, raw_inputs, read_body, too_large
from headstart.training.checkpoint import CHECKPOINT

STATIC = Path(__file__).parent / "static"
MISTAKES_SHOWN = 12


class Models:
    """Trained runs loaded for "try it", one at a time per run (loading takes seconds)."""

    def __init__(self) -> None:
        self.loaded: dict[Path, Any] = {}
        self.lock = threading.Lock()

    def get(self, run: Path) -> Any:
        with self.lock:
            if run not in self.loaded:
                from headstart.estimators import load

                self.loaded[run] = load(run)
            return self.loaded[run]


def create_app(root: Path, limits: Limits = DEFAULT_LIMITS, loopback: bool = True) -> FastAPI:
    projects = Projects(root)
    trainer = Trainer()
    models = Models()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        trainer.stop_all()  # as Ctrl-C: each run keeps its checkpoint, and Resume continues it next time

    app = FastAPI(title="headstart app", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    if loopback:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_NAMES)
    app.state.trainer = trainer

    @app.exception_handler(HeadstartError)
    async def refused(request: Request, exc: HeadstartError):
        return JSONResponse({"detail": str(exc)}, status_code=413 if too_large(exc) else 400)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"bad request ({problems})"}, status_code=400)

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
        reads_text = chosen.kind == "text"
        names, items = await raw_inputs(request, body, reads_text, chosen.name, limits)
        if reads_text:
            added = chosen.store.add(label, items, limits.max_text_chars)
        else:
            added = await asyncio.to_thread(chosen.store.add, label, list(zip(names, items, strict=True)),
                                            limits.max_pixels)
        return {**added, "project": chosen.summary()}

    @app.get("/api/projects/{name}/examples/{label}")
    async def examples(name: str, label: str) -> list[str]:
        chosen = projects.get(name)
        return chosen.store.examples(chosen.check_class(label))

    @app.get("/api/projects/{name}/image/{label}/{example}")
    async def image(name: str, label: str, example: str):
        chosen = projects.get(name)
        if chosen.kind != "image":
            raise HeadstartError(f"project {name} holds texts, not images")
        return FileResponse(chosen.store.path(label, example))

    @app.post("/api/projects/{name}/relabel")
    async def relabel(name: str, request: Request) -> dict:
        """Move an example to class ``to``, or (``to`` null) out of the data into ``removed/`` (never deleted)."""
        chosen = projects.get(name)
        body = await _json(request)
        label = chosen.check_class(str(body.get("label", "")))
        to = body.get("to")
        if to is not None:
            to = chosen.check_class(str(to))
        if chosen.kind == "image":
            chosen.store.move(label, str(body.get("example", "")),
                              chosen.store.data / to if to is not None else chosen.removed_dir() / label)
        else:
            chosen.store.relabel(str(body.get("example", "")), label, to, None if to else chosen.removed_dir())
        return chosen.summary()

    @app.post("/api/projects/{name}/train")
    async def train(name: str, request: Request) -> dict:
        chosen = projects.get(name)
        body = await _json(request)
        strategy = str(body.get("strategy") or "auto")
        epochs = body.get("epochs")
        if epochs is not None and (not isinstance(epochs, int) or not 1 <= epochs <= 1000):
            raise HeadstartError("epochs must be a whole number from 1 to 1000")
        resume = body.get("resume")
        job = await asyncio.to_thread(trainer.start, chosen, strategy, epochs, str(resume) if resume else None)
        return job.view()

    @app.post("/api/projects/{name}/train/stop")
    async def stop(name: str) -> dict:
        return trainer.stop(projects.get(name)).view()

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
        run = chosen.run(run_id)
        if not (run / "summary.json").is_file():
            raise HeadstartError(f"run {run_id} has not finished training")
        body = await read_body(request, limits)
        names, items = await raw_inputs(request, body, chosen.kind == "text", chosen.name, limits)
        if chosen.kind != "text":
            items = await asyncio.to_thread(decode, names, items, limits)

        def predict() -> list[dict]:
            rows = models.get(run).prediction_rows(items, top_k=5)
            for row, shown in zip(rows, names, strict=True):
                row["input"] = shown
            return rows

        return {"predictions": await asyncio.to_thread(predict)}

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
        run = projects.get(name).run(run_id)

        def build() -> bytes:
            if not (run / "export" / "model.onnx").is_file():
                from headstart.export import export_run

                export_run(run, "onnx")
            return _zipped(run / "export", f"{name}-{run_id}-onnx")

        return Response(await asyncio.to_thread(build), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}-{run_id}-onnx.zip"'})

    @app.get("/api/projects/{name}/runs/{run_id}/run.zip")
    async def run_zip(name: str, run_id: str):
        run = projects.get(name).run(run_id)
        data = await asyncio.to_thread(_zipped, run, f"{name}-{run_id}")
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}-{run_id}.zip"'})

    return app


async def _json(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HeadstartError(f"the request body is not valid JSON ({type(exc).__name__})") from exc
    if not isinstance(body, dict):
        raise HeadstartError("send a JSON object")
    return body


def _zipped(folder: Path, prefix: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, f"{prefix}/{path.relative_to(folder)}")
    return buffer.getvalue()


def _results(project: Project, run: Path) -> dict:
    """What the page shows of a finished run: the score beside the baseline, the strategy and why, the confusion
    matrix, and the most confident mistakes (to relabel or remove)."""
    summary_path = run / "summary.json"
    if not summary_path.is_file():
        return {"run": run.name, "finished": False, "resumable": (run / CHECKPOINT).is_file()}
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    scores = summary.get("scores", {})
    classes = list(scores.get("per_class", {}))
    baseline = (summary.get("baseline") or {}).get("accuracy")
    return {"run": run.name, "finished": True, "strategy": summary.get("strategy"), "model": summary.get("model"),
            "reason": summary.get("strategy_reason"), "evaluated_on": summary.get("evaluated_on"),
            "estimate": summary.get("estimate"), "accuracy": scores.get("accuracy"),
            "baseline": baseline, "baseline_name": (summary.get("baseline") or {}).get("name"),
            "gap": None if baseline is None or scores.get("accuracy") is None else scores["accuracy"] - baseline,
            "classes": classes, "confusion": scores.get("confusion_matrix"), "warnings": summary.get("warnings", []),
            "mistakes": _mistakes(project, run), "report": (run / "report.html").is_file(),
            "seconds": summary.get("total_seconds")}


def _mistakes(project: Project, run: Path) -> list[dict]:
    path = run / "predictions.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        wrong = [row for row in csv.DictReader(handle) if row.get("correct") == "False"]
    wrong.sort(key=lambda row: -float(row.get("confidence") or 0))
    shown = []
    for row in wrong[:MISTAKES_SHOWN]:
        entry = {"label": row["label"], "predicted": row["predicted"], "confidence": float(row["confidence"])}
        if project.kind == "image":
            where = Path(row["input"])
            entry["example"] = where.name
            entry["editable"] = where.parent.name == row["label"] and where.parent.parent == project.store.data
        else:
            entry["example"] = row["input"]
            entry["editable"] = True
        shown.append(entry)
    return shown


def check_app_bind(host: str, insecure: bool) -> bool:
    """Whether ``host`` is loopback; the app has no login, so another address needs ``--insecure``."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not insecure:
        raise HeadstartError(f"--host {host} would let other machines use the app, which has no login; keep the "
                             "default 127.0.0.1, or add --insecure")
    return loopback


def run_app(root: Path, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
            insecure: bool = False, announce: Any = print) -> None:
    import uvicorn

    loopback = check_app_bind(host, insecure)
    app = create_app(root, loopback=loopback)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    announce(f"headstart app on {url} (projects in {root}); Ctrl-C stops it")
    if open_browser:
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
