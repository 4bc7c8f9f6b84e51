"""Rebuild the tables of docs/benchmarks.md from the JSON lines in bench/results/.

    python bench/report.py            # prints the markdown tables (the newest row of each cell wins)
    python bench/report.py --write    # and puts each between its markers in docs/benchmarks.md
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS = RESULTS_DIR / "fashion_mnist.jsonl"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
ORDER = ["pixels", "reference-probe", "linear-probe", "head", "fine-tune", "scratch"]


def _label(row: dict, main_size: int) -> str:
    """Rows at another image size than most get their own line, e.g. ``linear-probe (224 px)``."""
    size = row.get("image_size_used", row["image_size"])
    label = row["strategy"] if "model" not in row else f"{row['strategy']} ({row['model']})"
    return label if size == main_size or row["strategy"] == "reference-probe" else f"{label} ({size} px)"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(path: Path = RESULTS) -> str:
    rows = _rows(path)
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
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds >= 3 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


TEXT_ORDER = ["tfidf", "linear-probe", "head", "fine-tune", "contrastive", "lora", "scratch", "setfit"]
GOAL_SIZES = {"16", "64"}  # where issue #3 sets its goal
HEADSTART_TEXT = ["linear-probe", "head", "fine-tune", "contrastive", "lora"]


def text_table(path: Path = RESULTS_DIR / "rotten_tomatoes.jsonl") -> str:
    """Mean and spread over seeds per method and size, and the issue's goal at 16 and 64 per class."""
    cells: dict[tuple[str, str, int], dict] = {}
    for row in _rows(path):
        cells[(row["per_class"], row["method"], row["seed"])] = row
    sizes = sorted({size for size, _, _ in cells}, key=lambda s: (s == "all", int(s) if s != "all" else 0))
    stats: dict[tuple[str, str], tuple[float, float, float, float, int]] = {}
    for size in sizes:
        for method in TEXT_ORDER:
            found = [c for (s, m, _), c in cells.items() if s == size and m == method]
            if found:
                accuracy = np.array([c["test_accuracy"] for c in found])
                fit = float(np.mean([c.get("fit_seconds", c["seconds"]) for c in found]))
                total = float(np.mean([c["seconds"] for c in found]))
                stats[(size, method)] = (accuracy.mean(), accuracy.std(), fit, total, len(found))
    header = "| method | " + " | ".join(f"{s} / class" if s != "all" else "all" for s in sizes) + " |"
    lines = [header, "|---" * (len(sizes) + 1) + "|"]
    for method in TEXT_ORDER:
        row = [method]
        for size in sizes:
            if (size, method) not in stats:
                row.append("-")
                continue
            mean, sd, fit, total, n = stats[(size, method)]
            spread = f" ± {sd:.1%}" if n > 1 else ""
            row.append(f"{mean:.1%}{spread} ({_duration(fit)} / {_duration(total)})")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for size in sizes:
        if (size, "setfit") not in stats:
            continue
        ours = [(stats[(size, m)][0], m) for m in HEADSTART_TEXT if (size, m) in stats]
        if not ours:
            continue
        best_accuracy, best = max(ours)
        setfit_accuracy, _, setfit_fit, setfit_total, _ = stats[(size, "setfit")]

        def ratio(method: str, size=size, setfit_fit=setfit_fit) -> float:
            return stats[(size, method)][2] / setfit_fit

        matching = sorted((ratio(m), m) for a, m in ours if a >= setfit_accuracy)
        judged = size in GOAL_SIZES
        label = "all data" if size == "all" else f"{size} per class"
        text = (f"- {label}: SetFit {setfit_accuracy:.1%} (training {_duration(setfit_fit)}); the most accurate "
                f"headstart strategy, {best}, {best_accuracy:.1%} in {ratio(best):.2g}x SetFit's training time")
        if matching:
            fastest_ratio, fastest = matching[0]
            verdict = "met" if fastest_ratio <= 1 / 3 else "**missed**"
            text += f"; the fastest that matches or beats SetFit, {fastest}, {stats[(size, fastest)][0]:.1%} in {fastest_ratio:.2g}x."
            if judged:
                text += f" Goal (match or beat it in at most a third of its time): {verdict}."
        elif judged:
            text += ". Goal (match or beat it in at most a third of its time): **missed**, no strategy matches it."
        else:
            text += "."
        lines.append(text)
    any_row = next(iter(cells.values()))
    seeds = sorted({seed for _, _, seed in cells})
    commits = ", ".join(sorted({c["commit"] for c in cells.values()}))
    by_machine: dict[str, list[str]] = {}
    for size in sizes:
        for name in sorted({c["machine"] for (s, _, _), c in cells.items() if s == size}):
            by_machine.setdefault(name, []).append(size)
    # Times compare within a column, run on one machine, not across columns run on different ones.
    machine_text = "; ".join(
        name if len(by_machine) == 1 else f"{name} ({', '.join(s if s == 'all' else f'{s} / class' for s in found)})"
        for name, found in by_machine.items()
    )
    lines.append("")
    lines.append(
        f"Machine: {machine_text}. Mean ± standard deviation over seeds {seeds} (one seed for 'all'). Times: "
        f"training (from loading the pre-trained model to a fitted classifier) / the whole cell (with scoring the "
        f"{any_row['n_test']:,} test reviews). Code: {commits}."
    )
    return "\n".join(lines)


