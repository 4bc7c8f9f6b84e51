"""Turning items into embeddings with a pre-trained model or a trained run, for export, search and leakage checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from headstart.data.dataset import DataSplits
from headstart.errors import HeadstartError
from headstart.estimators import estimator_for, load
from headstart.features import FeatureCache, cached_features
from headstart.features.embeddings import Embeddings
from headstart.files import user_path
from headstart.models import create_backbone, get_model_spec
from headstart.progress import Reporter
from headstart.rundir import is_run_dir
from headstart.search import near_duplicates
from headstart.tasks import Task, get_task


@dataclass
class Embedder:
    """A frozen backbone with its preprocessing: items in, one vector per item out (cached by content)."""

    name: str
    task: Task
    backbone: nn.Module
    preprocessing: dict
    batch_size: int = 64
    precision: str = "auto"
    cache: FeatureCache | None = None
    reporter: Reporter | None = None

    def __call__(self, items: Sequence[Any], description: str = "embedding") -> np.ndarray:
        keys = [self.task.content_key(item) for item in items]
        dataset = self.task.inputs_dataset(list(items), None, self.preprocessing, train=False)
        return cached_features(self.backbone, dataset, keys, self.cache, self.preprocessing,
                               batch_size=self.batch_size, precision=self.precision, reporter=self.reporter,
                               description=description)

    def embed_splits(self, splits: DataSplits) -> Embeddings:
        parts = [(name, data) for name, data in (("train", splits.train), ("val", splits.val), ("test", splits.test))
                 if data is not None and len(data)]
        vectors = [self(data.items, f"embedding ({name})") for name, data in parts]
        return Embeddings(
            ids=[i for _, data in parts for i in data.ids],
            # a label set as its labels joined by "|", as a multi-label CSV writes it
            labels=[label if isinstance(label, str) else "|".join(label) for _, data in parts for label in data.labels],
            splits=[name for name, data in parts for _ in data.ids],
            vectors=np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32),
            model=self.name,
        )


def load_embedder(model: str | Path | None, task: str | None, params: dict, reporter: Reporter | None = None) -> Embedder:
    """An embedder from a registered model name (its pre-trained backbone) or a run directory (its trained one)."""
    if model is not None and is_run_dir(model):
        if params.get("window") or params.get("image_size"):
            raise HeadstartError(f"{model} is a run: its own preprocessing (input size, DICOM window) is used; leave "
                                 "--image-size and --window out")
        fitted = load(user_path(model))
        if not hasattr(fitted.model_, "backbone"):
            raise HeadstartError(f"{model} is a {get_task(fitted.task).title} run, which has no embeddings; "
                                 "give a classification run or a model name")
        name, task_name, backbone, preprocessing = str(model), fitted.task, fitted.model_.backbone, fitted.preprocessing_
    else:
        task_name = task or (get_model_spec(str(model)).task if model else "image")
        task_obj = get_task(task_name)
        if not task_obj.gives_features:
            raise HeadstartError(f"{task_obj.title} models give no embeddings; embed with an image or text model")
        spec = get_model_spec(str(model) if model else task_obj.default_model, params.get("weights"))
        task_obj.check_model(spec)
        name, backbone = spec.name, create_backbone(spec)
        preprocessing = task_obj.preprocessing(spec, estimator_for(task_name).from_params(params)._checked_params())
    defaults = estimator_for(task_name).from_params(params)
    return Embedder(
        name, get_task(task_name), backbone.eval(), preprocessing, max(defaults.batch_size_, 64), defaults.precision,
        defaults._feature_cache(), reporter,
    )


def leakage_warnings(embedder: Embedder, splits: DataSplits, threshold: float = 0.95) -> tuple[list[str], dict]:
    """Warnings about test items that repeat training items: exactly (same content) or nearly (cosine similarity
    of their embeddings at least ``threshold``), with a record of what was found.

    0.95 because, with EfficientNet-Lite0, a photo saved again as JPEG or mirrored scores 0.96-0.98 against its
    original, while distinct Fashion-MNIST items of the embedded sample are at most 0.93 apart.
    """
    test = splits.test if splits.test is not None and len(splits.test) else None
    if test is None:
        return [], {}
    train = splits.train
    train_keys = {embedder.task.content_key(item): i for i, item in enumerate(train.items)}
    exact = [(j, train_keys[k]) for j, k in enumerate(embedder.task.content_key(item) for item in test.items)
             if k in train_keys]
    near = near_duplicates(embedder(train.items, "leakage check (train)"), embedder(test.items, "leakage check (test)"),
                           threshold)
    exact_rows = {j for j, _ in exact}
    near = [(j, i, s) for j, i, s in near if j not in exact_rows]
    record = {
        "threshold": threshold,
        "exact": [{"test": test.ids[j], "train": train.ids[i]} for j, i in exact],
        "near": [{"test": test.ids[j], "train": train.ids[i], "similarity": round(s, 4)} for j, i, s in near],
    }
    warnings = []
    if exact or near:
        examples = ", ".join(f"{test.ids[j]} ~ {train.ids[i]}" for j, i, *_ in (exact + near)[:3])
        warnings.append(
            f"possible leakage: {len(exact)} test items repeat a training item exactly and {len(near)} nearly "
            f"(cosine >= {threshold}), e.g. {examples}; remove them from the test split for an honest score"
        )
    return warnings, record
