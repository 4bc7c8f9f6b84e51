"""``headstart suggest``: what to label next, and which labels to check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.app import app, out, print_table


@app.command()
def suggest(
    run: Annotated[str, typer.Argument(help="A run directory made by `headstart train`.")],
    pool: Annotated[str, typer.Argument(help="Unlabelled inputs: a folder, glob or CSV of images; a text file (one "
                                             "per line) or CSV/TSV/JSONL of texts.")],
    n: Annotated[int, typer.Option("-n", help="How many inputs to suggest.")] = 100,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The table to fill in (never overwritten).")] = Path(
        "to-label.csv"),
    data: Annotated[str | None, typer.Option(help="Labelled data to check for label errors [what the run trained "
                                                  "on].")] = None,
    issues: Annotated[Path | None, typer.Option(help="Where the likely label errors go [NAME-issues.csv beside "
                                                     "--out NAME.csv].")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Do not look for label errors.")] = False,
) -> None:
    """Rank POOL for labelling (uncertain inputs, spread out) and write the first N to a table with an empty label
    column (fill it in, then `headstart train DATA --labels FILE`); list likely label errors of the labelled data."""
    from headstart.labelling import suggest as write_suggestions

    found = write_suggestions(run, pool, n, out_file, data, issues, check_labels=not no_check)
    print_table(["rank", "input", "predicted", "confidence", "uncertainty"],
                [[str(row["rank"]), row["input"], row["predicted"], f"{row['confidence']:.1%}",
                  f"{row['uncertainty']:.3f}"] for row in found.to_label[:10]])
    more = " (the first 10 shown)" if len(found.to_label) > 10 else ""
    out.print(f"{len(found.to_label)} inputs to label{more}: {found.to_label_file} (fill in its label column, then "
              f"`headstart train DATA --labels {found.to_label_file}`)")
    if found.issues_file is not None:
        print_table(["input", "label", "suggested", "p(label)", "p(suggested)"],
                    [[row["input"], row["label"], row["suggested"], f"{row['label_probability']:.1%}",
                      f"{row['suggested_probability']:.1%}"] for row in found.issues[:10]])
        out.print(f"{len(found.issues)} likely label errors: {found.issues_file}")
    elif found.issues_note:
        out.print(found.issues_note)