def speed_table(path: Path = RESULTS_DIR / "ranking_speed.jsonl") -> str:
    latest = {row["score"]: row for row in _rows(path)}
    lines = ["| score | features | classes | best of 3 | median |", "|---|---|---|---|---|"]
    for name, row in latest.items():
        lines.append(f"| {name} | {row['n']:,} x {row['dim']:,} | {row['classes']} | {row['seconds_best']:.2f} s | "
                     f"{row['seconds_median']:.2f} s |")
    row = next(iter(latest.values()))
    lines += ["", f"Machine: {row['machine']}; BLAS: {row['blas']}. Code: {row['commit']}."]
    return "\n".join(lines)


def validation_table(path: Path = RESULTS_DIR / "ranking_validation.jsonl") -> str:
    """Each candidate's scores beside the accuracy it reached, then the weighted tau against each truth measured."""
    latest = {row["dataset"]: row for row in _rows(path)}
    scores = ["logme", "leep", "nce", "hscore"]
    truths = [t for t in ("linear_probe", "fine_tune") if any(f"{t}_accuracy" in c for r in latest.values()
                                                              for c in r["candidates"])]
    names = {"linear_probe": "linear-probe", "fine_tune": "fine-tuned"}

    def value(number: float | None, spec: str) -> str:
        return "n/a" if number is None else format(number, spec)

    lines = ["| dataset | candidate | LogME | LEEP | NCE | H-score | "
             + " | ".join(f"{names[t]} test accuracy" for t in truths) + " |", "|---" * (6 + len(truths)) + "|"]
    for dataset, record in latest.items():
        for candidate in record["candidates"]:
            cells = [value(candidate[s], ".3f") for s in scores]
            cells += [value(candidate.get(f"{t}_accuracy"), ".1%") if f"{t}_accuracy" in candidate else "-"
                      for t in truths]
            lines.append(f"| {dataset} | {candidate['candidate']} | " + " | ".join(cells) + " |")
    lines += ["", "| dataset | train / test | truth | " + " | ".join(f"weighted tau ({s})" for s in scores) + " |",
              "|---" * 7 + "|"]
    for dataset, record in latest.items():
        size = f"; {record['image_size']} px" if record.get("image_size") else ""
        for truth in truths:
            taus = record.get("weighted_tau" if truth == "linear_probe" else f"weighted_tau_{truth}") or {}
            if taus:
                lines.append(f"| {dataset} | {record['n_train']} / {record['n_test']}{size} | {names[truth]} | "
                             + " | ".join(value(taus.get(s), ".2f") for s in scores) + " |")
    row = next(iter(latest.values()))
    lines += ["", f"Machine: {'; '.join(sorted({r['machine'] for r in latest.values()}))}. Seed {row['seed']}. "
                  f"Code: {', '.join(sorted({r['commit'] for r in latest.values()}))}."]
    return "\n".join(lines)


def scaling_table(path: Path = RESULTS_DIR / "scaling.jsonl") -> str:
    latest = {row["processes"]: row for row in _rows(path)}
    base = latest.get(1)
    lines = ["| processes | images | wall time (fixed cost) | extraction rate | speed-up | GFLOP/s |", "|---" * 6 + "|"]
    for procs, row in sorted(latest.items()):
        speedup = f"{row['images_per_second'] / base['images_per_second']:.2f}x" if base else "-"
        lines.append(f"| {procs} | {row['images']:,} | {row['seconds_total']:.0f} s ({row['seconds_fixed']:.0f} s) | "
                     f"{row['images_per_second']:.1f} img/s | {speedup} | {row['gflops_per_second']:.0f} |")
    if latest:
        row = next(iter(latest.values()))
        lines += ["", f"EfficientNet-Lite0 at {row['image_size']} px, {row.get('precision', 'fp32')}. "
                  f"Machine: {row['machine']}. Code: {row['commit']}."]
    return "\n".join(lines)


