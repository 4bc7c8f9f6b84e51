"""Text classification: CSV/TSV/JSONL files and named datasets; tokenisation from the model's own tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from headstart.data.dataset import DataSplits, LabeledData, Unlabeled
from headstart.data.encoding import decode_table
from headstart.data.images import PATH_COLUMNS
from headstart.data.pools import read_text_pool
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.data.texts import TEXT_COLUMNS, read_text_file, read_texts
from headstart.data.tfidf import Vocabulary
from headstart.digests import digest
from headstart.errors import HeadstartError
from headstart.files import user_path
from headstart.models.hf_text import model_folder
from headstart.models.registry import ModelSpec, WeightsSource
from headstart.progress import Reporter
from headstart.tasks.base import ExportGraph, register_task
from headstart.tasks.classification import ClassificationTask
from headstart.tasks.text_batches import TextBatches, target_tensor
from headstart.tasks.tfidf import (
    VOCABULARY_FILE,
    TfidfDataset,
    encodes_tfidf,
    fitted_preprocessing,
    load_vocabulary,
    save_vocabulary,
    tfidf_settings,
    vocabulary_of,
)

ENCODER_DIR = "encoder"
SAMPLE_FILE = Path(__file__).resolve().parent.parent / "data" / "sample" / "rotten-tomatoes.csv"


@lru_cache(maxsize=4)
def tokenizer_for(folder: str):
    from headstart.models.hf_text import load_tokenizer

    return load_tokenizer(folder)


EXPORT_TOKENIZER_DIR = "tokenizer"  # beside an exported file


LONG_TEXT_MODES = ("windows", "truncate")
DEFAULT_LONG_TEXT = "windows"
# Windows a training batch keeps for the backward pass: a MiniLM window of 256 tokens holds about 115 MB of
# activations in fp32 training (measured: 32 windows 3.7 GB, 8 windows 1.0 GB), so 32 of them: a batch of 32 long texts
# trains on one window of each, 8 texts share 32 (drawn at random each time, as random crops of an image; one per text
# where a batch holds more than 32 texts); extraction and prediction read every window.
TRAIN_WINDOWS = 32


def window_overlap(max_length: int) -> int:
    """Tokens two neighbouring windows share: an eighth of the window (32 of 256), so a sentence cut at a window's
    end is read whole in the next one at little extra cost."""
    return max(1, max_length // 8)


def check_long_text(mode: str | None) -> str:
    """``--long-text``: windows (None: the default) or truncate."""
    mode = DEFAULT_LONG_TEXT if mode is None else str(mode).strip().lower()
    if mode not in LONG_TEXT_MODES:
        raise HeadstartError(f"--long-text must be windows or truncate, not '{mode}'")
    return mode


def reads_windows(preprocessing: dict) -> bool:
    """Whether a run reads long texts in windows (runs saved before ``long_text`` existed truncated them)."""
    return preprocessing.get("long_text", "truncate") == "windows"


class TextDataset(TextBatches):
    """Texts with their targets; batches are tokenised and padded to their longest text by ``collate_fn``. With
    ``windows``, a text longer than ``max_length`` tokens becomes overlapping windows of ``max_length`` tokens, and
    the batch says which text each window is of (``window_document``, for the encoder's pooling); otherwise its end
    is cut."""

    def __init__(self, texts: Sequence[str], targets: Sequence[int] | None, tokenizer, max_length: int,
                 windows: bool = False, overlap: int | None = None, train_windows: int | None = None) -> None:
        super().__init__(texts, targets)
        self.train_windows = train_windows  # training: at most this many windows per batch, shared by its texts
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.windows = windows
        self.overlap = window_overlap(max_length) if overlap is None else overlap
        if windows and not getattr(tokenizer, "is_fast", False):
            raise HeadstartError("reading long texts in windows needs a fast tokenizer (tokenizer.json); this model "
                                 "has none: pass --long-text truncate")

    def _window_options(self) -> dict[str, Any]:
        if not self.windows:
            return {}
        return {"return_overflowing_tokens": True, "stride": self.overlap}

    def collate_fn(self, batch: list[tuple[str, int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts, targets = zip(*batch, strict=True)
        encoded = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt",
            **self._window_options(),
        )
        inputs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if self.windows:
            inputs["window_document"] = encoded["overflow_to_sample_mapping"].long()
            if self.train_windows is not None:
                inputs = self._drawn_windows(inputs, self.train_windows)
        return inputs, target_tensor(targets)

    @staticmethod
    def _drawn_windows(inputs: dict[str, torch.Tensor], budget: int) -> dict[str, torch.Tensor]:
        """At most ``budget`` windows in all (one per text where the batch holds more texts), shared by the texts:
        each keeps its windows up to a common cap, the largest the budget allows, drawn at random (kept in order).
        What a training step keeps in memory for the backward pass stays bounded however long the texts are."""
        document = inputs["window_document"]
        counts = torch.bincount(document)
        per_text = 1
        while per_text < int(counts.max()) and int(counts.clamp(max=per_text + 1).sum()) <= budget:
            per_text += 1
        keep = []
        for text in range(int(document.max()) + 1):
            rows = torch.nonzero(document == text).flatten()
            if len(rows) > per_text:
                rows = rows[torch.randperm(len(rows))[:per_text].sort().values]
            keep.append(rows)
        rows = torch.cat(keep)
        return {name: value[rows] for name, value in inputs.items()}

    def count_truncated(self) -> int:
        """How many texts are longer than ``max_length`` tokens (their end is not seen by the model).

        Cut at one token more than ``max_length``: enough to tell, and with a ``max_length`` given the tokenizer does
        not log its "Token indices sequence length is longer than ..." warning for texts longer than the model's
        limit (headstart counts them in its own warning instead).
        """
        lengths = self.tokenizer(
            list(self.texts), truncation=True, max_length=self.max_length + 1, add_special_tokens=True
        )["input_ids"]
        return sum(len(ids) > self.max_length for ids in lengths)

    def window_counts(self) -> np.ndarray:
        """How many windows each text makes (more than one: it is longer than ``max_length`` tokens), for a dataset
        that reads them in windows."""
        mapping = self.tokenizer(list(self.texts), truncation=True, max_length=self.max_length,
                                 **self._window_options())["overflow_to_sample_mapping"]
        return np.bincount(np.asarray(mapping, dtype=np.int64), minlength=len(self.texts))


class TextTask(ClassificationTask):
    name = "text"
    title = "text classification"
    default_model = "minilm-l6"
    named_data = ("text-sample", "rotten-tomatoes")
    read_options = ("per_class", "test_per_class", "text_column", "label_column")
    # On Rotten Tomatoes contrastive scores 3 points above the linear probe at 8 and 16 reviews per class, and at 64
    # 6 points above head and 9 above fine-tune.
    few_shot_strategy = "contrastive"
    adapting_strategies = ("contrastive", "head")

    def read(
        self,
        source: str | Path,
        per_class: int | None = None,
        test_per_class: int | None = None,
        seed: int = 0,
        text_column: str | None = None,
        label_column: str | None = None,
    ) -> DataSplits:
        """A .csv/.tsv/.jsonl file, ``text-sample`` (reviews shipped with headstart) or ``rotten-tomatoes``."""
        text = str(source)
        if text == "rotten-tomatoes":
            return load_rotten_tomatoes(per_class=per_class, test_per_class=test_per_class, seed=seed)
        path = SAMPLE_FILE if text == "text-sample" else user_path(text)
        if path.is_dir():
            raise HeadstartError(f"{path} is a folder; text data is one .csv, .tsv or .jsonl file")
        splits = read_text_file(path, text_column, label_column, multi_label=self.multi_label)
        return self.subsample(splits, per_class, test_per_class, seed)

    def plain_probe_knobs(self, spec: ModelSpec) -> dict[str, Any]:
        return {"max_length": None}  # the run's own reading of long texts (windows or truncate) is kept

    def preprocessing(self, spec: ModelSpec, params: dict[str, Any], items: Sequence[Any] | None = None) -> dict:
        """The model's tokenizer and window (``max_length``), and how texts longer than it are read (``long_text``:
        windows, the default, or truncate; a run saved before this option truncated). The ``tfidf`` model's instead:
        its vocabulary, fitted on the training ``items``."""
        if encodes_tfidf(spec.preprocessing):
            return fitted_preprocessing(spec, params, items)
        result = {**spec.preprocessing, "tokenizer": model_folder(spec)}
        if params.get("max_length"):
            result["max_length"] = int(params["max_length"])
        result["long_text"] = check_long_text(params.get("long_text"))
        if result["long_text"] == "windows":  # saved, so a run reads as it was trained whatever the default becomes
            result["window_overlap"] = window_overlap(int(result["max_length"]))
        return result

    def save_assets(self, model: Any, preprocessing: dict, run_dir: Path) -> dict:
        """Save the tokenizer and the architecture's config (not its weights) in ``run_dir/encoder``; or the
        TF-IDF vocabulary."""
        if encodes_tfidf(preprocessing):
            return save_vocabulary(preprocessing, run_dir / VOCABULARY_FILE)
        target = run_dir / ENCODER_DIR
        tokenizer_for(str(preprocessing["tokenizer"])).save_pretrained(target)
        model.backbone.model.config.save_pretrained(target)
        return {**preprocessing, "tokenizer": ENCODER_DIR}

    def load_assets(self, spec: ModelSpec, preprocessing: dict, run_dir: Path) -> tuple[ModelSpec, dict]:
        if encodes_tfidf(preprocessing):
            return spec, load_vocabulary(preprocessing, run_dir)
        folder = run_dir / ENCODER_DIR
        if not (folder / "config.json").is_file():
            raise HeadstartError(f"{folder} is missing: this text run is incomplete; train it again")
        return spec.with_weights(WeightsSource("file", str(folder))), {**preprocessing, "tokenizer": str(folder)}

    def input_warnings(self, record: dict | None) -> list[str]:
        if record is None or record["long_text"] != "truncate":
            return []  # read whole, in windows: the summary's inputs record says how many
        message = (
            f"{record['longer']} of {record['texts']} training texts are longer than {record['max_length']} tokens "
            "and were truncated (--long-text windows reads them whole)"
        )
        return [message]

    def inputs_record(self, items: Sequence[Any], preprocessing: dict) -> dict | None:
        """How many training texts are longer than the window, and what was done with them (None: none is, or
        the model reads whole texts: TF-IDF)."""
        if encodes_tfidf(preprocessing):
            return None
        dataset = self.inputs_dataset(items, None, preprocessing, train=False)
        counts = dataset.window_counts() if dataset.windows else None  # one tokenisation gives both numbers
        longer = int((counts > 1).sum()) if counts is not None else dataset.count_truncated()
        if not longer:
            return None
        record = {"long_text": "windows" if dataset.windows else "truncate", "texts": len(items), "longer": longer,
                  "max_length": dataset.max_length}
        if counts is not None:
            record.update(windows=int(counts.sum()), overlap=dataset.overlap, pooling="mean")
        return record

    def inputs_sentence(self, record: dict) -> str:
        if record["long_text"] == "truncate":
            return f"{record['longer']} of {record['texts']} training texts cut at {record['max_length']} tokens"
        return (f"{record['longer']} of {record['texts']} training texts longer than {record['max_length']} tokens, "
                f"read whole: {record['windows']} windows in all ({record['overlap']} tokens shared by neighbours), "
                "their embeddings averaged per text")

    # The baseline is the tfidf model's linear probe: its TF-IDF rows (unit length), scikit-learn's default regression.
    baseline_standardised = False

    def baseline_features(self, train: LabeledData, test: LabeledData) -> tuple[str, Any, Any]:
        """TF-IDF of words and word pairs (fitted on the training texts, as the ``tfidf`` model fits it): the classical
        features to beat."""
        vectorizer = Vocabulary.fit(train.items, **tfidf_settings()).vectorizer
        return "TF-IDF + logistic regression", vectorizer.transform(train.items), vectorizer.transform(test.items)

    def inputs_dataset(
        self, items: Sequence[Any], targets: Sequence[int] | None, preprocessing: dict, train: bool
    ) -> Dataset:
        if encodes_tfidf(preprocessing):
            return TfidfDataset([str(t) for t in items], targets, vocabulary_of(preprocessing))
        tokenizer = tokenizer_for(str(preprocessing["tokenizer"]))
        return TextDataset([str(t) for t in items], targets, tokenizer, int(preprocessing.get("max_length", 256)),
                           windows=reads_windows(preprocessing), overlap=preprocessing.get("window_overlap"),
                           train_windows=TRAIN_WINDOWS if train else None)

    def profile(self, items: Sequence[Any]) -> dict:
        words = np.array([len(str(t).split()) for t in items]) if len(items) else np.zeros(1)
        return {"kind": "text", "texts": len(items),
                "words": {"min": int(words.min()), "median": float(np.median(words)), "max": int(words.max())}}

    def content_key(self, item: Any) -> str:
        return digest("text", str(item))

    def claims(self, data: str | Path) -> bool:
        """Named text sets, .jsonl/.tsv/.txt files, and CSV files whose header has a text column but no path one."""
        if super().claims(data):
            return True
        path = user_path(str(data))
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson", ".json", ".tsv", ".txt"):
            return True
        if suffix == ".csv" and path.is_file():
            with path.open("rb") as handle:
                head = handle.read(65_536)
            first = decode_table(head, path, replace=True)[0].splitlines()[:1]
            header = {h.strip().lower() for h in (first[0] if first else "").split(",")}
            return not header & set(PATH_COLUMNS) and bool(header & set(TEXT_COLUMNS))
        return False

    def export_graph(self, model: nn.Module, preprocessing: dict) -> ExportGraph:
        """Token ids and attention mask in (the tokenizer is saved beside the file), probabilities out; or, for the
        TF-IDF model, the TF-IDF rows in (computed from the vocabulary file saved beside it)."""
        from headstart.tasks.graphs import TextPipeline

        if encodes_tfidf(preprocessing):
            return self._tfidf_graph(model, preprocessing)
        tokenizer = tokenizer_for(str(preprocessing["tokenizer"]))
        encoded = tokenizer(["an example text", "a second, longer example text"], padding=True, return_tensors="pt")
        names = {"input_ids": "int64, N x T", "attention_mask": "int64, N x T (1 for tokens, 0 for padding)"}
        axes = {name: {0: "batch", 1: "tokens"} for name in names}
        example = (encoded["input_ids"], encoded["attention_mask"])
        max_length = int(preprocessing.get("max_length", 256))
        described = {"tokenizer": EXPORT_TOKENIZER_DIR, "max_length": max_length}
        if reads_windows(preprocessing):  # rows are windows; the texts they belong to, numbered from 0 in order
            names["window_document"] = "int64, N (the text each row is a window of: 0, 0, 1, 2, 2, ...)"
            axes["window_document"] = {0: "batch"}
            example = (*example, torch.tensor([0, 0], dtype=torch.long))
            described.update(long_text="windows",
                             window_overlap=int(preprocessing.get("window_overlap", window_overlap(max_length))))
        return ExportGraph(
            TextPipeline(model, self.output).eval(), example, names,
            {"probabilities": self.output_description + " (one row per text)"},
            {**axes, "probabilities": {0: "texts"}}, {"preprocessing": described},
        )

    def _tfidf_graph(self, model: nn.Module, preprocessing: dict) -> ExportGraph:
        from headstart.tasks.graphs import TfidfPipeline

        rows = vocabulary_of(preprocessing).rows(["an example text", "a second example text"])
        return ExportGraph(
            TfidfPipeline(model, self.output).eval(), (torch.from_numpy(rows),),
            {"tfidf": f"float32, N x {rows.shape[1]} (TF-IDF rows: headstart.data.tfidf from the vocabulary file)"},
            {"probabilities": self.output_description + " (one row per text)"},
            {"tfidf": {0: "texts"}, "probabilities": {0: "texts"}},
            {"preprocessing": {"encoding": "tfidf"}},
        )

    def export_assets(self, preprocessing: dict, path: Path) -> dict:
        """Beside the exported ``path``: the tokenizer (``tokenizer/``), or the TF-IDF vocabulary
        (``<name>.tfidf.json``, one per exported file: two runs exported into one folder keep their own)."""
        if encodes_tfidf(preprocessing):
            saved = save_vocabulary(preprocessing, path.with_name(f"{path.stem}.{VOCABULARY_FILE}"))
            return {"vocabulary": saved["vocabulary"], "vocabulary_digest": saved["vocabulary_digest"]}
        folder = path.parent
        tokenizer_for(str(preprocessing["tokenizer"])).save_pretrained(folder / EXPORT_TOKENIZER_DIR)
        return {}

    def expand_inputs(self, inputs: Sequence[str]) -> list[Any]:
        return read_texts(list(inputs))

    input_column = "text"

    def read_unlabeled(self, source: str | Path, text_column: str | None = None,
                       reporter: Reporter | None = None) -> Unlabeled:
        self.check_unlabeled()
        return read_text_pool(source, text_column)

    def table_cell(self, item: Any, name: str) -> str:
        return str(item)


register_task(TextTask())
