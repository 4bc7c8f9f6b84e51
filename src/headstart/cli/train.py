"""``headstart train``, ``demo`` and ``compare``: the commands that fit models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headstart.cli.app import (
    PRECISION_HELP,
    MultiLabel,
    NoCache,
    Quiet,
    Window,
    app,
    out,
    print_table,
    split_names,
    warn,
)
from headstart.compute.distributed import world
from headstart.errors import HeadstartError

if TYPE_CHECKING:
    from headstart.api import TrainResult


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
    crop_pct: Annotated[float | None, typer.Option(help="Images: share of the resized image kept by the centre crop "
                                                   "[the model's; 1.0 for inputs under half its size].")] = None,
    window: Window = None,
    max_length: Annotated[int | None, typer.Option(help="Text: the model's window in tokens [256].")] = None,
    long_text: Annotated[str | None, typer.Option(help="Text longer than the window: windows (overlapping "
                                                  "windows, averaged) or truncate [windows].")] = None,
    val_size: Annotated[float | None, typer.Option(help="Validation fraction when DATA has none [0.2].")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [0].")] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    num_workers: Annotated[int | None, typer.Option(help="Data-loading worker processes [0].")] = None,
    per_class: Annotated[int | None, typer.Option(help="Use at most N training examples per class.")] = None,
    test_per_class: Annotated[int | None, typer.Option(help="Use at most N test examples per class.")] = None,
    task: Annotated[str | None, typer.Option(help="image, text, detect, image-multilabel or text-multilabel [from the model, else from DATA].")] = None,
    multi_label: MultiLabel = None,
    text_column: Annotated[str | None, typer.Option(help="Text: the column holding the text.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Text: the column holding the label.")] = None,
    unlabeled: Annotated[str | None, typer.Option(help="Unlabelled inputs (folder, glob, CSV or text file): the "
                                                  "pre-trained model pseudo-labels them and the strategy trains on "
                                                  "them too.")] = None,
    labels: Annotated[str | None, typer.Option(help="A table `headstart suggest` wrote, filled in: its labelled rows "
                                               "join the training data.")] = None,
    pseudo_teacher: Annotated[str | None, typer.Option(help="With --unlabeled: what labels the pool: auto (chosen by "
                                                       "cross-validation), probe, propagation or both [auto].")] = None,
    pseudo_limit: Annotated[int | None, typer.Option(help="With --unlabeled: at most N pseudo-labelled inputs, the "
                                                     "most confident of each class [as class balance allows].")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory [runs/<time>-<model>-<strategy>].")] = None,
    config: Annotated[Path | None, typer.Option(help="Take options from a run's config.json, or a JSON/YAML file of the same names (flags override).")] = None,
    budget: Annotated[str | None, typer.Option(help="auto: the time to stay within, e.g. 90s, 10m, 1h [none].")] = None,
    class_weight: Annotated[
        str | None, typer.Option(help="auto: weigh classes so each counts the same (imbalanced data); none [none].")
    ] = None,
    no_cache: NoCache = False,
    refit: Annotated[
        bool | None, typer.Option("--refit/--no-refit", help="After choosing on the validation split (epochs, C), "
                                  "train again on every labelled example [refit where the strategy can].")
    ] = None,
    freeze: Annotated[int | None, typer.Option(help="Detection: keep the first N layers as pre-trained.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue an interrupted run from its last checkpoint (other options ignored).")
    ] = None,
    from_run: Annotated[
        Path | None, typer.Option("--from", help="Add DATA's classes to this run, without its old examples (a new "
                                  "run: this one is kept as it is).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Adapt a pre-trained model to DATA and save a run directory (detection: --task detect, YOLO or COCO data)."""
    from headstart import api
    from headstart.runconfig import RunConfig

    if from_run is not None:
        ignored = {"--model": model, "--strategy": strategy, "--weights": weights, "--epochs": epochs, "--lr": lr,
                   "--batch-size": batch_size, "--image-size": image_size, "--crop-pct": crop_pct, "--window": window,
                   "--max-length": max_length, "--long-text": long_text, "--val-size": val_size, "--seed": seed, "--precision": precision,
                   "--num-workers": num_workers, "--task": task, "--multi-label": multi_label, "--unlabeled": unlabeled,
                   "--labels": labels, "--pseudo-teacher": pseudo_teacher, "--pseudo-limit": pseudo_limit,
                   "--config": config, "--budget": budget, "--class-weight": class_weight, "--no-cache": no_cache or None,
                   "--refit": refit, "--freeze": freeze, "--resume": resume}
        given = [name for name, value in ignored.items() if value is not None]
        if given:
            raise HeadstartError(f"{', '.join(given)} cannot go with --from: adding classes keeps the run's model and "
                                 "settings (a linear probe on its backbone); leave them out")
        if data is None:
            raise HeadstartError("--from needs DATA: the examples of the classes to add")
        _print_result(api.add_classes(from_run, data, out=out_dir, per_class=per_class, test_per_class=test_per_class,
                                      text_column=text_column, label_column=label_column, verbose=not quiet))
        return
    if resume is not None:
        kwargs = RunConfig.from_run(resume).train_kwargs()
        _print_result(api.train(**kwargs, out=resume, resume=True, verbose=not quiet))
        return
    run_config = (RunConfig.from_file(config) if config else RunConfig()).merged(
        data=data, model=model, strategy=strategy, task=task, text_column=text_column, label_column=label_column,
        per_class=per_class, test_per_class=test_per_class, unlabeled=unlabeled, labels=labels, weights=weights, epochs=epochs, lr=lr,
        batch_size=batch_size, image_size=image_size, crop_pct=crop_pct, window=window, max_length=max_length,
        long_text=long_text,
        val_size=val_size, seed=seed,
        precision=precision, num_workers=num_workers, cache=False if no_cache else None, budget=budget,
        class_weight=class_weight, freeze=freeze, refit=refit, pseudo_teacher=pseudo_teacher, pseudo_limit=pseudo_limit,
    )
    if multi_label is not None and run_config.data:
        from dataclasses import replace

        from headstart.tasks import resolve_task

        task_name = resolve_task(run_config.task, run_config.data, run_config.model, multi_label)
        run_config = replace(run_config, task=task_name)
    _print_result(api.train(**run_config.train_kwargs(), out=out_dir, verbose=not quiet))


