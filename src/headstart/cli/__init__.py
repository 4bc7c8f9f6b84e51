"""The ``headstart`` command line: a thin layer over ``headstart.api``, one module per group of commands.

``headstart train DATA`` works with no flags; every flag refines it. Errors print one line and exit 1 (add
``--debug`` for the traceback).
"""

from __future__ import annotations

import gc
import sys
from typing import Any

# Each module registers its commands on the app; imported in the order `headstart --help` lists them.
# isort: off
from headstart.cli import train  # noqa: F401
from headstart.cli import runs  # noqa: F401
from headstart.cli import labelling  # noqa: F401
from headstart.cli import explore  # noqa: F401
from headstart.cli import serving  # noqa: F401
# isort: on
from headstart.cli.app import app, err
from headstart.compute import interrupt
from headstart.compute.distributed import is_first_process, launch, launched
from headstart.errors import HeadstartError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``headstart`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        return _run(args, debug)
    finally:
        if argv is None:
            # The interpreter's last garbage collections walk every object torch, timm and scikit-learn created at
            # import (~500,000): about 2 of the 3 seconds a command spends exiting here. Objects still alive at
            # exit are moved out of their reach; atexit handlers and stream flushes run as usual.
            gc.freeze()


def _run(args: list[str], debug: bool) -> Any:
    try:
        args, nproc = _pop_nproc(args)
        if nproc > 1 and not {"train", "embed"} & set(args[:1]):
            raise HeadstartError("--nproc works with train and embed; run other commands without it")
        if nproc > 1 and not launched():
            sys.exit(launch(args + (["--debug"] if debug else []), nproc))
        interrupt.install()
        return app(args=args, prog_name="headstart")
    except HeadstartError as exc:
        if debug:
            raise
        if is_first_process():  # under --nproc every process meets the same error; one says it
            err.print(f"[bold red]error:[/] {exc}")
        sys.exit(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        if is_first_process():
            err.print("interrupted")
        sys.exit(130)
    except ModuleNotFoundError as exc:
        # A serving-only install (headstart[serve] without its dependencies) runs `serve` and `predict --runtime
        # onnx`; every other command needs the full one.
        if debug or (exc.name or "").split(".")[0] not in FULL_INSTALL:
            raise
        err.print(f"[bold red]error:[/] this needs the full install ({exc.name} is missing): run `pip install "
                  "headstart`; a serving-only install runs `headstart serve` and `headstart predict --runtime onnx`")
        sys.exit(1)


# What the full install brings beyond the serving-only one.
FULL_INSTALL = frozenset({"torch", "torchvision", "timm", "transformers", "accelerate", "peft", "sklearn", "scipy",
                          "faiss", "matplotlib", "pyarrow", "onnx", "torchmetrics", "cleanlab", "yaml",
                          "pydicom", "iterstrat", "pycocotools"})


def _pop_nproc(args: list[str]) -> tuple[list[str], int]:
    """``--nproc N`` (any command): the arguments without it, and N (1 when absent)."""
    for i, arg in enumerate(args):
        if arg == "--nproc" or arg.startswith("--nproc="):
            value = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            if not value.isdigit() or int(value) < 1:
                raise HeadstartError(f"--nproc takes a number of processes (1 or more), not '{value}'")
            rest = args[:i] + args[i + (1 if "=" in arg else 2) :]
            return rest, int(value)
    return args, 1
