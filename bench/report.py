"""Rebuild the Fashion-MNIST table of docs/benchmarks.md from bench/results/fashion_mnist.jsonl.

    python bench/report.py            # prints the markdown table (the newest row of each cell wins)
    python bench/report.py --write    # and puts it between the table markers of docs/benchmarks.md
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "fashion_mnist.jsonl"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
MARKERS = ("<!-- table:fashion-mnist -->", "<!-- /table:fashion-mnist -->")
ORDER = ["pixels", "reference-probe", "linear-probe", "head", "fine-tune", "scratch"]


def _label(row: dict, main_size: int) -> str:
    """Rows at another image size than most get their own line, e.g. ``linear-probe (224 px)``."""
    size = row.get("image_size_used", row["image_size"])
    return row["strategy"] if size == main_size or row["strategy"] == "reference-probe" else f"{row['strategy']} ({size} px)"


def table(path: Path = RESULTS) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    sizes_seen = [row["image_size"] for row in rows]
    main_size = max(set(sizes_seen), key=sizes_seen.count)
    cells: dict[tuple[int, str], dict] = {}
    for row in rows:
        cells[(row["per_class"], _label(row, main_size))] = row
    sizes = sorted({size for size, _ in cells})
    labels = {label for _, label in cells}
    strategies = [name for base in ORDER for name in sorted(labels) if name.split(" ")[0] == base]
    header = "| strategy | " + " | ".join(f"{n} / class: accuracy (fit time)" for n in sizes) + " |"
    lines = [header, "|---" * (len(sizes) + 1) + "|"]
    for strategy in strategies:
        row = [strategy]
        for size in sizes:
            cell = cells.get((size, strategy))
            if cell is None:
                row.append("-")
            elif "fit_seconds" in cell:
                row.append(f"{cell['test_accuracy']:.1%} ({_duration(cell['fit_seconds'])})")
            else:  # baselines: the time includes scoring the test split
                row.append(f"{cell['test_accuracy']:.1%} ({_duration(cell['seconds'])}*)")
        lines.append("| " + " | ".join(row) + " |")
    any_row = next(row for row in cells.values() if row["image_size"] == main_size)
    commits = ", ".join(sorted({f"{c['strategy']}@{c['commit']}" for c in cells.values()}))
    lines.append("")
    lines.append(
        f"Machine: {any_row['machine']}. Image size {any_row['image_size']} px (reference-probe: 224 px, bf16), "
        f"{any_row['precision']}, seed {any_row['seed']}; test split: the official {any_row['n_test']:,} images. "
        f"\\* time includes scoring the test split. Code: {commits}."
    )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def write(doc: Path = DOC) -> None:
    start, end = MARKERS
    text = doc.read_text()
    block = f"{start}\n{table()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.replace(start, block)
    doc.write_text(text)


if __name__ == "__main__":
    print(table())
    if "--write" in sys.argv:
        write()
