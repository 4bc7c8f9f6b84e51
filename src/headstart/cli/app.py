"""The ``headstart`` Typer application and the consoles every command prints to."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

PRECISION_HELP = "auto, fp32 or bf16 [auto: ONNX Runtime fp32 for images on CPU, else bf16 where the CPU has it]."

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Transfer learning on a plain CPU: adapt a pre-trained model to your small labelled dataset. "
    "Add --nproc N to train or embed to run it in N processes (torchrun; see 'Scaling out' in the README).",
)
# Piped output is read by programs and people alike: no wrapping of messages, room for wide tables.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Inputs = Annotated[
    list[str], typer.Argument(help="Images: files, folders, globs. Text: texts, @FILE (one per line), - (stdin).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")]
Window = Annotated[str | None, typer.Option(help="DICOM images: the window CENTER,WIDTH mapped to 8 bits, e.g. 40,400 "
                                            "[each file's own, else its full range].")]
MultiLabel = Annotated[bool | None, typer.Option(
    "--multi-label/--single-label", help="Each input has a set of labels (labels joined by | or ;, JSON lists, "
    "0/1 columns, an image in several class folders) [detected from DATA: lists, | or ;, 0/1 columns].")]


def print_table(header: list[str], rows: list[list[str]], title: str | None = None, show_header: bool = True) -> None:
    """Rows under a header, as a rich table on ``out``."""
    table = Table(*header, title=title, show_header=show_header)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}")


def split_names(listed: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return [name.strip() for name in listed.split(",") if name.strip()] if listed else None
