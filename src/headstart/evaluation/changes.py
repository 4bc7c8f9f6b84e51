"""What training changed in a pre-trained network (issue 33), measured per layer group (the groups gradual
unfreezing uses): how far the weights moved from the pre-trained ones, how similar the group's representations of the
same inputs stay (linear CKA, Kornblith et al. 2019), and how often the source head (e.g. the ImageNet classifier)
still gives the answer it gave before training.

Written here, not taken from a library: CKA is a few lines of numpy (the packages that offer it bring their own
training frameworks), and the activations come from forward hooks on headstart's own layer groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch import nn

KEPT_CKA = 0.95  # a group whose representations keep at least this CKA is said to have kept them


def group_name(names: list[str]) -> str:
    """A short name for a group of parameter names: their common module (``blocks.3``), else its parts joined
    (``conv_stem+bn1``, ``blocks.6+conv_head+bn2``: a numbered child of a container kept with its number)."""
    modules = [name.rsplit(".", 1)[0] for name in names]
    common = _common_prefix(modules)
    if common:
        return common
    tops = []
    for module in modules:
        parts = module.split(".")
        tops.append(".".join(parts[:2]) if len(parts) > 1 and parts[1].isdigit() else parts[0])
    return "+".join(dict.fromkeys(tops))


def _common_prefix(modules: list[str]) -> str:
    parts = [module.split(".") for module in modules]
    common = []
    for pieces in zip(*parts, strict=False):
        if len(set(pieces)) != 1:
            break
        common.append(pieces[0])
    return ".".join(common)


def output_module(model: nn.Module, names: list[str]) -> str | None:
    """The module whose output is the group's output: the group's common module, else the module of its last
    parameter (e.g. the final BatchNorm of a group of ``blocks.6``, ``conv_head`` and ``bn2``)."""
    modules = dict(model.named_modules())
    common = _common_prefix([name.rsplit(".", 1)[0] for name in names])
    if common in modules and common:
        return common
    last = names[-1].rsplit(".", 1)[0] if names else ""
    return last if last in modules else None


def weight_changes(pretrained: nn.Module, trained: nn.Module, groups: list[list[str]]) -> list[float | None]:
    """Per group, ||W_trained - W_pretrained|| / ||W_pretrained|| over all its parameters together (None when
    the pre-trained model has none of them)."""
    before = dict(pretrained.named_parameters())
    after = dict(trained.named_parameters())
    changes: list[float | None] = []
    for group in groups:
        names = [n for n in group if n in before and n in after and before[n].shape == after[n].shape]
        if not names:
            changes.append(None)
            continue
        changes.append(_relative([before[n] for n in names], [after[n] for n in names]))
    return changes


def statistics_changes(pretrained: nn.Module, trained: nn.Module, groups: list[list[str]]) -> list[float | None]:
    """Per group, the relative change of its modules' floating-point buffers (BatchNorm's running mean and
    variance: a network trained on new images moves them even where its weights barely move); None where it has
    none."""
    before = {n: b for n, b in pretrained.named_buffers() if b.is_floating_point()}
    after = {n: b for n, b in trained.named_buffers() if b.is_floating_point()}
    changes: list[float | None] = []
    for group in groups:
        modules = {name.rsplit(".", 1)[0] for name in group}
        names = [n for n in before if n.rsplit(".", 1)[0] in modules and n in after and before[n].shape == after[n].shape]
        changes.append(_relative([before[n] for n in names], [after[n] for n in names]) if names else None)
    return changes


def _relative(before: list[torch.Tensor], after: list[torch.Tensor]) -> float | None:
    """||after - before|| / ||before|| over the tensors together, in float64 on the CPU (wherever they live)."""
    old = [t.detach().cpu().double() for t in before]
    moved = sum(float((a.detach().cpu().double() - b).pow(2).sum()) for a, b in zip(after, old, strict=True))
    norm = sum(float(b.pow(2).sum()) for b in old)
    return float(np.sqrt(moved / norm)) if norm > 0 else None


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two representations of the same inputs (rows): 1 for representations equal up to a
    rotation and a scale, lower the more they differ. From the Gram matrices, so wide layers cost little."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    kx, ky = x @ x.T, y @ y.T
    denominator = np.sqrt((kx * kx).sum() * (ky * ky).sum())
    return float((kx * ky).sum() / denominator) if denominator > 0 else float("nan")


def _pooled(output: Any, mask: torch.Tensor | None, channels_last: bool = False) -> torch.Tensor | None:
    """A group's output as one vector per input: the mean over positions (image maps: height and width, channels
    first unless ``channels_last``; token sequences: the tokens the attention mask keeps)."""
    if hasattr(output, "to_tuple"):  # a Hugging Face ModelOutput: its first field is the hidden states
        output = output.to_tuple()
    if isinstance(output, tuple | list):
        output = output[0] if output else None
    if not isinstance(output, torch.Tensor) or output.dim() < 2:
        return None
    output = output.float()
    if output.dim() == 4:
        return output.mean(dim=(1, 2) if channels_last else (2, 3))
    if output.dim() == 3:
        if mask is not None and mask.shape[1] == output.shape[1] and len(mask) >= len(output):
            mask = mask[: len(output)]
            weights = mask.to(output.dtype).unsqueeze(-1)
            return (output * weights).sum(1) / weights.sum(1).clamp(min=1)
        return output.mean(dim=1)
    return output.flatten(1)


@torch.inference_mode()
def activations(model: nn.Module, modules: list[str | None], batches: Iterable[Any],
                source_head: nn.Module | None = None) -> tuple[list[np.ndarray | None], np.ndarray, np.ndarray | None]:
    """(each module's pooled outputs, None for a module never called; the model's own outputs; the source head's
    class indices on them, when given) for every input of ``batches`` ((inputs, targets) pairs, as headstart's
    datasets give them)."""
    found = dict(model.named_modules())
    channels_last = getattr(model, "output_fmt", "NCHW") == "NHWC"  # timm's Swin, MaxViT...: maps as (B, H, W, C)
    kept: list[list[torch.Tensor]] = [[] for _ in modules]
    mask: list[torch.Tensor | None] = [None]
    # rows of the batch each module has seen so far: a model may run a batch's rows in chunks (a text encoder's
    # windows of long texts), each chunk pooled with its own rows of the attention mask
    seen = [0] * len(modules)

    def hook(index: int):
        def record(module: nn.Module, args: Any, output: Any) -> None:
            rows = mask[0]
            if rows is not None:
                rows = rows[seen[index]:]
            pooled = _pooled(output, rows, channels_last)
            if pooled is not None:
                kept[index].append(pooled.cpu())
                seen[index] += len(pooled)
        return record

    handles = [found[name].register_forward_hook(hook(i)) for i, name in enumerate(modules) if name in found]
    outputs, answers = [], []
    was_training = model.training
    model.eval()
    try:
        for inputs, _ in batches:
            inputs = send_to_device(inputs, next(model.parameters()).device)
            mask[0] = inputs.get("attention_mask") if isinstance(inputs, dict) else None
            seen[:] = [0] * len(modules)
            output = model(inputs)
            if not isinstance(output, torch.Tensor):  # a detector's maps: the groups' activations are what counts
                continue
            outputs.append(output.float().cpu())
            if source_head is not None:
                answers.append(source_head(output.float()).argmax(dim=1).cpu())
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    groups = [torch.cat(chunks).numpy() if chunks else None for chunks in kept]
    return (groups, torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32),
            torch.cat(answers).numpy() if answers else None)


def changes_summary(record: dict | None) -> str | None:
    """The record ``estimators.changes.measure_changes`` wrote, in one sentence ("the weights moved most in blocks.5
    (0.6%); conv_stem+bn1 to blocks.1 kept CKA >= 0.95, ..."); None without one."""
    if not record or not record.get("groups"):
        return None
    rows = [r for r in record["groups"] if r["weight_change"] is not None and not r.get("unused")]
    if not rows:
        return None
    ranked = sorted(rows, key=lambda r: -r["weight_change"])
    most = " and ".join(f"{r['group']} ({r['weight_change']:.2%})" for r in ranked[:2])
    said = f"the weights moved most in {most}, least in {ranked[-1]['group']} ({ranked[-1]['weight_change']:.2%})"
    scored = [r for r in record["groups"] if r["cka"] is not None]
    if scored:
        kept = 0
        while kept < len(scored) and scored[kept]["cka"] >= KEPT_CKA:
            kept += 1
        lowest = min(scored, key=lambda r: r["cka"])
        if kept == len(scored):
            said += f"; every group kept its representations (CKA >= {KEPT_CKA:.2f})"
        else:
            said += ((f"; {scored[0]['group']} to {scored[kept - 1]['group']} kept CKA >= {KEPT_CKA:.2f}" if kept else
                      f"; even the first group is below CKA {KEPT_CKA:.2f}")
                     + f", the lowest {lowest['cka']:.2f} at {lowest['group']}")
    source = record.get("source")
    if source and source.get("agreement") is not None:
        said += (f"; it kept {source['agreement']:.0%} of its {source['name']} {source.get('unit', 'answers')} on your "
                 f"{record['split']} inputs")
    return said
