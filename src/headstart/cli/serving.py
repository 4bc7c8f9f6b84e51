"""``headstart serve`` (exported runs over HTTP) and ``headstart app`` (the web page for people who do not code)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.app import app, err


@app.command()
def serve(
    runs: Annotated[list[str], typer.Argument(help="Exported runs to serve: RUN (named by its folder) or NAME=RUN.")],
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --token or --insecure.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    token: Annotated[str | None, typer.Option(envvar="HEADSTART_TOKEN", help="Every request must carry "
                                              "'Authorization: Bearer TOKEN' [env HEADSTART_TOKEN].")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback --host without a token.")] = False,
    max_request_mb: Annotated[float, typer.Option(help="Largest request body, in MB.")] = 20.0,
    max_inputs: Annotated[int, typer.Option(help="Most inputs (images or texts) per request.")] = 64,
    max_pixels: Annotated[int, typer.Option(help="Most pixels per image (width x height).")] = 40_000_000,
    max_total_pixels: Annotated[int, typer.Option(help="Most pixels of all the images of one request.")] = 100_000_000,
    max_connections: Annotated[int, typer.Option(help="Connections at once; more are answered 503.")] = 256,
    max_text_chars: Annotated[int, typer.Option(help="Most characters per text.")] = 20_000,
    engine: Annotated[str, typer.Option(help="auto (OpenVINO where installed, else ONNX Runtime), openvino or "
                                        "onnxruntime.")] = "auto",
) -> None:
    """Serve exported runs over HTTP: POST /predict, GET /health, GET /model, docs at /docs (ONNX Runtime; no
    torch for classification). Export first with `headstart export RUN`."""
    from headstart.options import Range, check_range
    from headstart.serving.server import serve as run_server
    from headstart.serving.uploads import LIMIT_RANGES, Limits

    port = check_range("--port", port, Range(int, 1, 65535))
    max_connections = check_range("--max-connections", max_connections, Range(int, 1, 100_000))
    given = {"max_request_mb": max_request_mb, "max_inputs": max_inputs, "max_pixels": max_pixels,
             "max_total_pixels": max_total_pixels, "max_text_chars": max_text_chars}
    limits = Limits(**{name: check_range("--" + name.replace("_", "-"), value,
                                         Range(*LIMIT_RANGES[name], low_open=LIMIT_RANGES[name][0] is float))
                       for name, value in given.items()})
    run_server(runs, host, port, token, insecure, limits, engine, max_connections,
               announce=lambda line: err.print(line, markup=False))


@app.command("app")
def web_app(
    project: Annotated[Path, typer.Option("--project", help="The folder of projects.")] = Path("headstart-projects"),
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --insecure.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback --host (the app has no login).")] = False,
) -> None:
    """A local web page to make a classifier without code: projects of images or texts, training with live
    progress, results, try it, export. Projects are folders in headstart's own formats (the CLI reads them too)."""
    from headstart.app.server import run_app
    from headstart.options import Range, check_range

    port = check_range("--port", port, Range(int, 1, 65535))
    run_app(project, host, port, not no_browser, insecure, announce=lambda line: err.print(line, markup=False))
