"""The ``tfidf`` text model's input encoding (models/tfidf.py): its vocabulary fitted on the run's training texts,
kept in one file (in the cache while the run is fitted, in the run folder once saved, beside an exported file),
and the TF-IDF rows of a batch of texts computed from it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.data.tfidf import Vocabulary
from headstart.digests import digest
from headstart.errors import HeadstartError
from headstart.models.registry import ModelSpec, get_model_spec
from headstart.paths import cache_root
from headstart.tasks.text_batches import TextBatches, target_tensor

ENCODING = "tfidf"
VOCABULARY_FILE = "tfidf.json"  # in a run folder, and beside an exported file


def encodes_tfidf(preprocessing: dict) -> bool:
    return preprocessing.get("encoding") == ENCODING


def fitted_preprocessing(spec: ModelSpec, params: dict[str, Any], items: Sequence[Any] | None) -> dict:
    """The vocabulary fitted on the training ``items``, written under the cache (named by its digest, so the feature
    cache keys on its content), and the record that points to it."""
    for option in ("max_length", "long_text"):
        if params.get(option) is not None:
            flag = "--" + option.replace("_", "-")
            raise HeadstartError(f"{flag} does not apply to the {spec.name} model (it reads whole texts); leave it out")
    if items is None:
        raise HeadstartError(f"the '{spec.name}' model is fitted on a run's training texts: train a run with it")
    vocabulary = Vocabulary.fit([str(t) for t in items], **tfidf_settings(spec))
    record = vocabulary.to_record()
    key = digest("tfidf-vocabulary", repr(sorted(record.items())))
    path = cache_root() / "tfidf" / f"{key}.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        vocabulary.save(path)
    return {"encoding": ENCODING, "vocabulary": str(path), "vocabulary_digest": key,
            "vocabulary_size": len(vocabulary.terms)}


def tfidf_settings(spec: ModelSpec | None = None) -> dict[str, Any]:
    """How ``spec`` (default: the registered ``tfidf`` model) fits its vocabulary: ``Vocabulary.fit``'s options."""
    settings = (spec or get_model_spec(ENCODING)).preprocessing
    return {"ngram_range": tuple(settings["ngram_range"]), "sublinear_tf": settings["sublinear_tf"],
            "max_features": settings.get("max_features")}


@lru_cache(maxsize=4)
def vocabulary_at(path: str) -> Vocabulary:
    return Vocabulary.load(path)


@lru_cache(maxsize=4)
def vectorizer_at(path: str):
    return vocabulary_at(path).vectorizer()


class TfidfDataset(TextBatches):
    """Texts with their targets; ``collate_fn`` gives a batch's TF-IDF rows (scikit-learn's transform)."""

    def __init__(self, texts: Sequence[str], targets: Sequence[Any] | None, vocabulary: str) -> None:
        super().__init__(texts, targets)
        self.vectorizer = vectorizer_at(vocabulary)

    def collate_fn(self, batch: list[tuple[str, Any]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts, targets = zip(*batch, strict=True)
        rows = self.vectorizer.transform(list(texts)).toarray().astype(np.float32)
        return {"tfidf": torch.from_numpy(rows)}, target_tensor(targets)


def save_vocabulary(preprocessing: dict, folder: Path) -> dict:
    """Copy the vocabulary into ``folder``; the record with its new place (relative to ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / VOCABULARY_FILE
    if not target.exists() or not target.samefile(preprocessing["vocabulary"]):  # an export into the run folder
        shutil.copyfile(preprocessing["vocabulary"], target)
    return {**preprocessing, "vocabulary": VOCABULARY_FILE}


def load_vocabulary(preprocessing: dict, run_dir: Path) -> dict:
    path = run_dir / VOCABULARY_FILE
    if not path.is_file():
        raise HeadstartError(f"{path} is missing: this TF-IDF run is incomplete; train it again")
    return {**preprocessing, "vocabulary": str(path)}

