"""The ``tfidf`` text model's input encoding (models/tfidf.py): its vocabulary fitted on the run's training texts
and held in the run's preprocessing record (a ``Vocabulary``, whose text is its digest), written as one file in the
run folder when it is saved and beside an exported file; the TF-IDF rows of a batch of texts computed from it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.data.tfidf import Vocabulary
from headstart.errors import HeadstartError
from headstart.models.registry import ModelSpec, get_model_spec
from headstart.tasks.text_batches import TextBatches, target_tensor

ENCODING = "tfidf"
VOCABULARY_FILE = "tfidf.json"  # in a run folder; beside an exported file, ``<name>.tfidf.json``
IGNORED_OPTIONS = ("max_length", "long_text")  # how a token model reads long texts: TF-IDF reads them whole


def encodes_tfidf(preprocessing: dict) -> bool:
    return preprocessing.get("encoding") == ENCODING


def fitted_preprocessing(spec: ModelSpec, params: dict[str, Any], items: Sequence[Any] | None) -> dict:
    """The record of the vocabulary fitted on the training ``items`` (the ``Vocabulary`` itself, its digest and
    size)."""
    for option in IGNORED_OPTIONS:
        if params.get(option) is not None:
            flag = "--" + option.replace("_", "-")
            raise HeadstartError(f"{flag} does not apply to the {spec.name} model (it reads whole texts); leave it out")
    if items is None:
        raise HeadstartError(f"the '{spec.name}' model is fitted on a run's training texts: train a run with it")
    vocabulary = Vocabulary.fit([str(t) for t in items], **tfidf_settings(spec))
    return {"encoding": ENCODING, "vocabulary": vocabulary, "vocabulary_digest": vocabulary.digest,
            "vocabulary_size": len(vocabulary.terms)}


def tfidf_settings(spec: ModelSpec | None = None) -> dict[str, Any]:
    """How ``spec`` (default: the registered ``tfidf`` model) fits its vocabulary: ``Vocabulary.fit``'s options."""
    settings = (spec or get_model_spec(ENCODING)).preprocessing
    return {"ngram_range": tuple(settings["ngram_range"]), "sublinear_tf": settings["sublinear_tf"],
            "max_features": settings.get("max_features")}


def vocabulary_of(preprocessing: dict) -> Vocabulary:
    vocabulary = preprocessing["vocabulary"]
    if not isinstance(vocabulary, Vocabulary):
        raise HeadstartError(f"the TF-IDF vocabulary {vocabulary} is not loaded; load the run with headstart.load")
    return vocabulary


class TfidfDataset(TextBatches):
    """Texts with their targets; ``collate_fn`` gives a batch's TF-IDF rows (scikit-learn's transform)."""

    def __init__(self, texts: Sequence[str], targets: Sequence[Any] | None, vocabulary: Vocabulary) -> None:
        super().__init__(texts, targets)
        self.vectorizer = vocabulary.vectorizer

    def collate_fn(self, batch: list[tuple[str, Any]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts, targets = zip(*batch, strict=True)
        rows = self.vectorizer.transform(list(texts)).toarray().astype(np.float32)
        return {"tfidf": torch.from_numpy(rows)}, target_tensor(targets)


def save_vocabulary(preprocessing: dict, path: Path) -> dict:
    """Write the vocabulary to ``path``; the record as saved (the file's name, relative to its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vocabulary_of(preprocessing).save(path)
    return {**preprocessing, "vocabulary": path.name}


def load_vocabulary(preprocessing: dict, run_dir: Path) -> dict:
    """The saved record with its vocabulary read back (checked against the digest the run saved)."""
    path = run_dir / str(preprocessing["vocabulary"])
    if not path.is_file():
        raise HeadstartError(f"{path} is missing: this TF-IDF run is incomplete; train it again")
    return {**preprocessing, "vocabulary": Vocabulary.load(path, preprocessing.get("vocabulary_digest"))}
