"""``headstart predict``, ``evaluate``, ``export`` and ``report``: the commands that use a trained run."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.app import app, out, print_table, warn
from headstart.errors import HeadstartError


@app.command()
def predict(
    run: Annotated[str, typer.Argument(help="A run directory made by `headstart train` (or, with --model, an input).")],
    inputs: Annotated[list[str] | None, typer.Argument(help="Images: files, folders, globs. Text: texts, @FILE (one per line), - (stdin).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="A pre-trained model as it is, zero-shot (detection: e.g. yolov3-tiny).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show per input.")] = 3,
    format: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
    runtime: Annotated[
        str, typer.Option(help="torch, or onnx (ONNX Runtime on RUN/export/model.onnx, exported first if missing).")
    ] = "torch",
    draw: Annotated[Path | None, typer.Option(help="Detection: write each image with its boxes drawn to this folder.")] = None,
    conf: Annotated[float | None, typer.Option(help="Detection: lowest score shown [0.25].")] = None,
    no_unknown: Annotated[bool, typer.Option("--no-unknown", help="Classification: leave out the 'unknown' "
                                             "column (inputs like none of the classes).")] = False,
) -> None:
    """Print the predicted label and top-k probabilities for each input, streamed: any number of inputs
    (detection: boxes, classes, scores). A classifier run also says which inputs are like none of its classes."""
    from headstart.options import Range, check_range
    from headstart.serving.runtime import exported_run, prediction_chunks

    if format not in ("table", "json", "csv"):
        raise HeadstartError(f"unknown format '{format}'; use table, json or csv")
    top_k = check_range("--top-k", top_k, Range(int, 1))
    if conf is not None:
        conf = check_range("--conf", conf, Range(float, 0.0, 1.0))
    given = ([run] if model else []) + (inputs or [])
    # An exported run needs neither torch nor transformers (classification): a second to start instead of five.
    predictor = exported_run(run) if runtime == "onnx" and not model else None
    if predictor is None:
        try:
            from headstart import api
        except ModuleNotFoundError as exc:  # a serving-only install
            if runtime != "onnx" or model:
                raise
            raise HeadstartError(f"{run} is not exported yet: export it on a full install (`headstart export "
                                 f"{run}`); this install runs exported files only") from exc

        predictor = api.load_predictor(None if model else run, runtime, model=model)
    items = _expanded(predictor, given)
    chunks = prediction_chunks(predictor, items, top_k, verbose=sys.stderr.isatty(), conf=conf, unknown=not no_unknown)
    if draw is not None:
        chunks = _drawn(chunks, draw, predictor.classes_.tolist())
    _emit_predictions(chunks, format, predictor if hasattr(predictor, "prediction_table") else _task(predictor))
    if draw is not None and format == "table":
        out.print(f"drawn: {draw}")


def _task(predictor: Any) -> Any:
    from headstart.tasks import get_task

    return get_task(predictor.task)


def _expanded(predictor: Any, given: list[str]) -> list[Any]:
    """What the user typed as the predictor's inputs: an exported file reads its own description, a torch model
    its task."""
    return (predictor if hasattr(predictor, "expand_inputs") else _task(predictor)).expand_inputs(given)


def _drawn(chunks: Iterator[list[dict]], folder: Path, classes: list[str]) -> Iterator[list[dict]]:
    """Each detection row's image with its boxes drawn into ``folder`` (the row says where)."""
    from headstart.data.images import load_image
    from headstart.detection.draw import draw_rows, save_drawn

    for rows in chunks:
        for row in rows:
            if "detections" not in row:
                raise HeadstartError("--draw is for detection runs (boxes); leave it out")
            image = load_image(row["input"])
            row["drawn"] = str(save_drawn(folder / Path(row["input"]).name, draw_rows(image, row["detections"], classes)))
        yield rows


def _emit_predictions(chunks: Iterator[list[dict]], format: str, task: Any) -> None:
    """Print each chunk of predictions as it comes, so memory stays flat however many inputs there are."""
    writer = csv.writer(sys.stdout)
    first = True
    for rows in chunks:
        if format == "json":
            for row in rows:
                sys.stdout.write(("[\n  " if first else ",\n  ") + json.dumps(row))
                first = False
        elif format == "csv":
            header, lines = task.prediction_csv(rows)
            if first:
                writer.writerow(header)
            writer.writerows(lines)
        else:
            print_table(*task.prediction_table(rows), show_header=first)
        first = False
        sys.stdout.flush()
    if format == "json":
        sys.stdout.write("[]\n" if first else "\n]\n")


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A run directory made by `headstart train`.")],
    format: Annotated[str, typer.Option("--format", "-f", help="onnx or torchscript.")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="int8: also write an int8 ONNX file (images: calibrated on the run's training images) and report its accuracy.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="The file to write [RUN/export/model.onnx|.pt].")] = None,
    data: Annotated[str | None, typer.Option(help="With --quantize: data to measure accuracy on [the run's own].")] = None,
) -> None:
    """Write RUN as one ONNX or TorchScript file that runs without headstart (preprocessing inside the graph)."""
    from headstart.export import export_run

    lines, warnings = export_run(run, format, out_file, quantize, data).lines()
    for line in lines:
        out.print(line)
    for warning in warnings:
        warn(warning)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory made by `headstart train`.")],
    data: Annotated[str, typer.Argument(help="Labelled data, as for `headstart train`.")],
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    outliers: Annotated[str | None, typer.Option(help="Classification: inputs of no class the run knows (images: a "
                                                 "folder, file or glob; text: @FILE, one per line), to score how well "
                                                 "it flags them as unknown.")] = None,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix of RUN on DATA."""
    from headstart import api

    evaluation = api.evaluate(run, data, outliers=outliers)
    if format == "json":
        print(json.dumps(evaluation.to_dict(), indent=2))
        return
    headline, tables = evaluation.tables()
    if evaluation.note:
        warn(evaluation.note)
    out.print(f"{evaluation.split} split, {headline}")
    for title, header, rows in tables:
        print_table(header, rows, title=title)
    if (line := evaluation.unknown_line()) is not None:
        out.print(line)


@app.command()
def report(run: Annotated[Path, typer.Argument(help="A run directory made by `headstart train`.")]) -> None:
    """Rebuild RUN/report.html (and its PNG figures) from the run's files."""
    from headstart.reports.html import write_report

    out.print(f"report: {write_report(run)}")


