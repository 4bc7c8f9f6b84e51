"""A run's report.html: one self-contained page (figures embedded as data URIs, no script, no external file)
rebuilt from the run directory's files alone, so ``headstart report RUN`` can redraw it at any time."""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path
from typing import Any

from headstart.files import user_path, write_text
from headstart.reports import figures
from headstart.rundir import METRICS, SUMMARY, read_config

REPORT = "report.html"
PREDICTIONS = "predictions.csv"
MISTAKES_DIR = "mistakes"
FEW_EXAMPLES = 10  # a class with fewer training examples than this is flagged
IMBALANCE = 3.0  # largest / smallest class above this is flagged

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.key { display: inline-block; margin: 0 1.2em .6em 0; } .key b { font-size: 1.6em; display: block; }
.warn { background: #fff4d6; border-left: 4px solid #e0a800; padding: .4em .8em; margin: .3em 0; }
figure { margin: .6em 0; } img.plot { max-width: 100%; } .mistakes { display: flex; flex-wrap: wrap; gap: 10px; }
.mistake { border: 1px solid #ddd; padding: 6px; width: 150px; font-size: 13px; }
.mistake img { width: 96px; height: 96px; image-rendering: pixelated; object-fit: contain; display: block; }
.snippet { width: 100%; } code { background: #f4f4f4; padding: 0 .25em; }
"""


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figure(path: Path | None, alt: str) -> str:
    if path is None or not path.is_file():
        return ""
    return f'<figure><img class="plot" alt="{html.escape(alt)}" src="{_data_uri(path)}"></figure>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.3f}</td>'
        if isinstance(value, int):
            return f'<td class="num">{value}</td>'
        return f"<td>{html.escape(str(value))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def data_warnings(counts: dict[str, dict[str, int]]) -> list[str]:
    """Classes too small to learn, and imbalance, from the training class counts."""
    train = counts.get("train", {})
    if not train:
        return []
    found = [f"class '{c}' has only {n} training examples (fewer than {FEW_EXAMPLES}): its scores are unreliable; "
             "label more of it" for c, n in train.items() if n < FEW_EXAMPLES]
    largest, smallest = max(train.values()), min(train.values())
    if smallest and largest / smallest > IMBALANCE:
        found.append(f"classes are imbalanced ({largest} against {smallest} training examples): read balanced "
                     "accuracy and macro-F1, and consider --class-weight auto")
    return found


def write_report(run_dir: str | Path) -> Path:
    """Draw the figures (PNG beside the page) and write report.html; returns its path."""
    root = user_path(run_dir)
    config = read_config(root)
    summary = json.loads((root / SUMMARY).read_text(encoding="utf-8")) if (root / SUMMARY).is_file() else {}
    history = _read_csv(root / METRICS)
    predictions = _read_csv(root / PREDICTIONS)
    classes = config.get("classes", [])
    scores = summary.get("scores") or {}
    counts = config.get("data", {}).get("counts", {})

    if config.get("task") == "detect":
        from headstart.reports.detection import detection_sections

        return _write_page(root, detection_sections(root, config, summary, history))
    parts = [f"<h1>headstart run: {html.escape(str(config['model']['name']))}, {html.escape(config['strategy'])}</h1>",
             f"<p>{html.escape(str(root))}</p>"]
    if scores:
        keys = [("accuracy", scores.get("accuracy")), ("balanced accuracy", scores.get("balanced_accuracy")),
                ("macro-F1", scores.get("macro_f1")), ("ECE", (scores.get("calibration") or {}).get("ece"))]
        parts.append(f"<p>Scored on the <b>{html.escape(str(summary.get('evaluated_on')))}</b> split "
                     f"({scores.get('n')} examples).</p>")
        parts.append("".join(f'<span class="key" id="key-{k.split()[0].lower()}"><b>{v:.1%}</b>{html.escape(k)}</span>'
                             if k != "ECE" else f'<span class="key" id="key-ece"><b>{v:.3f}</b>{k}</span>'
                             for k, v in keys if v is not None))
        baseline = summary.get("baseline")
        if baseline:
            parts.append(f"<p>Without transfer ({html.escape(baseline['name'])}): {baseline['accuracy']:.1%}.</p>")
    warnings = list(summary.get("warnings", [])) + data_warnings(counts)
    if warnings:
        parts.append("<h2>Warnings</h2>" + "".join(f'<div class="warn">{html.escape(w)}</div>' for w in warnings))

    parts.append("<h2>Data</h2>")
    split_names = [s for s in ("train", "val", "test") if s in counts]
    parts.append(_table(["class", *split_names], [[c, *[counts[s].get(c, 0) for s in split_names]] for c in classes]))
    for name, profile in (summary.get("profile") or {}).items():
        if profile.get("kind") == "image":
            w, h = profile["width"], profile["height"]
            parts.append(f"<p>{html.escape(name)} images (of {profile['looked_at']} looked at): width {w['min']}-{w['max']} "
                         f"px (median {w['median']}), height {h['min']}-{h['max']} px (median {h['median']}); modes "
                         f"{html.escape(', '.join(f'{m} {n}' for m, n in profile['modes'].items()))}.</p>")
        elif profile.get("kind") == "text":
            words = profile["words"]
            parts.append(f"<p>{html.escape(name)} texts: {words['min']}-{words['max']} words (median {words['median']:g}).</p>")

    parts.append("<h2>Training</h2>")
    parts.append(f"<p>Strategy {html.escape(config['strategy'])}: {html.escape(config.get('strategy_reason', ''))}</p>")
    parts.append(_figure(figures.training_curves(history, root / "training.png"), "loss and accuracy per epoch"))
    if history:
        parts.append(_table(["stage", "epoch", "train loss", "train acc", "val loss", "val acc", "seconds"],
                            [[r["stage"], r["epoch"], r["train_loss"], r["train_acc"], r["val_loss"], r["val_acc"],
                              r["seconds"]] for r in history]))

    if scores:
        parts.append("<h2>Per class</h2>")
        parts.append(_table(["class", "precision", "recall", "F1", "support"],
                            [[c, v["precision"], v["recall"], v["f1"], v["support"]]
                             for c, v in scores.get("per_class", {}).items()]))
        parts.append(_figure(figures.confusion(scores["confusion_matrix"], classes, root / "confusion.png"),
                             "confusion matrix"))
        calibration = scores.get("calibration")
        if calibration:
            parts.append("<h2>Calibration</h2><p>Expected calibration error (15 bins): "
                         f"<b>{calibration['ece']:.3f}</b>; bars below the diagonal mean over-confidence.</p>")
            parts.append(_figure(figures.reliability(calibration["bins"], calibration["ece"], root / "calibration.png"),
                                 "reliability diagram"))
    parts.append(_mistakes(root, predictions))

    return _write_page(root, parts + footer(summary, config))


def footer(summary: dict, config: dict) -> list[str]:
    """The timings and configuration sections that end every report."""
    return [
        "<h2>Timings</h2>",
        _table(["step", "seconds"], [["fit", summary.get("fit_seconds", "")],
                                     ["total (with scoring and saving)", summary.get("total_seconds", "")]]),
        "<h2>Configuration</h2>",
        _table(["option", "value"], [[k, json.dumps(v)] for k, v in config.get("params", {}).items()]),
    ]


def _write_page(root: Path, parts: list[str]) -> Path:
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>headstart report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    write_text(root / REPORT, page)
    return root / REPORT


def _mistakes(root: Path, predictions: list[dict], limit: int = 12) -> str:
    wrong = [p for p in predictions if p.get("correct") == "False"]
    wrong.sort(key=lambda p: -float(p["confidence"]))
    if not wrong:
        return "<h2>Most confident mistakes</h2><p>None: every evaluated example is right.</p>" if predictions else ""
    cards = []
    for row in wrong[:limit]:
        thumbnail = root / MISTAKES_DIR / f"{row['index']}.png"
        shown = (f'<img alt="{html.escape(row["id"])}" src="{_data_uri(thumbnail)}">' if thumbnail.is_file()
                 else f'<div class="snippet">{html.escape(row["input"][:300])}</div>')
        cards.append(f'<div class="mistake">{shown}<div>true <b>{html.escape(row["label"])}</b></div>'
                     f'<div>predicted <b>{html.escape(row["predicted"])}</b> ({float(row["confidence"]):.0%})</div>'
                     f'<div><small>{html.escape(row["id"])}</small></div></div>')
    return f'<h2>Most confident mistakes</h2><div class="mistakes">{"".join(cards)}</div>'
