"""Rank candidate pre-trained models for a labelled dataset before training any of them."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from headstart.compute.cores import usable_cores
from headstart.data.dataset import LabeledData
from headstart.errors import HeadstartError
from headstart.features import FeatureCache, cached_features
from headstart.models import create_backbone, get_model_spec, has_parameters
from headstart.models.layers import SEPARATOR as LAYER_SEPARATOR
from headstart.models.layers import layer_names
from headstart.progress import Reporter
from headstart.ranking.scores import h_score, leep, logme, nce

if TYPE_CHECKING:
    from headstart.tasks.base import Task

RANDOM_SUFFIX = "@random"
SCORES: dict[str, str] = {"logme": "LogME", "leep": "LEEP", "nce": "NCE", "hscore": "H-score"}
NEEDS_SOURCE = {"leep", "nce"}


@dataclass
class CandidateScore:
    """One candidate's scores (None where a score does not apply) and the seconds each step took."""

    model: str
    scores: dict[str, float | None]
    seconds: dict[str, float]
    feature_dim: int
    note: str = ""

    def to_row(self) -> dict:
        return {"model": self.model, **self.scores, **{f"seconds_{k}": round(v, 3) for k, v in self.seconds.items()},
                "feature_dim": self.feature_dim, "note": self.note}


