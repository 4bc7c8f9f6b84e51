"""The pieces every report page is made of: the style, tables, embedded figures, the footer and the page."""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path
from typing import Any

from headstart.evaluation.changes import changes_summary
from headstart.files import write_text
from headstart.reports import figures

REPORT = "report.html"
PREDICTIONS = "predictions.csv"  # the evaluated split's predictions
MISTAKES_DIR = "mistakes"  # thumbnails of its worst mistakes

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


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figure(path: Path | None, alt: str) -> str:
    if path is None or not path.is_file():
        return ""
    return f'<figure><img class="plot" alt="{html.escape(alt)}" src="{data_uri(path)}"></figure>'


def table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.3f}</td>'
        if isinstance(value, int):
            return f'<td class="num">{value}</td>'
        return f"<td>{html.escape(str(value))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def footer(summary: dict, config: dict) -> list[str]:
    """The timings and configuration sections that end every report."""
    return [
        "<h2>Timings</h2>",
        table(["step", "seconds"], [["fit", summary.get("fit_seconds", "")],
                                     ["total (with scoring and saving)", summary.get("total_seconds", "")]]),
        "<h2>Configuration</h2>",
        table(["option", "value"], [[k, json.dumps(v)] for k, v in config.get("params", {}).items()]),
    ]


def write_page(root: Path, parts: list[str]) -> Path:
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>headstart report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    write_text(root / REPORT, page)
    return root / REPORT


def refit_paragraph(summary: dict) -> str:
    """Whether the saved model was trained again on every labelled example, and what the score above measures (and
    what auto's guard rail made of its choice against the plain probe)."""
    guard = summary.get("guard")
    said = f"<p>Guard rail: {html.escape(guard['message'])}.</p>" if guard else ""
    return (said + _added_sentence(summary) + _unlabeled_part(summary) + _refit_sentence(summary)
            + _unknown_sentence(summary))


def _added_sentence(summary: dict) -> str:
    """How a run made by adding classes to another came about (issue 33)."""
    added = summary.get("added_classes")
    if not added:
        return ""
    renamed = "".join(f" '{html.escape(new)}' of the new data was taken as '{html.escape(old)}'."
                      for new, old in (added.get("renamed") or {}).items())
    return (f"<p>Classes added to {html.escape(str((summary.get('data_args') or {}).get('from', 'a run')))}: "
            f"{html.escape(', '.join(added['new_classes']) or 'none')} beside its "
            f"{html.escape(', '.join(added['old_classes']))}, from the features it kept of {added['kept_examples']} "
            f"examples (its old examples were not needed) and {added['new_examples']} new examples; the backbone "
            f"{html.escape(added['backbone'])}, a new linear probe on top. "
            + ("Scored on the new data's test split only. " if summary.get("scores") else "Not scored: the new data "
               "has no test split. ")
            + f"No baseline or plain probe beside it (trained on the new data, they would know its classes alone)."
            f"{renamed}</p>")


def changes_section(root: Path, summary: dict) -> str:
    """What training changed in the pre-trained backbone (issue 33): the sentence, a figure and a table; "" when the
    backbone did not train."""
    record = summary.get("changes")
    if not record:
        return ""
    if not record.get("groups"):
        return f"<h2>What training changed</h2><p>Not measured: {html.escape(str(record.get('why', '')))}.</p>"
    said = changes_summary(record) or ""
    seen = (" The backbone trained on these inputs (the refit trains on every labelled example), so the similarity is "
            "an upper bound for new inputs." if record.get("seen_in_training") else "")
    source = record.get("source")
    proxy = (f" Source-task retention: how often the pre-trained {html.escape(source['name'])} classifier, on the "
             "trained backbone's features, still gives the class it gave before training, on your inputs (not on "
             f"{html.escape(source['name'])} itself)." if source else "")
    if source and source.get("description"):
        proxy = f" Source-task retention: {html.escape(source['description'])}."
    rows = [[r["group"], _percent(r["weight_change"]), _percent(r.get("statistics_change")),
             "unused" if r.get("unused") else "-" if r["cka"] is None else f"{r['cka']:.3f}"] for r in record["groups"]]
    return (f"<h2>What training changed</h2><p>{html.escape(said[:1].upper() + said[1:])}.</p>"
            f"<p>On {record['inputs']} {record['split']} inputs, per layer group from input to output: the relative "
            "change of the weights from the pre-trained ones, of the normalisation statistics, and the linear CKA of "
            f"the group's representations before and after training (1: kept).{seen}{proxy}</p>"
            + figure(figures.changes(record["groups"], root / "changes.png"), "what training changed per layer group")
            + table(["layer group", "weight change", "statistics change", "CKA"], rows))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def unlabeled_summary(summary: dict) -> str | None:
    """What the run made of its unlabelled pool (issue 30), in one sentence; None when it had none."""
    record = summary.get("unlabeled")
    if not record:
        return None
    left = ", ".join(f"{count} {why.replace('_', ' ')}" for why, count in record.get("left_out", {}).items() if count)
    right = record.get("pseudo_label_accuracy")
    consistency = record.get("consistency") or {}
    share = consistency.get("mean_share_used")
    fixmatch = (f"; consistency training (FixMatch) on {consistency['inputs']} of them"
                + (f", {share:.0%} confident enough per step on average" if share is not None else "")
                if consistency.get("used") else "")
    if not record["pseudo_labels"]:
        lead = "no pseudo-labels for" if fixmatch else "none used of"
        return (f"{lead} the {record['pool']} new inputs of {record['source']}: {record['teacher_reason']}"
                + fixmatch + (f"; left out: {left}" if left else ""))
    return (f"{record['pseudo_labels']} of the {record['pool']} new inputs of {record['source']} pseudo-labelled by "
            f"{record['teacher']} ({record['teacher_reason']})" + (f", {right:.1%} of them right" if right is not None
                                                                   else "")
            + fixmatch + (f"; left out: {left}" if left else "") + f"; {record['seconds']:.0f} s")


