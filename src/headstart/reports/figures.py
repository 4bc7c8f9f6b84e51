"""The figures of a run's report, drawn with matplotlib's Agg backend and saved as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from headstart.files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    _pyplot().close(fig)
    return path


def training_curves(history: Sequence[dict], path: Path) -> Path | None:
    """Loss and accuracy per epoch, training and validation, stages in sequence; None without epochs."""
    if not history:
        return None
    plt = _pyplot()
    steps = np.arange(1, len(history) + 1)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, ax, name in (("loss", loss_ax, "loss"), ("acc", acc_ax, "accuracy")):
        for split, style in (("train", "-"), ("val", "--")):
            values = [_number(row.get(f"{split}_{key}")) for row in history]
            if any(v is not None for v in values):
                ax.plot(steps, [np.nan if v is None else v for v in values], style, marker=".", label=split)
        ax.set_xlabel("epoch (all stages)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    stages = [row.get("stage") for row in history]
    for i in range(1, len(stages)):
        if stages[i] != stages[i - 1]:
            for ax in (loss_ax, acc_ax):
                ax.axvline(i + 0.5, color="grey", alpha=0.4)
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path) -> Path:
    plt = _pyplot()
    cm = np.asarray(matrix)
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 20:
        for (i, j), value in np.ndenumerate(cm):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > cm.max() / 2 else "black",
                    fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, path)


def reliability(bins: Sequence[dict], ece: float, path: Path) -> Path:
    """Accuracy against confidence per bin (a calibrated model lies on the diagonal), bin sizes below."""
    plt = _pyplot()
    fig, (ax, count_ax) = plt.subplots(2, 1, figsize=(4.6, 5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    widths = [b["high"] - b["low"] for b in bins]
    ax.bar(centres, [b["accuracy"] for b in bins], width=widths, edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    count_ax.bar(centres, [b["count"] for b in bins], width=widths, color="grey")
    count_ax.set_xlabel("confidence of the predicted class")
    count_ax.set_ylabel("examples")
    count_ax.set_xlim(0, 1)
    fig.tight_layout()
    return _save(fig, path)


def _number(value) -> float | None:
    try:
        return None if value in (None, "", "None") else float(value)
    except (TypeError, ValueError):
        return None


def changes(groups: Sequence[dict], path: Path) -> Path | None:
    """Per layer group, input to output: the relative weight change (bars) and the CKA of its representations before
    and after training (line); None without groups."""
    if not groups:
        return None
    plt = _pyplot()
    names = [g["group"] for g in groups]
    x = np.arange(len(names))
    fig, moved = plt.subplots(figsize=(max(6.0, 0.7 * len(names) + 2), 3.8))
    moved.bar(x, [100 * (g["weight_change"] or 0) for g in groups], color="#7aa6e0", label="weight change")
    moved.set_ylabel("weight change (%)")
    moved.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
    kept = moved.twinx()
    kept.plot(x, [np.nan if g["cka"] is None else g["cka"] for g in groups], "o-", color="#c0392b", label="CKA")
    kept.set_ylim(0, 1.02)
    kept.set_ylabel("CKA before/after (1: kept)")
    handles = [h for ax in (moved, kept) for h in ax.get_legend_handles_labels()[0]]
    moved.legend(handles, [h.get_label() for h in handles], loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
                 fontsize=8, frameon=False)
    moved.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)
