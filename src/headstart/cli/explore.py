"""``headstart rank``, ``embed``, ``similar``, ``models`` and ``cache``: looking at data and models before
training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.app import (
    PRECISION_HELP,
    Inputs,
    NoCache,
    Quiet,
    Window,
    app,
    out,
    print_table,
    split_names,
)
from headstart.compute.distributed import world
from headstart.errors import HeadstartError


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
    window: Window = None,
    max_length: Annotated[int | None, typer.Option(help="Text: the model's window in tokens [256]; longer texts are "
                                                   "read in windows.")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    no_cache: NoCache = False,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the table as JSON.")] = None,
    quiet: Quiet = False,
) -> None:
    """Rank pre-trained models for DATA in seconds, from frozen features (LogME, LEEP, NCE, H-score)."""
    from headstart import api
    from headstart.files import write_json

    ranking = api.rank(
        data, split_names(models), task=task, scores=tuple(split_names(scores) or ()), by=by, per_class=per_class,
        image_size=image_size, max_length=max_length, precision=precision, batch_size=batch_size,
        cache=not no_cache, verbose=not quiet, layers=layers, **({"window": window} if window else {}),
    )
    out.print(ranking.heading())
    print_table(*ranking.table())
    out.print(f"recommended: [bold]{ranking.recommended.model}[/] ({ranking.reason()})")
    if out_file is not None:
        write_json(out_file, ranking.to_dict())


@app.command()
def embed(
    data: Annotated[str, typer.Argument(help="Data, as for train (every split is embedded).")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The Parquet file to write.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="A registered model or a run directory.")] = None,
    task: Annotated[str | None, typer.Option(help="image or text [from the model, else from DATA].")] = None,
    per_class: Annotated[int | None, typer.Option(help="Use at most N training examples per class.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [the model's].")] = None,
    window: Window = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    no_cache: NoCache = False,
    quiet: Quiet = False,
) -> None:
    """Write the embeddings of DATA (id, label, split, embedding) to a Parquet file."""
    from headstart import api

    embeddings = api.embed(data, model, out_file, task=task, per_class=per_class, image_size=image_size,
                           precision=precision, cache=not no_cache, verbose=not quiet,
                           **({"window": window} if window else {}))
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
    window: Window = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    quiet: Quiet = False,
) -> None:
    """The k items of DATA most similar to each query (cosine similarity of embeddings, with FAISS)."""
    from headstart import api

    if format not in ("table", "json"):
        raise HeadstartError(f"unknown format '{format}'; use table or json")
    results = api.similar(data, queries, model, k, task=task, image_size=image_size, verbose=not quiet,
                          **({"window": window} if window else {}))
    if format == "json":
        print(json.dumps([{"query": q, "neighbours": [vars(n) for n in found]} for q, found in results], indent=2))
        return
    rows = [[query if place == 1 else "", str(place), n.id, str(n.label or ""), f"{n.similarity:.3f}"]
            for query, found in results for place, n in enumerate(found, 1)]
    print_table(["query", "rank", "item", "label", "similarity"], rows)


@app.command()
def models(task: Annotated[str | None, typer.Option(help="Only models for this task.")] = None) -> None:
    """List the registered pre-trained models (any timm architecture name also works)."""
    from headstart.models import list_models

    rows = [[spec.name, spec.task, f"{spec.weights.kind}: {spec.weights.install_hint or spec.weights.locator}",
             spec.licence, spec.description] for spec in list_models(task)]
    print_table(["name", "task", "weights", "licence", "description"], rows)


cache_app = typer.Typer(no_args_is_help=True, help="The feature cache: what it holds, and emptying it.")
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info() -> None:
    """List the cached feature sets: model weights, preprocessing, items and size."""
    from headstart.features import FeatureCache

    cache = FeatureCache()
    entries = cache.entries()
    rows = []
    for entry in entries:
        meta = entry.meta
        view = "plain" if meta.get("view") is None else f"augmented {meta['view']} (seed {meta.get('seed')})"
        rows.append([entry.key[:12], str(meta.get("backbone")), str(meta.get("weights"))[:12], view,
                     str(meta.get("precision")), str(entry.items), f"{entry.bytes / 1e6:.1f}"])
    print_table(["entry", "backbone", "weights", "view", "precision", "items", "MB"], rows)
    out.print(f"{len(entries)} entries, {sum(e.bytes for e in entries) / 1e6:.1f} MB in {cache.root}")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached feature set (they are extracted again when needed)."""
    from headstart.features import FeatureCache

    cache = FeatureCache()
    count, size = cache.clear()
    out.print(f"removed {count} entries ({size / 1e6:.1f} MB) from {cache.root}")
