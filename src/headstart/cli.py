"""The ``headstart`` command line: a thin layer over ``headstart.api``.

``headstart train DATA`` works with no flags; every flag refines it. Errors print one line and exit 1 (add
``--debug`` for the traceback).
"""

from __future__ import annotations

import csv
import gc
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from headstart.compute import interrupt
from headstart.compute.distributed import is_first_process, launch, launched, world
from headstart.errors import HeadstartError

if TYPE_CHECKING:
    from headstart.api import TrainResult

PRECISION_HELP = "auto, fp32 or bf16 [auto: ONNX Runtime fp32 for images on CPU, else bf16 where the CPU has it]."

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Transfer learning on a plain CPU: adapt a pre-trained model to your small labelled dataset. "
    "Add --nproc N to train or embed to run it in N processes (torchrun; see 'Scaling out' in the README).",
)
# Piped output is read by programs and people alike: no wrapping of messages, room for wide tables.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Inputs = Annotated[
    list[str], typer.Argument(help="Images: files, folders, globs. Text: texts, @FILE (one per line), - (stdin).")
]
TRAIN_PARAMS = (
    "weights", "epochs", "lr", "batch_size", "image_size", "max_length", "val_size", "seed", "precision", "num_workers",
    "cache", "budget", "class_weight", "freeze", "conf", "iou",
)


def _load_config(path: Path | None) -> tuple[dict, dict]:
    """Classifier params and data arguments from a run's config.json (or a JSON/YAML file of the same keys)."""
    if path is None:
        return {}, {}
    if not path.is_file():
        raise HeadstartError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            config = yaml.safe_load(text)
        else:
            config = json.loads(text)
    except Exception as exc:
        raise HeadstartError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(config, dict):
        raise HeadstartError(f"{path} must hold a mapping of option names to values")
    return _split_config(config)


def _split_config(config: dict) -> tuple[dict, dict]:
    params = dict(config.get("params", config))
    data_args = dict(config.get("data", {}).get("args", {})) if isinstance(config.get("data"), dict) else {}
    return params, data_args


