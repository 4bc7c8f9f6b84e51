"""The report.html of a multi-label run: macro/micro F1 and mAP, a per-label table with thresholds, how true and
predicted labels co-occur, and the inputs with the largest errors."""

from __future__ import annotations

import html
from pathlib import Path

from headstart.data.dataset import NO_LABEL
from headstart.reports import figures
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
)


def co_occurrence(predictions: list[dict], classes: list[str]) -> list[list[int]]:
    """(true label x predicted label) counts of evaluated inputs: row i, column j counts the inputs labelled i for
    which j was predicted (the diagonal: hits; off it: which labels are taken for which)."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for row in predictions:
        truth = [index[c] for c in row.get("label", "").split("|") if c in index]
        predicted = [index[c] for c in row.get("predicted", "").split("|") if c in index]
        for i in truth:
            for j in predicted:
                matrix[i][j] += 1
    return matrix


def multilabel_sections(root: Path, config: dict, summary: dict, history: list[dict]) -> list[str]:
    """The page's body, from the run's files (``html.py`` adds the page around it)."""
    scores = summary.get("scores") or {}
    classes = config.get("classes", [])
    title = f"headstart multi-label run: {config['model']['name']}, {config['strategy']}"
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(str(root))}</p>"]
    if scores:
        parts.append(f"<p>Scored on the <b>{html.escape(str(summary.get('evaluated_on')))}</b> split "
                     f"({scores['n']} inputs, {scores['label_cardinality']:.2f} labels each on average, "
                     f"{scores['empty_sets']} with none).</p>")
        keys = [("macro-F1", scores["macro_f1"]), ("micro-F1", scores["micro_f1"]),
                ("mAP", scores.get("mean_average_precision")), ("subset accuracy", scores["subset_accuracy"])]
        parts.append("".join(f'<span class="key" id="key-{k.split()[0].lower()}"><b>{v:.3f}</b>{html.escape(k)}'
                             "</span>" for k, v in keys if v is not None))
        if scores.get("thresholds_note"):
            parts.append(f"<p>Thresholds {html.escape(scores['thresholds_note'])}.</p>")
        baseline = summary.get("baseline")
        if baseline and baseline.get("macro_f1") is not None:
            parts.append(f"<p>Without transfer ({html.escape(baseline['name'])}): macro-F1 "
                         f"{baseline['macro_f1']:.3f}.</p>")
    parts.append(warnings_section(summary.get("warnings", [])))
    counts = config.get("data", {}).get("counts", {})
    split_names = [s for s in ("train", "val", "test") if s in counts]
    parts.append("<h2>Data (inputs carrying each label)</h2>")
    parts.append(table(["label", *split_names], [[c, *[counts[s].get(c, 0) for s in split_names]]
                                                  for c in [*classes, NO_LABEL]]))
    thresholds = (config.get("fit_details") or {}).get("thresholds") or {}
    parts.append("<h2>Training</h2><p>Validation \"acc\" is the mean average precision over the labels; \"train "
                 "acc\" the share of inputs whose whole label set is right at 0.5.</p>")
    parts.append(f"<p>Strategy {html.escape(config['strategy'])}: {html.escape(config.get('strategy_reason', ''))}</p>")
    if thresholds:
        said = f" ({thresholds['note']})" if thresholds.get("note") else ""
        parts.append(f"<p>Per-label thresholds: {html.escape(thresholds.get('rule', ''))}, chosen on the "
                     f"{html.escape(str(thresholds.get('chosen_on')))}{html.escape(said)}.</p>")
    parts.append(refit_paragraph(summary))
    parts.extend(training_history(root, history, "mAP", "train subset acc", "val mAP"))
    parts.append(changes_section(root, summary))
    if scores:
        parts.append("<h2>Per label</h2>")
        parts.append(table(["label", "precision", "recall", "F1", "support", "AUROC", "AP", "threshold"],
                            [[c, v["precision"], v["recall"], v["f1"], v["support"], _or_dash(v["auroc"]),
                              _or_dash(v["average_precision"]), v["threshold"]]
                             for c, v in scores.get("per_label", {}).items()]))
        predictions = read_csv(root / PREDICTIONS)
        if predictions:
            parts.append("<h2>True and predicted labels</h2><p>Row: a true label; column: a predicted one; each "
                         "cell counts the evaluated inputs with both (the diagonal: labels found).</p>")
            parts.append(figure(figures.confusion(co_occurrence(predictions, classes), classes,
                                                  root / "co_occurrence.png"), "co-occurrence of true and predicted labels"))
            parts.append(_largest_errors(root, predictions))
    return parts + footer(summary, config)


def _or_dash(value: float | None) -> float | str:
    return "-" if value is None else value


def _largest_errors(root: Path, predictions: list[dict], limit: int = 12) -> str:
    wrong = sorted((p for p in predictions if p.get("correct") == "False"), key=lambda p: -float(p["error"]))
    if not wrong:
        return "<h2>Largest errors</h2><p>None: every evaluated input's label set is right.</p>"
    cards = [mistake_card(root, row, [f"true <b>{html.escape(row['label'] or '(none)')}</b>",
                                      f"predicted <b>{html.escape(row['predicted'] or '(none)')}</b>",
                                      f"worst: {html.escape(row['worst_label'])} off by {float(row['error']):.0%}"])
             for row in wrong[:limit]]
    return f'<h2>Largest errors</h2><div class="mistakes">{"".join(cards)}</div>'
