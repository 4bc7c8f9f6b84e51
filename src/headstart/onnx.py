"""The one place headstart writes graphs (ONNX or TorchScript) and opens ONNX Runtime sessions: for feature
extraction on CPUs (``features/onnx_engine``), for exported runs of every task (``Estimator.export``) and for
running them (``serving/runtime``). Importing it does not import torch: serving an exported file must not need it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from headstart.compute.cores import usable_cores
from headstart.errors import HeadstartError

if TYPE_CHECKING:
    import torch
    from torch import nn

OPSET = 17
EXPORT_FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
EXPORT_DIR = "export"  # inside a run folder


def default_export_path(run_dir: Path, format: str) -> Path:
    """Where ``headstart export RUN`` writes the run's file: ``RUN/export/model.onnx`` (or ``.pt``)."""
    return run_dir / EXPORT_DIR / f"model{EXPORT_FORMATS[format]}"


def meta_path_for(model_path: Path) -> Path:
    """``model.json`` for ``model.onnx``, ``model.pt`` and the quantised ``model.int8.onnx`` alike."""
    name = model_path.name
    for suffix in (".int8.onnx", *EXPORT_FORMATS.values()):
        name = name.removesuffix(suffix) if name.endswith(suffix) else name
    return model_path.with_name(name + ".json")


def write_graph(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                output_names: list[str], dynamic_axes: dict[str, dict[int, str]], format: str = "onnx") -> None:
    """Trace ``module`` on ``example`` to ``path``: ONNX (opset ``OPSET``, the named axes dynamic) or TorchScript."""
    import torch

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter chatter, not the user's concern
        if format == "onnx":
            torch.onnx.export(module, example, str(path), dynamo=False, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes, opset_version=OPSET)
        else:
            torch.jit.trace(module, example, check_trace=False).save(str(path))


def require_onnx() -> None:
    """ONNX and ONNX Runtime are dependencies; say how to install them where they are missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise HeadstartError("ONNX needs onnx and onnxruntime: run `pip install 'headstart[export]'`") from exc


def ort_session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime session on the CPU with ``threads`` (default: the cores this process may use). Running needs
    ONNX Runtime only (``onnx`` itself takes a second to import)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise HeadstartError("running an ONNX file needs onnxruntime: run `pip install onnxruntime`") from exc

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or usable_cores()
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