@app.command()
def train(
    data: Annotated[
        str | None,
        typer.Argument(help="Image folder or CSV; text CSV/TSV/JSONL; or sample, fashion-mnist, text-sample, rotten-tomatoes."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Registered model or timm name.")] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="linear-probe, head, fine-tune, contrastive, lora, scratch or auto.")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Local weights file (.safetensors or .pth).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (strategy default if unset).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (strategy default if unset).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size [32].")] = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [the model's].")] = None,
    max_length: Annotated[int | None, typer.Option(help="Text: maximum tokens per text [256].")] = None,
    val_size: Annotated[float | None, typer.Option(help="Validation fraction when DATA has none [0.2].")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [0].")] = None,
    precision: Annotated[
        str | None, typer.Option(help=PRECISION_HELP)
    ] = None,
    num_workers: Annotated[int | None, typer.Option(help="Data-loading worker processes [0].")] = None,
    per_class: Annotated[int | None, typer.Option(help="Use at most N training examples per class.")] = None,
    test_per_class: Annotated[int | None, typer.Option(help="Use at most N test examples per class.")] = None,
    task: Annotated[str | None, typer.Option(help="image, text or detect [from the model, else from DATA].")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text: the column holding the text.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Text: the column holding the label.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory [runs/<time>-<model>-<strategy>].")] = None,
    config: Annotated[Path | None, typer.Option(help="Take options from a run's config.json (flags override).")] = None,
    budget: Annotated[str | None, typer.Option(help="auto: the time to stay within, e.g. 90s, 10m, 1h [none].")] = None,
    class_weight: Annotated[
        str | None, typer.Option(help="auto: weigh classes so each counts the same (imbalanced data); none [none].")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    freeze: Annotated[int | None, typer.Option(help="Detection: keep the first N layers as pre-trained.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue an interrupted run from its last checkpoint (other options ignored).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Adapt a pre-trained model to DATA and save a run directory (detection: --task detect, YOLO or COCO data)."""
    from headstart import api

    if resume is not None:
        from headstart.rundir import read_launch

        params, data_args = _split_config(read_launch(resume))
        merged = {k: v for k, v in params.items() if k in TRAIN_PARAMS}
        _print_summary(api.train(
            data_args["data"], model=params.get("model"), strategy=params.get("strategy"), task=data_args.get("task"),
            text_column=data_args.get("text_column"), label_column=data_args.get("label_column"),
            per_class=data_args.get("per_class"), test_per_class=data_args.get("test_per_class"),
            out=resume, resume=True, verbose=not quiet, **merged,
        ))
        return
    params, data_args = _load_config(config)
    given = {"weights": weights, "epochs": epochs, "lr": lr, "batch_size": batch_size, "image_size": image_size,
             "max_length": max_length, "val_size": val_size, "seed": seed, "precision": precision,
             "num_workers": num_workers, "cache": False if no_cache else None, "budget": budget,
             "class_weight": class_weight, "freeze": freeze}
    knobs = _config_knobs(task or data_args.get("task"), data or data_args.get("data"), model or params.get("model"))
    merged = {k: v for k, v in params.items() if k in TRAIN_PARAMS and v is not None and k in knobs}
    merged.update({k: v for k, v in given.items() if v is not None})
    data = data or data_args.get("data")
    if data is None:
        raise HeadstartError("no DATA given: pass an image folder, a CSV/JSONL file, or a dataset name such as 'sample'")
    result = api.train(
        data,
        model=model or params.get("model"),
        strategy=strategy or params.get("strategy") or "auto",
        task=task or data_args.get("task"),
        text_column=text_column or data_args.get("text_column"),
        label_column=label_column or data_args.get("label_column"),
        out=out_dir,
        per_class=per_class if per_class is not None else data_args.get("per_class"),
        test_per_class=test_per_class if test_per_class is not None else data_args.get("test_per_class"),
        verbose=not quiet,
        **merged,
    )
    _print_summary(result)


def _config_knobs(task: str | None, data: str | None, model: str | None) -> set[str]:
    """The knobs a --config file may pass on: those of this run's task's estimator (a config.json holds every knob
    of its estimator, set or not; a flag given on the command line is always passed on, and refused if it does
    not apply). Without data or task, all of them (the missing DATA is reported next)."""
    from headstart.estimators import estimator_for
    from headstart.tasks import infer_task

    name = task or (infer_task(data, model) if data else None)
    return set(estimator_for(name).knobs()) if name else set(TRAIN_PARAMS)


def _print_summary(result: TrainResult) -> None:
    if not world().is_main:
        return
    for warning in result.summary.get("warnings", []):
        err.print(f"[yellow]warning:[/] {warning}")
    for line in result.lines():
        out.print(line)


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
) -> None:
    """Print the predicted label and top-k probabilities for each input, streamed: any number of inputs
    (detection: boxes, classes, scores)."""
    from headstart import api
    from headstart.tasks import get_task

    if format not in ("table", "json", "csv"):
        raise HeadstartError(f"unknown format '{format}'; use table, json or csv")
    given = ([run] if model else []) + (inputs or [])
    predictor = api.load_predictor(None if model else run, runtime, model=model)
    task = get_task(predictor.task)
    chunks = api.predict(None if model else run, given, top_k, runtime=runtime, verbose=sys.stderr.isatty(),
                         model=model, conf=conf, predictor=predictor)
    if draw is not None:
        chunks = _drawn(chunks, draw, predictor.classes_.tolist())
    _emit_predictions(chunks, format, task)
    if draw is not None and format == "table":
        out.print(f"drawn: {draw}")


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
            header, lines = task.prediction_table(rows)
            table = Table(*header, show_header=first)
            for line in lines:
                table.add_row(*line)
            out.print(table)
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

    result = export_run(run, format, out_file, quantize, data)
    out.print(f"{format}: {result.path} ({result.path.stat().st_size / 1e6:.1f} MB), description: {result.meta_path}")
    tokenizer = result.meta.get("preprocessing", {}).get("tokenizer")
    if tokenizer:
        out.print(f"tokenizer: {result.path.parent / tokenizer}")
    q = result.quantized
    if q:
        out.print(f"int8 ({q['method']}): {q['path']} ({q['bytes'] / 1e6:.1f} MB)")
        if "accuracy_change" in q:
            out.print(f"int8 accuracy on the {q['split']} split (n={q['n']}): {q['int8_accuracy']:.1%} vs fp32 "
                      f"{q['fp32_accuracy']:.1%}, change {q['accuracy_change'] * 100:+.1f} points, "
                      f"same label for {q['agreement']:.1%}")
            if q["accuracy_change"] < -0.01:
                err.print(f"[yellow]warning:[/] int8 costs {-q['accuracy_change'] * 100:.1f} accuracy points on this "
                          "model; ship the fp32 file")
        else:
            out.print(q["note"])


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory made by `headstart train`.")],
    data: Annotated[str, typer.Argument(help="Labelled data, as for `headstart train`.")],
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix of RUN on DATA."""
    from headstart import api

    evaluation = api.evaluate(run, data)
    if format == "json":
        print(json.dumps(evaluation.to_dict(), indent=2))
        return
    headline, tables = evaluation.tables()
    out.print(f"{evaluation.split} split, {headline}")
    for title, header, rows in tables:
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        out.print(table)


@app.command()
def demo(
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the two runs.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Transfer vs training from scratch on the Fashion-MNIST sample that ships with headstart."""
    from headstart import api

    results = api.demo(out_dir, verbose=not quiet)
    table = Table("", "strategy", "test accuracy", "fit time", "run", title="transfer vs scratch (EfficientNet-Lite0)")
    for name, result in results.items():
        s = result.summary
        table.add_row(name, s["strategy"], f"{s['scores']['accuracy']:.1%}", f"{s['fit_seconds']:.0f}s", str(result.run_dir))
    out.print(table)
    gap = results["transfer"].summary["scores"]["accuracy"] - results["scratch"].summary["scores"]["accuracy"]
    given = results["transfer"].estimator.data_record_["counts"]
    per_class = min(given["train"].values()) + min(given.get("val", {"": 0}).values())
    out.print(
        f"transfer learning is [bold]{gap * 100:+.1f} points[/] ahead with {per_class} labelled training images per class"
    )


@app.command()
def report(run: Annotated[Path, typer.Argument(help="A run directory made by `headstart train`.")]) -> None:
    """Rebuild RUN/report.html (and its PNG figures) from the run's files."""
    from headstart.reports.html import write_report

    out.print(f"report: {write_report(run)}")


@app.command()
def compare(
    data: Annotated[str, typer.Argument(help="Labelled data, as for train, detection too (its test split, or a fixed 20%, scores every point).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Registered model or timm name.")] = None,
    strategies: Annotated[str | None, typer.Option(help="Comma-separated strategies [linear-probe,fine-tune,scratch; detection: fine-tune,scratch].")] = None,
    sizes: Annotated[str, typer.Option(help="Labelled examples per class (detection: images), comma-separated; 'all' for everything.")] = "10,50,100,all",
    seeds: Annotated[str, typer.Option(help="Seeds per size (the 'all' size uses the first).")] = "0,1,2",
    task: Annotated[str | None, typer.Option(help="image, text or detect [from the model, else from DATA].")] = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [the model's].")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (strategy default if unset).")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    test_per_class: Annotated[int | None, typer.Option(help="Score on at most N test examples per class.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder [runs/<time>-compare].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Learning curves: STRATEGIES at several labelled-set sizes and seeds, against training from scratch."""
    from headstart.compare import compare as run_compare
    from headstart.compare import parse_sizes

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise HeadstartError(f"cannot read the seeds '{seeds}'; give integers, e.g. 0,1,2") from exc
    params = {k: v for k, v in {"image_size": image_size, "epochs": epochs}.items() if v is not None}
    result = run_compare(
        data, model, [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None, parse_sizes(sizes), seed_list,
        task=task, test_per_class=test_per_class, out=out_dir, verbose=not quiet, precision=precision,
        **params,
    )
    unit = " / class" if result.size_unit == "per_class" else " images"
    table = Table("strategy", *(f"{size}{unit}" for size, *_ in result.curve(result.points[0].strategy)))
    show = result.show
    for strategy in dict.fromkeys(p.strategy for p in result.points):
        table.add_row(strategy, *(f"{show(mean)} ({show(low)}-{show(high)})" for _, mean, low, high in result.curve(strategy)))
    out.print(f"{result.score_name} on {result.n_test:,} examples, mean (lowest-highest) over seeds")
    out.print(table)
    for finding in result.findings:
        out.print(finding)
    out.print(f"curves: {result.out_dir / 'curves.png'}, {result.out_dir / 'curves.csv'}")


@app.command()
def rank(
    data: Annotated[str, typer.Argument(help="Labelled data, as for train.")],
    models: Annotated[
        str | None, typer.Option("--models", "-m", help="Comma-separated candidates; NAME@random for random weights, "
                                 "NAME@LAYER for the network cut after that layer [all of the task's].")
    ] = None,
    layers: Annotated[bool, typer.Option("--layers", help="Also score each candidate cut after every intermediate "
                                         "layer (train one with --model NAME@LAYER).")] = False,
    scores: Annotated[str, typer.Option(help="Scores to compute: logme, leep, nce, hscore.")] = "logme,leep,nce,hscore",
    by: Annotated[str, typer.Option(help="The score to sort by and recommend with.")] = "logme",
    per_class: Annotated[int | None, typer.Option(help="Use at most N labelled examples per class.")] = None,
    task: Annotated[str | None, typer.Option(help="image or text [from the models, else from DATA].")] = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [each model's].")] = None,
    max_length: Annotated[int | None, typer.Option(help="Text: maximum tokens per text [256].")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the table as JSON.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Rank pre-trained models for DATA in seconds, from frozen features (LogME, LEEP, NCE, H-score)."""
    from headstart import api
    from headstart.ranking.rank import SCORES

    ranking = api.rank(
        data, [m.strip() for m in models.split(",") if m.strip()] if models else None, task=task,
        scores=tuple(s.strip() for s in scores.split(",") if s.strip()), by=by, per_class=per_class,
        image_size=image_size, max_length=max_length, precision=precision, batch_size=batch_size,
        cache=not no_cache, verbose=not quiet, layers=layers,
    )
    table = Table("rank", "model", *(SCORES[s] for s in ranking.scores), "seconds", "note")
    for place, candidate in enumerate(ranking.candidates, 1):
        values = ["n/a" if candidate.scores[s] is None else f"{candidate.scores[s]:.4f}" for s in ranking.scores]
        table.add_row(str(place), candidate.model, *values, f"{sum(candidate.seconds.values()):.1f}", candidate.note)
    out.print(f"{ranking.n} labelled examples, {ranking.classes} classes; sorted by {SCORES[ranking.by]} (higher is better)")
    out.print(table)
    out.print(f"recommended: [bold]{ranking.recommended.model}[/] ({ranking.reason()})")
    if out_file is not None:
        from headstart.files import write_json

        write_json(out_file, {"n": ranking.n, "classes": ranking.classes, "by": ranking.by,
                              "recommended": ranking.recommended.model,
                              "candidates": [c.to_row() for c in ranking.candidates]})


@app.command()
def embed(
    data: Annotated[str, typer.Argument(help="Data, as for train (every split is embedded).")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The Parquet file to write.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="A registered model or a run directory.")] = None,
    task: Annotated[str | None, typer.Option(help="image or text [from the model, else from DATA].")] = None,
    per_class: Annotated[int | None, typer.Option(help="Use at most N training examples per class.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [the model's].")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Write the embeddings of DATA (id, label, split, embedding) to a Parquet file."""
    from headstart import api

    embeddings = api.embed(data, model, out_file, task=task, per_class=per_class, image_size=image_size,
                           precision=precision, cache=not no_cache, verbose=not quiet)
    dim = embeddings.vectors.shape[1] if len(embeddings) else 0
    if world().is_main:
        out.print(f"{len(embeddings)} embeddings of {dim} dimensions by {embeddings.model}: {out_file}")


@app.command()
def similar(
    data: Annotated[str, typer.Argument(help="Data to search, as for train, or a Parquet file from `headstart embed`.")],
    queries: Inputs,
    model: Annotated[str | None, typer.Option("--model", "-m", help="A registered model or a run directory.")] = None,
    k: Annotated[int, typer.Option("--k", "-k", help="How many neighbours per query.")] = 5,
    task: Annotated[str | None, typer.Option(help="image or text [from the model, else from DATA].")] = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [the model's].")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """The k items of DATA most similar to each query (cosine similarity of embeddings, with FAISS)."""
    from headstart import api

    if format not in ("table", "json"):
        raise HeadstartError(f"unknown format '{format}'; use table or json")
    results = api.similar(data, queries, model, k, task=task, image_size=image_size, verbose=not quiet)
    if format == "json":
        print(json.dumps([{"query": q, "neighbours": [vars(n) for n in found]} for q, found in results], indent=2))
        return
    table = Table("query", "rank", "item", "label", "similarity")
    for query, found in results:
        for place, neighbour in enumerate(found, 1):
            table.add_row(query if place == 1 else "", str(place), neighbour.id, str(neighbour.label or ""),
                          f"{neighbour.similarity:.3f}")
    out.print(table)


@app.command()
def models(task: Annotated[str | None, typer.Option(help="Only models for this task.")] = None) -> None:
    """List the registered pre-trained models (any timm architecture name also works)."""
    from headstart.models import list_models

    table = Table("name", "task", "weights", "licence", "description")
    for spec in list_models(task):
        table.add_row(spec.name, spec.task, f"{spec.weights.kind}: {spec.weights.install_hint or spec.weights.locator}",
                      spec.licence, spec.description)
    out.print(table)


cache_app = typer.Typer(no_args_is_help=True, help="The feature cache: what it holds, and emptying it.")
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """List the cached feature sets: model weights, preprocessing, items and size."""
    from headstart.features import FeatureCache

    cache = FeatureCache()
    entries = cache.entries()
    table = Table("entry", "backbone", "weights", "view", "precision", "items", "MB")
    for entry in entries:
        meta = entry.meta
        view = "plain" if meta.get("view") is None else f"augmented {meta['view']} (seed {meta.get('seed')})"
        table.add_row(entry.key[:12], str(meta.get("backbone")), str(meta.get("weights"))[:12], view,
                      str(meta.get("precision")), str(entry.items), f"{entry.bytes / 1e6:.1f}")
    out.print(table)
    out.print(f"{len(entries)} entries, {sum(e.bytes for e in entries) / 1e6:.1f} MB in {cache.root}")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached feature set (they are extracted again when needed)."""
    from headstart.features import FeatureCache

    cache = FeatureCache()
    count, size = cache.clear()
    out.print(f"removed {count} entries ({size / 1e6:.1f} MB) from {cache.root}")


def _pop_nproc(args: list[str]) -> tuple[list[str], int]:
    """``--nproc N`` (any command): the arguments without it, and N (1 when absent)."""
    for i, arg in enumerate(args):
        if arg == "--nproc" or arg.startswith("--nproc="):
            value = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            if not value.isdigit() or int(value) < 1:
                raise HeadstartError(f"--nproc takes a number of processes (1 or more), not '{value}'")
            rest = args[:i] + args[i + (1 if "=" in arg else 2) :]
            return rest, int(value)
    return args, 1


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``headstart`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        return _run(args, debug)
    finally:
        if argv is None:
            # The interpreter's last garbage collections walk every object torch, timm and scikit-learn created at
            # import (~500,000): about 2 of the 3 seconds a command spends exiting here. Objects still alive at
            # exit are moved out of their reach; atexit handlers and stream flushes run as usual.
            gc.freeze()


def _run(args: list[str], debug: bool) -> Any:
    try:
        args, nproc = _pop_nproc(args)
        if nproc > 1 and not {"train", "embed"} & set(args[:1]):
            raise HeadstartError("--nproc works with train and embed; run other commands without it")
        if nproc > 1 and not launched():
            sys.exit(launch(args + (["--debug"] if debug else []), nproc))
        interrupt.install()
        return app(args=args, prog_name="headstart")
    except HeadstartError as exc:
        if debug:
            raise
        if is_first_process():  # under --nproc every process meets the same error; one says it
            err.print(f"[bold red]error:[/] {exc}")
        sys.exit(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        if is_first_process():
            err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
