"""A run's report.html: one self-contained page (figures embedded as data URIs, no script, no external file)
rebuilt from the run directory's files alone, so ``headstart report RUN`` can redraw it at any time."""

from __future__ import annotations

import html
import json
from pathlib import Path

from headstart.files import user_path
from headstart.reports import figures
from headstart.reports.detection import detection_sections
from headstart.reports.multilabel import multilabel_sections
from headstart.reports.page import (
    PREDICTIONS,
    changes_section,
    figure,
    footer,
    mistake_card,
    read_csv,
    refit_paragraph,
    table,
    training_history,
    warnings_section,
    write_page,
)
from headstart.rundir import METRICS, SUMMARY, read_config
from headstart.tasks import get_task

FEW_EXAMPLES = 10  # a class with fewer training examples than this is flagged
IMBALANCE = 3.0  # largest / smallest class above this is flagged

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
    history = read_csv(root / METRICS)
    predictions = read_csv(root / PREDICTIONS)
    classes = config.get("classes", [])
    scores = summary.get("scores") or {}
    counts = config.get("data", {}).get("counts", {})

    layout = get_task(config.get("task", "image")).report_layout
    if layout != "classification":
        return write_page(root, LAYOUTS[layout](root, config, summary, history))
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
        plain = summary.get("plain_probe") or {}
        if plain.get("accuracy") is not None:
            parts.append(f"<p>The naive recipe, {html.escape(plain['name'])}: {plain['accuracy']:.1%}.</p>")
    parts.append(warnings_section(list(summary.get("warnings", [])) + data_warnings(counts)))

    parts.append("<h2>Data</h2>")
    split_names = [s for s in ("train", "val", "test") if s in counts]
    parts.append(table(["class", *split_names], [[c, *[counts[s].get(c, 0) for s in split_names]] for c in classes]))
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
    parts.append(refit_paragraph(summary))
    parts.extend(training_history(root, history, "accuracy", "train acc", "val acc"))
    parts.append(changes_section(root, summary))

    if scores:
        parts.append("<h2>Per class</h2>")
        parts.append(table(["class", "precision", "recall", "F1", "support"],
                            [[c, v["precision"], v["recall"], v["f1"], v["support"]]
                             for c, v in scores.get("per_class", {}).items()]))
        parts.append(figure(figures.confusion(scores["confusion_matrix"], classes, root / "confusion.png"),
                             "confusion matrix"))
        calibration = scores.get("calibration")
        if calibration:
            parts.append("<h2>Calibration</h2><p>Expected calibration error (15 bins): "
                         f"<b>{calibration['ece']:.3f}</b>; bars below the diagonal mean over-confidence.</p>")
            parts.append(figure(figures.reliability(calibration["bins"], calibration["ece"], root / "calibration.png"),
                                 "reliability diagram"))
    parts.append(_mistakes(root, predictions))

    return write_page(root, parts + footer(summary, config))


# A task names the page its runs get (``Task.report_layout``); "classification" is drawn here.
LAYOUTS = {"detection": detection_sections, "multilabel": multilabel_sections}


def _mistakes(root: Path, predictions: list[dict], limit: int = 12) -> str:
    wrong = [p for p in predictions if p.get("correct") == "False"]
    wrong.sort(key=lambda p: -float(p["confidence"]))
    if not wrong:
        return "<h2>Most confident mistakes</h2><p>None: every evaluated example is right.</p>" if predictions else ""
    cards = [mistake_card(root, row, [f"true <b>{html.escape(row['label'])}</b>",
                                      f"predicted <b>{html.escape(row['predicted'])}</b> "
                                      f"({float(row['confidence']):.0%})"]) for row in wrong[:limit]]
    return f'<h2>Most confident mistakes</h2><div class="mistakes">{"".join(cards)}</div>'

