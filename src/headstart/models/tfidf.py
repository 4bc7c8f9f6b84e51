"""``tfidf``: the classical text baseline (TF-IDF of words and word pairs) as a model like the others, so that a run
that chooses it is saved, loaded, predicted, exported and served like any run.

Its "pre-training" is fitted on the run's own training texts: the vocabulary and the idf are part of the run's
preprocessing (tasks/tfidf.py), which the builder reads for the width of its features. The module itself has no
weights: its input is the TF-IDF rows, and it hands them on to the head (a linear probe on them is logistic
regression on TF-IDF).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from headstart.errors import HeadstartError
from headstart.models.registry import FITTED, ModelSpec, WeightsSource, register_model

MAX_FEATURES = 20_000  # the most frequent terms kept (see docs/benchmarks.md, "Long documents")


class TfidfFeatures(nn.Module):
    """``{"tfidf": rows}`` -> the same rows (N x vocabulary), the features a head is fitted on."""

    # The linear probe's options for these features: logistic regression with scikit-learn's default C on the rows as
    # they are (unit length), the classical recipe. Measured through headstart on the convention speeches (3 seeds,
    # 8/16/32 per class): 88.3/87.2/91.7% against 85.0/91.1/79.4% for the pre-trained features' recipe (C chosen by
    # cross-validation on RMS-scaled square roots), whose C swung from one draw to the next.
    probe_defaults: ClassVar[dict[str, float]] = {"C": 1.0, "scale": 1.0, "power": 1.0}

    cache_features = False  # 20,000 wide and mostly zeros: computing them again is cheaper than the disk they'd take

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return inputs["tfidf"]

    def layer_groups(self) -> list[list[str]]:
        return []  # nothing to unfreeze


def build_tfidf(spec: ModelSpec, pretrained: bool = True, keep_source_head: bool = False) -> TfidfFeatures:
    size = spec.preprocessing.get("vocabulary_size")
    if not size:
        raise HeadstartError(f"the '{spec.name}' model is fitted on a run's training texts: train a run with it "
                             "(it has nothing to rank, embed or predict with before that)")
    return TfidfFeatures(int(size))


register_model(ModelSpec(
    name="tfidf", task="text", architecture="tfidf", builder=build_tfidf,
    weights=WeightsSource(FITTED, "on each run's training texts"),
    preprocessing={"encoding": "tfidf", "ngram_range": (1, 2), "sublinear_tf": True, "max_features": MAX_FEATURES},
    licence="none (fitted on your data)",
    description=f"TF-IDF of words and word pairs (the {MAX_FEATURES:,} most frequent), fitted on the run's training "
                "texts: the classical baseline, no pre-training",
))