def _print_result(result: TrainResult) -> None:
    if not world().is_main:
        return
    for warning in result.summary.get("warnings", []):
        warn(warning)
    for line in result.lines():
        out.print(line)


@app.command()
def demo(
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the two runs.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Transfer vs training from scratch on the Fashion-MNIST sample that ships with headstart."""
    from headstart import api

    results = api.demo(out_dir, verbose=not quiet)
    rows = [[name, r.summary["strategy"], f"{r.estimator.image_size} px", f"{r.summary['scores']['accuracy']:.1%}",
             f"{r.summary['fit_seconds']:.0f}s", str(r.run_dir)] for name, r in results.items()]
    print_table(["", "strategy", "input", "test accuracy", "fit time", "run"], rows,
                title="transfer vs scratch (EfficientNet-Lite0)")
    gap = results["transfer"].summary["scores"]["accuracy"] - results["scratch"].summary["scores"]["accuracy"]
    given = results["transfer"].estimator.data_record_["counts"]
    per_class = min(given["train"].values()) + min(given.get("val", {"": 0}).values())
    out.print(
        f"transfer learning is [bold]{gap * 100:+.1f} points[/] ahead with {per_class} labelled training images per class"
    )


@app.command()
def compare(
    data: Annotated[str, typer.Argument(help="Labelled data, as for train, detection too (its test split, or a fixed 20%, scores every point).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Registered model or timm name.")] = None,
    strategies: Annotated[str | None, typer.Option(help="Comma-separated strategies [linear-probe,fine-tune,scratch; detection: fine-tune,scratch].")] = None,
    sizes: Annotated[str | None, typer.Option(help="Labelled examples per class (detection: images), comma-separated; 'all' for everything [10,50,100,all; with --selection: the one size to start from, 10].")] = None,
    seeds: Annotated[str, typer.Option(help="Seeds per size (the 'all' size uses the first).")] = "0,1,2",
    task: Annotated[str | None, typer.Option(help="image, text, detect, image-multilabel or text-multilabel [from the model, else from DATA].")] = None,
    multi_label: MultiLabel = None,
    image_size: Annotated[int | None, typer.Option(help="Images: input size in pixels [the model's].")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (strategy default if unset).")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    test_per_class: Annotated[int | None, typer.Option(help="Score on at most N test examples per class.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder [runs/<time>-compare].")] = None,
    selection: Annotated[str | None, typer.Option(help="Compare ways of choosing what to label: random,active. Starts from --sizes per class, then labels --per-round more examples of DATA each round (their labels held back until chosen).")] = None,
    rounds: Annotated[int | None, typer.Option(help="With --selection: rounds of labelling [5].")] = None,
    per_round: Annotated[int | None, typer.Option(help="With --selection: examples labelled per round [100].")] = None,
    quiet: Quiet = False,
) -> None:
    """Learning curves: STRATEGIES at several labelled-set sizes and seeds, against training from scratch; or, with
    --selection, active against random choice of what to label over rounds."""
    from headstart.compare import compare as run_compare
    from headstart.compare import parse_selection, parse_sizes

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise HeadstartError(f"cannot read the seeds '{seeds}'; give integers, e.g. 0,1,2") from exc
    params = {k: v for k, v in {"image_size": image_size, "epochs": epochs}.items() if v is not None}
    result = run_compare(
        data, model, split_names(strategies), parse_sizes(sizes) if sizes is not None else None,
        seed_list, task=task, multi_label=multi_label, test_per_class=test_per_class, out=out_dir,
        verbose=not quiet, precision=precision, rounds=rounds, per_round=per_round,
        selection=parse_selection(selection) if selection is not None else None, **params,
    )
    above, below = result.lines()
    out.print(above)
    print_table(*result.table())
    for line in below:
        out.print(line)

