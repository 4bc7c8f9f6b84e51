"""Rebuild the Fashion-MNIST table of docs/benchmarks.md from bench/results/fashion_mnist.jsonl.

    python bench/report.py            # prints the markdown table (the newest row of each cell wins)
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "fashion_mnist.jsonl"
ORDER = ["pixels", "reference-probe", "linear-probe", "head", "fine-tune", "scratch"]


def table(path: Path = RESULTS) -> str:
    cells: dict[tuple[int, str], dict] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        cells[(row["per_class"], row["strategy"])] = row
    sizes = sorted({size for size, _ in cells})
    strategies = [s for s in ORDER if any(strategy == s for _, strategy in cells)]
    header = "| strategy | " + " | ".join(f"{n} / class: accuracy (fit time)" for n in sizes) + " |"
    lines = [header, "|---" * (len(sizes) + 1) + "|"]
    for strategy in strategies:
        row = [strategy]
        for size in sizes:
            cell = cells.get((size, strategy))
            seconds = cell.get("fit_seconds", cell["seconds"]) if cell else 0
            row.append("-" if cell is None else f"{cell['test_accuracy']:.1%} ({_duration(seconds)})")
        lines.append("| " + " | ".join(row) + " |")
    any_row = next(iter(cells.values()))
    lines.append("")
    lines.append(
        f"Machine: {any_row['machine']}. Image size {any_row['image_size']} px, {any_row['precision']}, seed "
        f"{any_row['seed']}, commit {any_row['commit']}; test split: the official {any_row['n_test']:,} images."
    )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


if __name__ == "__main__":
    print(table())
