"""TF-IDF of words and word pairs: fitted with scikit-learn on a run's training texts, saved as one JSON file, and
computed again from that file without scikit-learn (an exported model's deployment).

scikit-learn's ``TfidfVectorizer`` fits the vocabulary and the idf, and computes the rows while a run trains and
predicts. A deployment has no scikit-learn (serving needs numpy and ONNX Runtime only), so ``tfidf_rows`` computes the
same rows from the saved file: the default analyser (lower-cased, tokens of two or more word characters, word n-grams),
sublinear term frequency, idf, rows of unit length; tested equal to scikit-learn's on real texts.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from headstart.digests import digest
from headstart.errors import HeadstartError
from headstart.files import write_text

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default
FORMAT = 1


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """A fitted TF-IDF: the terms in column order, their idf, and the analyser's settings. Its ``str`` is its
    digest, so a preprocessing record holding it keys the feature cache on its content."""

    terms: list[str]
    idf: np.ndarray
    ngram_range: tuple[int, int] = (1, 2)
    sublinear_tf: bool = True

    @cached_property
    def digest(self) -> str:
        return digest("tfidf-vocabulary", json.dumps(self.to_record(), ensure_ascii=False))

    def __str__(self) -> str:
        return f"tfidf-vocabulary-{self.digest}"

    __repr__ = __str__

    @classmethod
    def fit(cls, texts: Sequence[str], ngram_range: tuple[int, int] = (1, 2), sublinear_tf: bool = True,
            max_features: int | None = None) -> Vocabulary:
        """scikit-learn's fit on ``texts`` (the ``max_features`` most frequent terms)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=tuple(ngram_range), sublinear_tf=sublinear_tf,
                                     max_features=max_features, token_pattern=TOKEN_PATTERN)
        try:
            vectorizer.fit([str(t) for t in texts])
        except ValueError as exc:  # "empty vocabulary; perhaps the documents only contain stop words"
            raise HeadstartError("the training texts have no word of two letters or more for TF-IDF; use a "
                                 "pre-trained text model (--model minilm-l6)") from exc
        terms = [""] * len(vectorizer.vocabulary_)
        for term, column in vectorizer.vocabulary_.items():
            terms[column] = term
        return cls(terms, np.asarray(vectorizer.idf_, np.float64), tuple(ngram_range), sublinear_tf)

    def to_record(self) -> dict[str, Any]:
        return {"format": FORMAT, "ngram_range": list(self.ngram_range), "sublinear_tf": self.sublinear_tf,
                "token_pattern": TOKEN_PATTERN, "lowercase": True, "norm": "l2", "terms": self.terms,
                "idf": self.idf.tolist()}

    def save(self, path: Path) -> None:
        write_text(path, json.dumps(self.to_record(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path, expected: str | None = None) -> Vocabulary:
        """The vocabulary saved at ``path``; with ``expected`` (a digest), refused unless it is that one."""
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
            if record.get("format") != FORMAT or record.get("token_pattern") != TOKEN_PATTERN:
                raise ValueError(f"format {record.get('format')}")
            vocabulary = cls(list(record["terms"]), np.asarray(record["idf"], np.float64),
                             tuple(record["ngram_range"]), bool(record["sublinear_tf"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HeadstartError(f"cannot read the TF-IDF vocabulary {path} ({exc}); train or export the run "
                                 "again") from exc
        if expected is not None and vocabulary.digest != expected:
            raise HeadstartError(f"{path} is not the vocabulary this model was fitted with (another run's?); "
                                 "export or save the run again")
        return vocabulary

    @cached_property
    def vectorizer(self):
        """scikit-learn's vectorizer with this vocabulary and idf (what training and predicting run)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=self.ngram_range, sublinear_tf=self.sublinear_tf,
                                     token_pattern=TOKEN_PATTERN, vocabulary=self.terms)
        vectorizer.idf_ = self.idf
        return vectorizer

    @cached_property
    def columns(self) -> dict[str, int]:
        """Each term's column (built once: serving computes rows batch after batch)."""
        return {term: i for i, term in enumerate(self.terms)}

    def rows(self, texts: Sequence[str]) -> np.ndarray:
        """The TF-IDF rows of ``texts`` (float32, one per text), computed as scikit-learn does, without it."""
        return tfidf_rows(texts, self.columns, self.idf, self.ngram_range, self.sublinear_tf)


def tfidf_rows(texts: Sequence[str], columns: dict[str, int], idf: np.ndarray, ngram_range: Sequence[int],
               sublinear_tf: bool) -> np.ndarray:
    """scikit-learn's ``TfidfVectorizer.transform`` for its default analyser, written out in numpy (why: a
    deployment of an exported model runs without scikit-learn)."""
    pattern = re.compile(TOKEN_PATTERN)
    low, high = int(ngram_range[0]), int(ngram_range[1])
    out = np.zeros((len(texts), len(idf)), np.float64)
    for row, text in enumerate(texts):
        tokens = pattern.findall(str(text).lower())
        counts: Counter[int] = Counter()
        for n in range(low, high + 1):
            for start in range(len(tokens) - n + 1):
                column = columns.get(tokens[start] if n == 1 else " ".join(tokens[start:start + n]))
                if column is not None:
                    counts[column] += 1
        for column, count in counts.items():
            out[row, column] = (1.0 + math.log(count) if sublinear_tf else count) * idf[column]
        norm = np.sqrt(np.square(out[row]).sum())
        if norm > 0:
            out[row] /= norm
    return out.astype(np.float32)