def _goal(met: bool) -> str:
    return "met" if met else "**missed**"


def _footer(row: dict, detail: str) -> list[str]:
    return ["", f"Machine: {row['machine']}. {detail}. Code: {row['commit']}."]


def extraction_table(path: Path = RESULTS_DIR / "speed.jsonl") -> str:
    """Streamed extraction speed per machine, engine and precision against the measured matmul peak (the newest row
    of each), and the bf16 accuracy checks."""
    rows = [row for row in _rows(path) if not row.get("smoke")]
    runs = {(row["machine"], row.get("engine", "pytorch"), row["precision"]): row for row in rows if "check" not in row}
    lines = ["| machine | engine | precision (ran as) | images | images/s | GFLOP/image | of the bf16 matmul peak | "
             "of its own precision's peak | peak RSS | code |", "|---" * 10 + "|"]
    for (where, engine, _), row in sorted(runs.items()):
        lines.append(f"| {where.rsplit(', ', 2)[0]} | {engine} | {row['precision']} ({row['ran_as']}) | {row['images']:,} | "
                     f"{row['images_per_second']:.1f} | {row['gflops_per_image']:.2f} | "
                     f"{row['fraction_of_bf16_peak']:.0%} | {row['fraction_of_own_peak']:.0%} | "
                     f"{row['peak_rss_mb'] / 1024:.2f} GB | {row['commit']} |")
    lines.append("")
    for where in sorted({key[0] for key in runs}):
        here = [row for key, row in runs.items() if key[0] == where]
        best = max(here, key=lambda r: r["fraction_of_bf16_peak"])
        lines.append(f"- {where}: peaks measured fp32 {best['peak_fp32_gflops']:.0f}, bf16 "
                     f"{best['peak_bf16_gflops']:.0f} GFLOP/s. Goal, extraction at 40% or more of the bf16 limit: "
                     f"{_goal(best['fraction_of_bf16_peak'] >= 0.4)} (best {best['fraction_of_bf16_peak']:.0%}, "
                     f"{best.get('engine', 'pytorch')} {best['ran_as']}). Under 4 GB for {best['images']:,} images: "
                     f"{_goal(best['peak_rss_mb'] < 4096)}.")
    checks = {(row["machine"], row.get("engine", "pytorch")): row for row in rows if row.get("check") == "bf16-accuracy"}
    for (_, engine), check in sorted(checks.items()):
        within = abs(check["difference_points"]) <= 0.3
        lines.append(f"- {check['machine'].rsplit(', ', 2)[0]}, {engine}, {check['commit']}: bf16 against fp32 features, linear probe "
                     f"at {check['per_class']} per class: {check['bf16']:.1%} vs {check['fp32']:.1%} "
                     f"({check['difference_points']:+.2f} points); within 0.3 points: "
                     f"{_goal(within)}{'' if within else ' (use --precision fp32)'}.")
    if runs:
        row = next(iter(runs.values()))
        threads = sorted({", ".join(r["machine"].rsplit(", ", 2)[1:]) for r in runs.values()})
        lines += ["", f"{'; '.join(threads)}. Batch {row['batch_size']}, 224 px. Peak RSS is the process's peak so "
                      "far: a later row of one run includes the earlier rows' memory."]
    return "\n".join(lines)


def _partial_tutorial(where: str, tutorial: dict, reaching: float, ours: dict) -> str:
    """The 10x goal against a tutorial stopped part-way: the ratio at the point it reached, and a bound for its whole
    run (its mean epoch times its epochs) that holds unless its final accuracy passes headstart's best."""
    done, planned = tutorial["epochs_done"], tutorial["epochs"]
    best = max(ours.values(), key=lambda r: (r["test_accuracy"], -r["train_seconds"]))
    projected = tutorial["epoch_seconds"] * planned
    return (f"- {where}, provisional: the tutorial reached {tutorial['test_accuracy']:.1%} after {done} of its "
            f"{planned} epochs ({_duration(tutorial['train_seconds'])}); headstart reaches that "
            f"{tutorial['train_seconds'] / reaching:.0f}x sooner. Its whole run would take about "
            f"{_duration(projected)}, {projected / best['train_seconds']:.0f}x headstart's time to its best "
            f"{best['test_accuracy']:.1%}: the goal (10x) holds unless the tutorial's final accuracy passes "
            f"{best['test_accuracy']:.1%}, not measured.")


