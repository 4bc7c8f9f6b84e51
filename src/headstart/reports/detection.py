"""The report.html of a detection run: mAP, per-class AP, training curves and example predictions drawn."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from headstart.reports import figures
from headstart.reports.page import changes_section, figure, footer, refit_paragraph, table, warnings_section

EXAMPLES_DIR = "examples"


def detection_sections(root: Path, config: dict, summary: dict, history: list[dict]) -> list[str]:
    """The page's body, from the run's files (``report.py`` adds the page around it)."""
    scores = summary.get("scores") or {}
    title = f"headstart detection run: {config['model']['name']}, {config['strategy']}"
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(str(root))}</p>"]
    if scores:
        parts.append(f"<p>Scored on the <b>{html.escape(str(summary.get('evaluated_on')))}</b> split "
                     f"({scores['images']} images, {scores['boxes']} boxes), COCO-style with torchmetrics.</p>")
        keys = [("mAP@0.5", scores["map50"]), ("mAP@0.5:0.95", scores["map"]), ("mAR@100", scores["mar100"])]
        parts.append("".join(f'<span class="key"><b>{v:.3f}</b>{k}</span>' for k, v in keys))
    parts.append(warnings_section(summary.get("warnings", [])))
    counts = config.get("data", {}).get("counts", {})
    split_names = [s for s in ("train", "val", "test") if s in counts]
    parts.append("<h2>Data (boxes per class)</h2>")
    parts.append(table(["class", *split_names], [[c, *[counts[s].get(c, 0) for s in split_names]]
                                                  for c in config.get("classes", [])]))
    parts.append("<h2>Training</h2><p>Validation \"acc\" is mAP@0.5 on the validation split.</p>")
    parts.append(refit_paragraph(summary))
    parts.append(figure(figures.training_curves(history, root / "training.png"), "loss and mAP@0.5 per epoch"))
    if history:
        parts.append(table(["stage", "epoch", "train loss", "val loss", "val mAP@0.5", "seconds"],
                            [[r["stage"], r["epoch"], r["train_loss"], r["val_loss"], r["val_acc"], r["seconds"]]
                             for r in history]))
    parts.append(changes_section(root, summary))
    if scores:
        parts.append("<h2>Per class</h2>")
        parts.append(table(["class", "AP@0.5", "AP@0.5:0.95", "boxes"],
                            [[c, v["ap50"], v["ap"], v["boxes"]] for c, v in scores["per_class"].items()]))
    examples = sorted((root / EXAMPLES_DIR).glob("*.jpg"))
    if examples:
        images = "".join(f'<img class="plot" style="max-width:48%;margin:2px" alt="{p.name}" src="data:image/jpeg;base64,'
                         f'{base64.b64encode(p.read_bytes()).decode("ascii")}">' for p in examples)
        parts.append(f"<h2>Example predictions</h2><p>Predicted boxes in colour (score above the run's conf); the "
                     f"labelled boxes in thin white.</p><div>{images}</div>")
    return parts + footer(summary, config)
