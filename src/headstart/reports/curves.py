"""The learning-curve figure: the test score (accuracy, mAP) and training time against labelled-set size."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from headstart.files import atomic_write

if TYPE_CHECKING:
    from headstart.compare.learning_curves import Comparison

STYLE = {"scratch": {"color": "#b0413e", "linestyle": "--"}, "linear-probe": {"color": "#3b75af"},
         "head": {"color": "#7a5195"}, "fine-tune": {"color": "#2e8b57"}, "lora": {"color": "#ef8a17"},
         "contrastive": {"color": "#d45087"}}


def style_of(curve: str) -> dict:
    """A curve's colour from its strategy; a selection comparison's random curve dotted beside the active one."""
    strategy, _, rule = curve.partition(", ")
    style = dict(STYLE.get(strategy, {}))
    if rule == "random":
        style["linestyle"] = ":"
    return style


def _x(size: int | str, largest: int) -> float:
    """'all' sits one step to the right of the largest numeric size."""
    return float(size) if size != "all" else float(largest) * 2


def plot_curves(comparison: Comparison, path: Path) -> Path:
    """The score (mean over seeds, band from lowest to highest) and mean fit time per strategy, log-scaled sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    numeric = [p.size for p in comparison.points if p.size != "all"]
    largest = max(numeric) if numeric else max(p.n_train for p in comparison.points)
    strategies = list(dict.fromkeys(p.strategy for p in comparison.points))
    scale = 100 if comparison.is_accuracy else 1
    fig, (acc_ax, time_ax) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for strategy in strategies:
        curve = comparison.curve(strategy)
        xs = [_x(size, largest) for size, *_ in curve]
        means, lows, highs = (np.array(values) for values in zip(*[(m, lo, hi) for _, m, lo, hi in curve], strict=True))
        style = style_of(strategy)
        acc_ax.plot(xs, means * scale, marker="o", label=strategy, **style)
        acc_ax.fill_between(xs, lows * scale, highs * scale, alpha=0.15, color=style.get("color"))
        times = [np.mean([p.fit_seconds for p in comparison.points if p.strategy == strategy and p.size == size])
                 for size, *_ in curve]
        time_ax.plot(xs, times, marker="o", label=strategy, **style)
    sizes = list(dict.fromkeys(p.size for p in comparison.points))
    for ax in (acc_ax, time_ax):
        if comparison.log_sizes:
            ax.set_xscale("log")
        ax.set_xticks([_x(s, largest) for s in sizes], [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel(comparison.size_label)
        ax.grid(alpha=0.3)
    unit = ", %" if comparison.is_accuracy else ""
    acc_ax.set_ylabel(f"{comparison.score_name}{unit} ({comparison.n_test:,} examples)")
    acc_ax.set_title(f"{comparison.model}: {comparison.title}")
    acc_ax.legend(loc="lower right")
    time_ax.set_yscale("log")
    time_ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    time_ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    time_ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    time_ax.set_ylabel("training time, s")
    time_ax.set_title("time per model")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path