def _unlabeled_part(summary: dict) -> str:
    said = unlabeled_summary(summary)
    if said is None:
        return ""
    per_class = summary["unlabeled"].get("per_class", {})
    return (f"<h2>Unlabelled pool</h2><p>{html.escape(said)}.</p>"
            + table(["class", "pseudo-labelled inputs"], [[name, count] for name, count in per_class.items()]))


def _unknown_sentence(summary: dict) -> str:
    said = unknown_summary(summary)
    return "" if said is None else f"<p>Unknown inputs: {html.escape(said)}.</p>"


def unknown_summary(summary: dict) -> str | None:
    """What the run's unknown-input detector was calibrated on, and the share of the evaluated (known) inputs it
    flags: one sentence for the printed summary and the report alike; None without a detector."""
    record = summary.get("unknown") or {}
    if not record.get("fitted"):
        return None
    flagged = (summary.get("scores") or {}).get("unknown_flagged")
    measured = "" if flagged is None else (f"; of the {summary.get('evaluated_on')} split, all of known classes, "
                                           f"it flags {flagged:.1%}")
    return (f"headstart predict flags an input farther from the labelled examples than "
            f"{1 - record['false_alarm_rate']:.0%} of the {record['reference_examples']} of them are from the "
            f"others (distance to its nearest, k={record['k']}){measured}")


def _refit_sentence(summary: dict) -> str:
    refit = summary.get("refit") or {}
    if refit.get("done"):
        return (f"<p>Refit: after choosing on the validation split, the saved model was trained again on all "
                f"{refit['examples']} labelled examples as <b>{html.escape(refit['strategy'])}</b> "
                f"({refit['seconds']:.1f} s more). Score: {html.escape(str(summary.get('estimate')))}.</p>")
    return f"<p>Not refit: {html.escape(refit['reason'])}.</p>" if refit else ""


def warnings_section(warnings: list[str]) -> str:
    """The Warnings heading and one box per warning (nothing without any)."""
    if not warnings:
        return ""
    return "<h2>Warnings</h2>" + "".join(f'<div class="warn">{html.escape(w)}</div>' for w in warnings)


def mistake_card(root: Path, row: dict, lines: list[str]) -> str:
    """One evaluated input the model got wrong: its thumbnail (images) or text, then ``lines`` (HTML) and its id."""
    thumbnail = root / MISTAKES_DIR / f"{row['index']}.png"
    shown = (f'<img alt="{html.escape(row["id"])}" src="{data_uri(thumbnail)}">' if thumbnail.is_file()
             else f'<div class="snippet">{html.escape(row["input"][:300])}</div>')
    said = "".join(f"<div>{line}</div>" for line in lines)
    return f'<div class="mistake">{shown}{said}<div><small>{html.escape(row["id"])}</small></div></div>'


def training_history(root: Path, history: list[dict], scores: str, train_score: str, val_score: str) -> list[str]:
    """The loss and ``scores`` per epoch as a figure, then the epochs as a table (``train_score`` and ``val_score``
    name what the trainer's "acc" columns hold for the task)."""
    parts = [figure(figures.training_curves(history, root / "training.png"), f"loss and {scores} per epoch")]
    if history:
        parts.append(table(["stage", "epoch", "train loss", train_score, "val loss", val_score, "seconds"],
                           [[r["stage"], r["epoch"], r["train_loss"], r["train_acc"], r["val_loss"], r["val_acc"],
                             r["seconds"]] for r in history]))
    return parts