def _compared(rows: list[dict]) -> list[tuple[int, str]]:
    """The (size, machine) groups to show: for each size, every machine where headstart ran beside the tutorial or
    fastai (ratios compare times taken on one machine, so groups are never mixed), else the newest row's machine."""
    groups: dict[int, dict[str, set[str]]] = {}
    for row in rows:
        groups.setdefault(row["per_class"], {}).setdefault(row["machine"], set()).add(row["method"].split(" ")[0])
    newest = {row["per_class"]: row["machine"] for row in rows}
    shown = []
    for size, machines in sorted(groups.items()):
        compared = [m for m, kinds in machines.items() if "headstart" in kinds and kinds - {"headstart"}]
        shown += [(size, machine) for machine in (compared or [newest[size]])]
    return shown


def _ratio_lines(where: str, ours: dict, tutorial: dict | None, fastai: dict | None) -> list[str]:
    """The issue's two goals for one group: time to the tutorial's accuracy, and the fine-tuning epoch."""
    lines = []
    if tutorial and ours:
        reaching = [r["train_seconds"] for r in ours.values() if r["test_accuracy"] >= tutorial["test_accuracy"]]
        if reaching and tutorial.get("partial"):
            lines.append(_partial_tutorial(where, tutorial, min(reaching), ours))
        elif reaching:
            ratio = tutorial["train_seconds"] / min(reaching)
            lines.append(f"- {where}: headstart reaches the tutorial's {tutorial['test_accuracy']:.1%} "
                         f"{ratio:.1f}x sooner (goal 10x): {_goal(ratio >= 10)}.")
        else:
            lines.append(f"- {where}: no headstart strategy reaches the tutorial's "
                         f"{tutorial['test_accuracy']:.1%}: **missed**.")
    tuned = ours.get("headstart fine-tune")
    if fastai and tuned and tuned.get("epoch_seconds"):
        ratio = fastai["epoch_seconds"] / tuned["epoch_seconds"]
        lines.append(f"- {where}: headstart's fine-tune epoch is {ratio:.1f}x faster than fastai's "
                     f"(goal 2x): {_goal(ratio >= 2)}.")
    return lines


def side_by_side_table(path: Path = RESULTS_DIR / "side_by_side.jsonl") -> str:
    """Accuracy and time per method, size and machine, and the issue's two ratios per size and machine (the newest
    row of each cell wins). Machines are lettered in the table and named in the footer."""
    rows = [row for row in _rows(path) if not row.get("smoke")]
    shown = _compared(rows)
    letters = {machine: chr(ord("A") + i) for i, machine in enumerate(dict.fromkeys(m for _, m in shown))}
    several = len(letters) > 1
    cells = {(row["per_class"], row["machine"], row["method"]): row for row in rows
             if (row["per_class"], row["machine"]) in shown}
    groups = _grouped(cells, shown)
    lines = ["| per class | method | test accuracy | training time | s / fine-tuning epoch |", "|---" * 5 + "|"]
    for (size, machine), group in groups:
        label = f"{size} ({letters[machine]})" if several else str(size)
        for method, row in sorted(group.items()):
            epoch = f"{row['epoch_seconds']:.0f}" if row.get("epoch_seconds") else "-"
            name = f"{method}, after {row['epochs_done']} of {row['epochs']} epochs" if row.get("partial") else method
            lines.append(f"| {label} | {name} | {row['test_accuracy']:.1%} | {_duration(row['train_seconds'])} | "
                         f"{epoch} |")
    lines.append("")
    for (size, machine), group in groups:
        where = f"{size} per class" + (f" ({letters[machine]})" if several else "")
        ours = {m: r for m, r in group.items() if m.startswith("headstart")}
        tutorial = next((r for m, r in group.items() if m.startswith("pytorch")), None)
        fastai = next((r for m, r in group.items() if m.startswith("fastai")), None)
        lines += _ratio_lines(where, ours, tutorial, fastai)
    if cells:
        row = next(iter(cells.values()))
        machine = "; ".join(f"{letter} = {name}" if several else name for name, letter in letters.items())
        commits = ", ".join(sorted({r["commit"] for r in cells.values()}))
        lines += _footer({**row, "machine": machine, "commit": commits}, f"224 px, test split {row['n_test']:,} images")
    return "\n".join(lines)


