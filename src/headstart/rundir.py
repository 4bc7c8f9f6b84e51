"""Run directories, in the spirit of Hugging Face's ``save_pretrained``: plain JSON and CSV plus safetensors weights.

Nothing is pickled, so a run shared by someone else can be loaded without running their code. Every file is
written to a temporary name and renamed into place, and ``config.json`` is written last: a run interrupted while
saving has no ``config.json`` and is never mistaken for a complete one.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError

from headstart.errors import HeadstartError
from headstart.files import atomic_write, user_path, write_json, write_text

if TYPE_CHECKING:
    import torch

FORMAT = "headstart-run"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.csv"
SUMMARY = "summary.json"


def write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buffer.getvalue())


def start_run_dir(path: str | Path) -> Path:
    """Create the run folder and remove any old ``config.json``, so the run reads as incomplete until saved."""
    root = user_path(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / CONFIG).unlink(missing_ok=True)
    except OSError as exc:
        raise _unwritable(root, exc) from exc
    return root


def save_run(
    path: str | Path,
    config: dict,
    state_dict: dict[str, torch.Tensor],
    history: list[dict] | None = None,
    summary: dict | None = None,
) -> Path:
    """Write a run directory; ``config`` must say how to rebuild the model without its pre-trained weights."""
    root = start_run_dir(path)
    try:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        atomic_write(root / WEIGHTS, lambda tmp: _torch_io().save_file(tensors, str(tmp), metadata={"format": FORMAT}))
        if history is not None:
            write_csv(root / METRICS, history)
        if summary is not None:
            write_json(root / SUMMARY, summary)
        write_json(root / CONFIG, {"format": FORMAT, "format_version": FORMAT_VERSION, **config})
    except (OSError, SafetensorError) as exc:
        raise _unwritable(root, exc) from exc
    return root


def save_adapter(folder: Path, config: dict, weights: dict[str, torch.Tensor]) -> None:
    """A PEFT adapter in PEFT's own layout (``PeftModel.from_pretrained(base, folder)`` reads it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / "adapter_config.json", json.dumps(config, indent=2, default=sorted) + "\n")
    except OSError as exc:
        raise _unwritable(folder.parent, exc) from exc
    save_tensors(folder / "adapter_model.safetensors", weights)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Tensors a run keeps beside its weights, as safetensors (written whole or not at all)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    try:
        atomic_write(path, lambda tmp: _torch_io().save_file(tensors, str(tmp)))
    except (OSError, SafetensorError) as exc:  # safetensors reports a failed write as its own error
        raise _unwritable(path.parent, exc) from exc


def _unwritable(root: Path, exc: Exception) -> HeadstartError:
    reason = getattr(exc, "strerror", None) or exc
    return HeadstartError(f"cannot write the run to {root} ({reason}); choose a writable folder with --out")


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return _torch_io().load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise HeadstartError(f"{path} is not a valid safetensors file ({exc}); train the run again") from exc


def read_config(path: str | Path) -> dict:
    """The run's config, checked for format and version."""
    root = user_path(path)
    config_path = root / CONFIG
    if not root.is_dir():
        raise HeadstartError(f"run directory not found: {root}; pass the folder `headstart train` printed")
    if not config_path.is_file():
        raise HeadstartError(f"{root} is not a complete headstart run (no {CONFIG}); train again or pick another run")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HeadstartError(f"{config_path} is damaged ({exc}); train the run again") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise HeadstartError(f"{config_path} is not a headstart run config; pass a folder made by `headstart train`")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise HeadstartError(
            f"{root} was saved by a newer headstart (run format {version}, this one reads {FORMAT_VERSION}); "
            "upgrade with `pip install -U headstart`"
        )
    return config


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``headstart train`` (a Hugging Face model folder also has a
    config.json, but not headstart's format marker)."""
    config_path = user_path(path) / CONFIG
    try:
        return json.loads(config_path.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The run's weights; anything but a valid safetensors file (e.g. a pickle) is refused."""
    weights = user_path(path) / WEIGHTS
    if not weights.is_file():
        raise HeadstartError(f"{weights} is missing; the run is incomplete, train it again")
    try:
        return _torch_io().load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise HeadstartError(f"{weights} is not a valid safetensors file ({exc}); headstart never loads pickles") from exc


DEFAULT_RUNS_DIR = Path("runs")
LAUNCH = "launch.json"
LAUNCH_FORMAT = "headstart-launch"


def default_run_dir(model: str, strategy: str, root: Path = DEFAULT_RUNS_DIR) -> Path:
    """``runs/<time>-<model>-<strategy>``, numbered when that exists already."""
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{model}-{strategy}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = root / f"{stamp}-{model}-{strategy}-{suffix}"
    return path


def write_launch(run_dir: Path, launch: dict) -> None:
    write_json(run_dir / LAUNCH, {"format": LAUNCH_FORMAT, **launch})


def read_launch(run_dir: str | Path) -> dict:
    """How an unfinished run was started (``params``, ``data.args``), for ``headstart train --resume RUN``."""
    root = user_path(run_dir)
    if is_run_dir(root):
        raise HeadstartError(f"{root} is a finished run; nothing to resume (train a new one with --out)")
    try:
        launch = json.loads((root / LAUNCH).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HeadstartError(f"{root} has no readable {LAUNCH}; it is not an unfinished headstart run") from exc
    if not isinstance(launch, dict) or launch.get("format") != LAUNCH_FORMAT:
        raise HeadstartError(f"{root / LAUNCH} is not a headstart launch record; start the run again")
    return launch


def check_resumable(run_dir: Path, launch: dict) -> None:
    """Refuse to resume with other data or parameters than the run was started with."""
    saved = read_launch(run_dir)
    if saved.get("counts") != launch["counts"]:
        raise HeadstartError(
            f"the data changed since {run_dir} started ({saved.get('counts')} then, {launch['counts']} now); "
            "start a new run"
        )
    changed = sorted(k for k, v in launch["params"].items() if k != "verbose" and saved["params"].get(k) != v)
    if changed:
        raise HeadstartError(f"{', '.join(changed)} differ from the run at {run_dir}; resume with the same options")


def _torch_io():
    """safetensors' torch reader and writer, imported on use: reading a run's config (serving an exported run)
    must not import torch."""
    import safetensors.torch

    return safetensors.torch