@dataclass
class Ranking:
    """Candidates sorted by ``by`` (best first), on ``n`` labelled examples of ``classes`` classes."""

    candidates: list[CandidateScore]
    by: str
    n: int
    classes: int
    scores: list[str] = field(default_factory=list)

    @property
    def recommended(self) -> CandidateScore:
        return self.candidates[0]

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the ranking as ``headstart rank`` prints it."""
        header = ["rank", "model", *(SCORES[s] for s in self.scores), "seconds", "note"]
        rows = [[str(place), c.model, *("n/a" if c.scores[s] is None else f"{c.scores[s]:.4f}" for s in self.scores),
                 f"{sum(c.seconds.values()):.1f}", c.note] for place, c in enumerate(self.candidates, 1)]
        return header, rows

    def heading(self) -> str:
        return (f"{self.n} labelled examples, {self.classes} classes; sorted by {SCORES[self.by]} (higher is "
                "better)")

    def to_dict(self) -> dict:
        return {"n": self.n, "classes": self.classes, "by": self.by, "recommended": self.recommended.model,
                "candidates": [c.to_row() for c in self.candidates]}

    def reason(self) -> str:
        best = self.recommended
        text = f"{best.model} has the highest {SCORES[self.by]} ({best.scores[self.by]:.4f})"
        if len(self.candidates) > 1:
            runner = self.candidates[1]
            text += f", ahead of {runner.model} ({runner.scores[self.by]:.4f})"
        return text


def split_source_head(model: nn.Module) -> nn.Module | None:
    """Detach a timm model's source classifier (e.g. its ImageNet 1000-way layer) and return it; the model then
    outputs pooled features. None when the model has no source classifier."""
    if not (hasattr(model, "get_classifier") and hasattr(model, "reset_classifier")):
        return None
    source = model.get_classifier()
    if not isinstance(source, nn.Module) or not has_parameters(source):
        return None
    source = copy.deepcopy(source).eval()
    model.reset_classifier(0)
    return source


def score_features(
    features: np.ndarray, labels: Sequence[str], source_probs: np.ndarray | None, wanted: Sequence[str]
) -> tuple[dict[str, float | None], dict[str, float]]:
    """The ``wanted`` scores of one candidate and the seconds each took (None: needs a source classifier)."""
    functions: dict[str, Callable[[], float]] = {
        "logme": lambda: logme(features, np.asarray(labels)),
        "hscore": lambda: h_score(features, np.asarray(labels)),
    }
    if source_probs is not None:
        functions["leep"] = lambda: leep(source_probs, np.asarray(labels))
        functions["nce"] = lambda: nce(source_probs.argmax(axis=1), np.asarray(labels))
    scores: dict[str, float | None] = {}
    seconds: dict[str, float] = {}
    with threadpool_limits(limits=usable_cores()):
        for name in wanted:
            if name not in functions:
                scores[name] = None
                continue
            start = time.perf_counter()
            scores[name] = functions[name]()
            seconds[name] = time.perf_counter() - start
    return scores, seconds


def rank_models(
    data: LabeledData,
    models: Sequence[str],
    task: Task,
    params: dict,
    scores: Sequence[str] = ("logme", "leep", "nce", "hscore"),
    by: str = "logme",
    cache: FeatureCache | None = None,
    reporter: Reporter | None = None,
    layers: bool = False,
) -> Ranking:
    """Score every candidate in ``models`` on ``data`` from its frozen features; ``NAME@random`` is the same
    architecture with random weights (the from-scratch reference), ``NAME@LAYER`` the network cut after that
    layer, and ``layers=True`` adds every intermediate layer of each pre-trained candidate that way. ``params`` are
    the classifier's params (image_size, max_length, batch_size, precision, seed, num_workers)."""
    unknown = [s for s in scores if s not in SCORES]
    if unknown or by not in scores:
        raise HeadstartError(f"unknown score '{(unknown or [by])[0]}'; use some of {', '.join(SCORES)}")
    if len(data.classes) < 2:
        raise HeadstartError(f"ranking needs at least 2 classes; {data.source or 'the data'} has {len(data.classes)}")
    reporter = reporter or Reporter()
    keys = [task.content_key(item) for item in data.items]
    results = []
    for name in with_layers(models, params) if layers else models:
        random_init = name.endswith(RANDOM_SUFFIX)
        spec = get_model_spec(name.removesuffix(RANDOM_SUFFIX), params.get("weights"))
        task.check_model(spec)
        preprocessing = task.preprocessing(spec, params)
        start = time.perf_counter()
        torch.manual_seed(int(params.get("seed", 0)))  # the random-init reference is the same on every run
        backbone = create_backbone(spec, pretrained=not random_init, keep_source_head=True)
        source = None if random_init else split_source_head(backbone)  # None too for a cut network
        dataset = task.inputs_dataset(data.items, None, preprocessing, train=False)
        features = cached_features(
            backbone, dataset, keys, cache, preprocessing, batch_size=max(int(params.get("batch_size", 32)), 64),
            precision=params.get("precision", "auto"), num_workers=int(params.get("num_workers", 0)),
            reporter=reporter, description=f"features ({name})",
        )
        source_probs = None
        if source is not None and NEEDS_SOURCE & set(scores):
            with torch.inference_mode():
                logits = source(torch.from_numpy(features)).double()
            source_probs = torch.softmax(logits, dim=1).numpy()
        extract_seconds = time.perf_counter() - start
        values, seconds = score_features(features, data.labels, source_probs, scores)
        if random_init:
            note = "random weights"
        elif LAYER_SEPARATOR in name:
            note = f"cut after {name.rpartition(LAYER_SEPARATOR)[2]}"
        else:
            note = "" if source is not None else "no source classifier"
        results.append(CandidateScore(name, values, {"features": extract_seconds, **seconds}, features.shape[1], note))
        reporter.say(f"  {name}: {SCORES[by]} {values[by]:.4f} ({extract_seconds:.1f} s features)")
    results.sort(key=lambda c: -np.inf if c.scores[by] is None else c.scores[by], reverse=True)
    return Ranking(results, by, len(data), len(data.classes), list(scores))


def with_layers(models: Sequence[str], params: dict) -> list[str]:
    """``models``, each pre-trained one followed by its cuts after every intermediate layer (``NAME@LAYER``); the
    layers are read off the architecture, without loading its weights."""
    names = []
    for name in models:
        names.append(name)
        if not name.endswith(RANDOM_SUFFIX):
            spec = get_model_spec(name, params.get("weights"))
            architecture = create_backbone(spec, pretrained=False)
            names += [f"{name}{LAYER_SEPARATOR}{layer}" for layer in layer_names(architecture)]
    return names