def _grouped(cells: dict, shown: list[tuple[int, str]]) -> list[tuple[tuple[int, str], dict[str, dict]]]:
    """Each shown (size, machine) with its rows by method."""
    return [((size, machine), {m: r for (s, w, m), r in cells.items() if (s, w) == (size, machine)})
            for size, machine in shown]


DETECTION_ORDER = ["fine-tune", "head", "scratch"]


def detection_table(path: Path = RESULTS_DIR / "detection.jsonl") -> str:
    """mAP per strategy and training-set size, mean over seeds, for the grid of the newest row (same image size and
    test-set size); then what transfer buys over scratch at each size."""
    rows = _rows(path)
    newest = rows[-1]
    config = ("image_size", "test_images")
    grid = [r for r in rows if all(r.get(k) == newest.get(k) for k in config)]
    cells: dict[tuple[str, int], dict[int, dict]] = {}
    for row in grid:  # the newest row of each (strategy, size, seed) wins
        cells.setdefault((row["strategy"], row["train_images"]), {})[row["seed"]] = row
    sizes = sorted({size for _, size in cells})
    strategies = [s for s in DETECTION_ORDER if any(k[0] == s for k in cells)]

    def mean(strategy: str, size: int, key: str) -> float | None:
        found = cells.get((strategy, size), {})
        return float(np.mean([r[key] for r in found.values()])) if found else None

    header = "| strategy | " + " | ".join(f"{n} images: mAP@0.5 / mAP@0.5:0.95 (fit time)" for n in sizes) + " |"
    lines = [header, "|---" * (len(sizes) + 1) + "|"]
    for strategy in strategies:
        row = [strategy]
        for size in sizes:
            found = cells.get((strategy, size), {}).values()
            if not found:
                row.append("-")
                continue
            spread = (f" ({min(r['map50'] for r in found):.3f}-{max(r['map50'] for r in found):.3f})"
                      if len(found) > 1 else "")
            seconds = float(np.mean([r.get("fit_seconds", r["seconds"]) for r in found]))
            row.append(f"{mean(strategy, size, 'map50'):.3f}{spread} / {mean(strategy, size, 'map'):.3f} "
                       f"({_duration(seconds)})")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for size in sizes:
        tuned, scratch = mean("fine-tune", size, "map50"), mean("scratch", size, "map50")
        if tuned is not None and scratch is not None:
            strict = mean("fine-tune", size, "map") - mean("scratch", size, "map")
            lines.append(f"- {size} training images: fine-tune {tuned:.3f} mAP@0.5 against scratch {scratch:.3f} "
                         f"({tuned - scratch:+.3f}; mAP@0.5:0.95 {strict:+.3f}).")
    seeds = sorted({r["seed"] for found in cells.values() for r in found.values()})
    commits = ", ".join(sorted({r["commit"] for found in cells.values() for r in found.values()}))
    seen = sorted({r.get("images_seen", r["epochs"] * r["train_images"]) for f in cells.values() for r in f.values()})
    seen_text = f"{seen[0]:,}" if len(seen) == 1 else f"{seen[0]:,}-{seen[-1]:,}"
    lines += ["", f"Machine: {newest['machine']}. {newest['image_size']} px, {seen_text} "
                  f"training images seen per cell (whole epochs), {newest['test_images']} test images per seed, seeds "
                  f"{', '.join(map(str, seeds))} (mean; lowest-highest mAP@0.5 in brackets). Code: {commits}."]
    return "\n".join(lines)


# What auto chooses from, per benchmark (scratch and the baselines are not choices a user would want).
AUTO_CHOICES = {"fashion-mnist": ["linear-probe", "head", "fine-tune"],
                "rotten-tomatoes": ["linear-probe", "head", "fine-tune", "contrastive", "lora"]}


AUTO_RESULTS = [RESULTS_DIR / "auto_fashion_mnist.jsonl", RESULTS_DIR / "auto_rotten_tomatoes.jsonl"]


def _size_key(size: str) -> int:
    return int(size) if size.isdigit() else 1 << 30  # "all" last


def auto_table(paths: list[Path] = AUTO_RESULTS) -> str:
    """Issue #4's goal for auto, cell by cell over both benchmark grids: accuracy within 1 point of the best fixed
    strategy, in at most half the time of training every one of them (training times; the same draws, and the
    same machine: auto and the fixed strategies it is judged against run in one go, into bench/results/auto_*)."""
    cells: dict[tuple[str, str, int, str], dict[str, dict]] = {}
    for file in paths:
        for row in _rows(file) if file.is_file() else []:
            if row.get("image_size", 160) != 160:
                continue
            method = row.get("method") or row["strategy"]
            cells.setdefault((row["dataset"], str(row["per_class"]), row["seed"], row["machine"]), {})[method] = row
    lines = ["| data | per class | seed | auto chose | auto: accuracy (training time) | best fixed: accuracy | "
             "all fixed: training time | accuracy gap | time ratio |", "|---" * 9 + "|"]
    gaps, ratios, commits = [], [], set()
    machines = set()
    for (dataset, size, seed, where), found in sorted(cells.items(), key=lambda c: (c[0][0], _size_key(c[0][1]), c[0][2])):
        fixed = [found[m] for m in AUTO_CHOICES[dataset] if m in found]
        if "auto" not in found or len(fixed) < len(AUTO_CHOICES[dataset]):
            continue
        auto = found["auto"]
        best = max(fixed, key=lambda r: r["test_accuracy"])
        all_time = sum(r["fit_seconds"] for r in fixed)
        gap, ratio = (auto["test_accuracy"] - best["test_accuracy"]) * 100, auto["fit_seconds"] / all_time
        gaps.append(gap)
        ratios.append(ratio)
        commits.update(r["commit"] for r in (auto, *fixed))
        machines.add(where)
        lines.append(f"| {dataset} | {size} | {seed} | {auto.get('chosen', '?')} | {auto['test_accuracy']:.1%} "
                     f"({_duration(auto['fit_seconds'])}) | {best['test_accuracy']:.1%} "
                     f"({best.get('method') or best['strategy']}) | {_duration(all_time)} | {gap:+.1f} | {ratio:.2f} |")
    if not gaps:
        return ("No auto rows yet: `python bench/fashion_mnist.py --strategies linear-probe,head,fine-tune,auto "
                "--no-baselines --out bench/results/auto_fashion_mnist.jsonl` and `python bench/rotten_tomatoes.py "
                "--methods auto,linear-probe,head,fine-tune,contrastive,lora --sizes 8,16,64 "
                "--out bench/results/auto_rotten_tomatoes.jsonl`.")
    within = sum(g >= -1 for g in gaps)
    lines += ["", f"- Accuracy within 1 point of the best fixed strategy in {within} of {len(gaps)} cells "
                  f"(mean gap {np.mean(gaps):+.1f} points, worst {min(gaps):+.1f}): {_goal(within == len(gaps))}.",
              f"- Time at most half of trying them all in {sum(r <= 0.5 for r in ratios)} of {len(ratios)} cells "
              f"(mean ratio {np.mean(ratios):.2f}, worst {max(ratios):.2f}): {_goal(max(ratios) <= 0.5)}.",
              "", f"Machine: {'; '.join(sorted(machines))}. Code: {', '.join(sorted(commits))}."]
    return "\n".join(lines)


TABLES = {
    "fashion-mnist": (RESULTS, table),
    "rotten-tomatoes": (RESULTS_DIR / "rotten_tomatoes.jsonl", text_table),
    "ranking-speed": (RESULTS_DIR / "ranking_speed.jsonl", speed_table),
    "ranking-validation": (RESULTS_DIR / "ranking_validation.jsonl", validation_table),
    "scaling": (RESULTS_DIR / "scaling.jsonl", scaling_table),
    "speed": (RESULTS_DIR / "speed.jsonl", extraction_table),
    "side-by-side": (RESULTS_DIR / "side_by_side.jsonl", side_by_side_table),
    "auto": (AUTO_RESULTS, auto_table),
    "detection": (RESULTS_DIR / "detection.jsonl", detection_table),
}


def tables() -> dict[str, str]:
    """Every table whose results file (or one of them) exists."""
    return {name: build(path) for name, (path, build) in TABLES.items()
            if any(p.is_file() for p in (path if isinstance(path, list) else [path]))}


def write(doc: Path = DOC) -> None:
    text = doc.read_text()
    for name, markdown in tables().items():
        start, end = f"<!-- table:{name} -->", f"<!-- /table:{name} -->"
        block = f"{start}\n{markdown}\n{end}"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        text = pattern.sub(lambda _, block=block: block, text) if pattern.search(text) else text.replace(start, block)
    doc.write_text(text)


if __name__ == "__main__":
    for name, markdown in tables().items():
        print(f"## {name}\n\n{markdown}\n")
    if "--write" in sys.argv:
        write()
