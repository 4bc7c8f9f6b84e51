"""Running an exported ONNX model with ONNX Runtime: what ``headstart predict --runtime onnx`` and ``headstart
serve`` use. Classification imports neither torch nor transformers (numpy, Pillow, ONNX Runtime and the
``tokenizers`` library only): a deployment does not need them. Detection's box decoding still uses torch."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.compute.cores import usable_cores
from headstart.errors import HeadstartError
from headstart.evaluation.rows import (
    class_csv,
    class_table,
    label_set_csv,
    label_set_rows,
    label_set_table,
    label_sets,
    top_k_rows,
)
from headstart.onnx import default_export_path, meta_path_for, ort_session
from headstart.progress import Reporter
from headstart.rundir import read_config

PREDICT_CHUNK = 512

BATCH = 32
# Windows of long texts sent to the graph at once: 32 long texts of 15 windows each would be 480 rows of 256 tokens
# (attention scores alone about 1.5 GB for MiniLM); 64 rows keep a call near what a batch of short texts costs.
WINDOW_BUDGET = 64


def chw_uint8(image) -> np.ndarray:
    """An RGB PIL image as a 3 x H x W uint8 array (the exported graph's input)."""
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


class OnnxModel:
    """An exported ONNX file and its ``.json`` description: ``predict_proba(items)`` like a classifier's."""

    def __init__(self, path: str | Path, engine: str = "onnxruntime") -> None:
        self.path = Path(path)
        meta_path = meta_path_for(self.path)
        if not self.path.is_file() or not meta_path.is_file():
            raise HeadstartError(f"{self.path} or {meta_path.name} is missing; run `headstart export RUN` first")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.classes_ = np.asarray(self.meta["classes"])
        self.task = self.meta["task"]
        # A multi-label export's per-label thresholds: a label is predicted from its threshold up.
        thresholds = self.meta.get("thresholds")
        self.thresholds_ = None if thresholds is None else np.asarray([thresholds[c] for c in self.meta["classes"]])
        self.engine = pick_engine(engine)
        self.session = ort_session(self.path) if self.engine == "onnxruntime" else OpenVinoSession(self.path)
        self._tokenizer = None
        self._vocabulary = None

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(items), len(self.classes_)), np.float32)
        for indices, feeds in self.feeds(list(items)):
            out[indices] = self.session.run(["probabilities"], feeds)[0]
        return out

    def predict(self, items: Sequence[Any]) -> np.ndarray:
        """Each input's class, or (multi-label) its label set as a tuple."""
        proba = self.predict_proba(items)
        if self.thresholds_ is None:
            return self.classes_[proba.argmax(axis=1)]
        return label_sets(proba, self.classes_, self.thresholds_)

    def prediction_rows(self, items: Sequence[Any], top_k: int = 3, conf: float | None = None,
                        unknown: bool = True) -> list[dict]:
        return self.rows(items, self.predict_proba(list(items)), top_k)

    def rows(self, names: Sequence[Any], proba: np.ndarray, top_k: int = 3) -> list[dict]:
        """Prediction rows for inputs called ``names`` from their probabilities: a class and the top-k, or
        (multi-label) a label set."""
        if self.thresholds_ is None:
            return top_k_rows(names, proba, self.classes_, top_k)
        return label_set_rows(names, proba, self.classes_, self.thresholds_, top_k)

    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        return class_table(rows) if self.thresholds_ is None else label_set_table(rows)

    def prediction_csv(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        return class_csv(rows) if self.thresholds_ is None else label_set_csv(rows)

    @property
    def reads_text(self) -> bool:
        return "input_ids" in self.meta["inputs"] or "tfidf" in self.meta["inputs"]

    def expand_inputs(self, inputs: Sequence[str]) -> list[Any]:
        """What a user typed (files, folders, globs; texts, @FILE, -) as this file's inputs."""
        if self.reads_text:
            from headstart.data.texts import read_texts

            return read_texts(list(inputs))
        from headstart.data.images import expand_image_inputs

        return expand_image_inputs(list(inputs))

    def feeds(self, items: list[Any]):
        """(indices into ``items``, the graph's inputs for them) batch by batch; images are grouped by size. What
        to feed is read from the file's own description (token ids, or images), as any other user of it would."""
        if self.reads_text:
            encode = self._tfidf_feeds if "tfidf" in self.meta["inputs"] else self._text_feeds
            for start in range(0, len(items), BATCH):
                chunk = [str(t) for t in items[start : start + BATCH]]
                for indices, feeds in encode(chunk):
                    yield [start + i for i in indices], feeds
            return
        from headstart.data.images import load_image

        by_size: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = defaultdict(list)
        window = self.meta.get("preprocessing", {}).get("dicom_window")  # DICOM files, as the run read them
        for index, item in enumerate(items):
            array = chw_uint8(load_image(item, window=window))
            by_size[array.shape].append((index, array))
        for group in by_size.values():
            for start in range(0, len(group), BATCH):
                chunk = group[start : start + BATCH]
                yield [i for i, _ in chunk], {"images": np.stack([a for _, a in chunk])}

    def read_text_encoding(self) -> None:
        """Read what turns texts into the graph's inputs (the tokenizer, or the TF-IDF vocabulary) now: a server
        fails at start, not at its first request, when it is missing."""
        if "tfidf" in self.meta["inputs"]:
            self.vocabulary()
        else:
            self.tokenizer()

    def vocabulary(self):
        """The TF-IDF vocabulary file beside the exported one (checked: the one it was exported with)."""
        if self._vocabulary is None:
            from headstart.data.tfidf import Vocabulary

            self._vocabulary = Vocabulary.load(self.path.parent / self.meta["vocabulary"],
                                               self.meta.get("vocabulary_digest"))
        return self._vocabulary

    def _tfidf_feeds(self, texts: list[str]):
        """The TF-IDF rows of ``texts``, computed without scikit-learn: (indices into ``texts``, feeds)."""
        yield list(range(len(texts))), {"tfidf": self.vocabulary().rows(texts)}

    def _text_feeds(self, texts: list[str]):
        """(indices into ``texts``, feeds): token ids and mask, one row per text; where the file reads long texts in
        windows, one row per window (the tokenizer's overflowing windows, as transformers makes them) and
        ``window_document`` saying whose, at most ``WINDOW_BUDGET`` windows a call (a text of more: alone)."""
        tokenizer = self.tokenizer()
        encoded = tokenizer.encode_batch(texts)
        if "window_document" not in self.meta["inputs"]:
            yield list(range(len(texts))), {"input_ids": np.asarray([e.ids for e in encoded], np.int64),
                                            "attention_mask": np.asarray([e.attention_mask for e in encoded], np.int64)}
            return
        group: list[int] = []
        windows = 0  # in the group
        for text, e in enumerate(encoded):
            if group and windows + 1 + len(e.overflowing) > WINDOW_BUDGET:
                yield group, self._window_feeds(tokenizer, [encoded[i] for i in group])
                group, windows = [], 0
            group.append(text)
            windows += 1 + len(e.overflowing)
        yield group, self._window_feeds(tokenizer, [encoded[i] for i in group])

    @staticmethod
    def _window_feeds(tokenizer, encoded: list) -> dict[str, np.ndarray]:
        rows = [(text, window) for text, e in enumerate(encoded) for window in (e, *e.overflowing)]
        width = max(len(window.ids) for _, window in rows)
        ids = np.full((len(rows), width), tokenizer.padding["pad_id"], np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for row, (_, window) in enumerate(rows):
            ids[row, : len(window.ids)] = window.ids
            mask[row, : len(window.ids)] = window.attention_mask
        return {"input_ids": ids, "attention_mask": mask,
                "window_document": np.asarray([text for text, _ in rows], np.int64)}

    def tokenizer(self):
        """The exported tokenizer as the ``tokenizers`` library reads it (what transformers' fast tokenizers run
        on, without importing transformers): cut at the run's ``max_length`` (in windows sharing
        ``window_overlap`` tokens, where the file reads long texts so), padded to the longest of a batch."""
        if self._tokenizer is None:
            preprocessing = self.meta["preprocessing"]
            self._tokenizer = exported_tokenizer(self.path.parent / preprocessing["tokenizer"],
                                                 int(preprocessing["max_length"]),
                                                 int(preprocessing.get("window_overlap", 0)))
        return self._tokenizer


def exported_tokenizer(folder: Path, max_length: int, overlap: int = 0):
    """``folder``'s tokenizer.json set to encode as transformers' ``tokenizer(texts, padding=True,
    truncation=True, max_length=max_length, stride=overlap)`` does (its settings from tokenizer_config.json)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except Exception as exc:  # the tokenizers library raises a bare Exception for a missing or damaged file
        raise HeadstartError(f"cannot read the exported tokenizer in {folder} ({exc}); export the run again") from exc
    pad_token = config.get("pad_token") or "[PAD]"
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise HeadstartError(f"the exported tokenizer in {folder} has no padding token {pad_token!r}; export the run "
                             "again")
    tokenizer.enable_truncation(max_length, stride=overlap, direction=config.get("truncation_side", "right"))
    tokenizer.enable_padding(direction=config.get("padding_side", "right"), pad_id=pad_id, pad_token=pad_token,
                             pad_type_id=int(config.get("pad_token_type_id", 0)))
    return tokenizer


class OnnxDetector:
    """An exported detection file in ONNX Runtime: ``predict(items)`` gives what ``ObjectDetector.predict`` does
    (letterboxing, per-class NMS and the way back to image pixels are done here, around the graph)."""

    def __init__(self, path: str | Path, engine: str = "onnxruntime") -> None:
        self.model = OnnxModel(path, engine)
        self.meta, self.engine = self.model.meta, self.model.engine
        meta = self.meta
        self.task = self.model.task
        self.classes_ = self.model.classes_
        self.side, self.conf, self.iou = int(meta["input_side"]), float(meta["conf"]), float(meta["iou"])

    def predict(self, items: Sequence[Any], conf: float | None = None) -> list:
        import torch

        from headstart.data.images import load_image
        from headstart.detection.boxes import detect_images

        def rows_of(batch: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(self.model.session.run(["rows"], {"images": batch.numpy()})[0])

        found = []
        for start in range(0, len(items), BATCH):
            images = [load_image(item) for item in items[start : start + BATCH]]
            found += detect_images(images, self.side, rows_of, self.conf if conf is None else conf, self.iou)
        return found

    def prediction_rows(self, items: Sequence[Any], top_k: int = 3, conf: float | None = None,
                        unknown: bool = True) -> list[dict]:
        from headstart.detection.boxes import detection_rows

        return detection_rows(list(items), self.predict(list(items), conf=conf), self.classes_.tolist())

    def expand_inputs(self, inputs: Sequence[str]) -> list[Any]:
        return self.model.expand_inputs(inputs)

    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        from headstart.tasks import get_task

        return get_task(self.task).prediction_table(rows)

    def prediction_csv(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        from headstart.tasks import get_task

        return get_task(self.task).prediction_csv(rows)


ENGINES = ("auto", "openvino", "onnxruntime")


def pick_engine(engine: str) -> str:
    """``engine`` itself, or for ``auto`` OpenVINO where it is installed (fp32, about 1.2x ONNX Runtime's rate for
    one image and 1.5x for a batch of 8 on 2 EPYC cores: bench/serve_load.py), else ONNX Runtime."""
    if engine not in ENGINES:
        raise HeadstartError(f"unknown --engine '{engine}'; use {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "onnxruntime"
    return "openvino"


class OpenVinoSession:
    """An ONNX file compiled by OpenVINO for the CPU (fp32, one stream on every core), answering ``run(outputs,
    feeds)`` as an ONNX Runtime session does."""

    def __init__(self, path: Path) -> None:
        import openvino

        core = openvino.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
                  "INFERENCE_NUM_THREADS": usable_cores()}
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()  # one infer request: one call at a time

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self.lock:
            results = self.request.infer(feeds)
            return [np.array(results[self.compiled.output(name)]) for name in outputs]  # copies: it reuses them


def open_exported(path: str | Path, engine: str = "onnxruntime") -> OnnxModel | OnnxDetector:
    """The exported file in ONNX Runtime, wrapped by what its description says it outputs: class probabilities,
    or decoded box rows (which need NMS around the graph)."""
    meta_path = meta_path_for(Path(path))
    if not meta_path.is_file():
        raise HeadstartError(f"{meta_path} is missing; run `headstart export RUN` again")
    outputs = json.loads(meta_path.read_text(encoding="utf-8")).get("outputs", {})
    return OnnxDetector(path, engine) if "rows" in outputs else OnnxModel(path, engine)


def exported_run(run: str | Path, engine: str = "onnxruntime") -> OnnxModel | OnnxDetector | None:
    """The run's exported ONNX file in ONNX Runtime, or None when it has not been exported yet (exporting needs
    torch: ``headstart.api.load_predictor`` does it)."""
    read_config(run)  # a clear error for a folder that is not a run
    path = default_export_path(Path(run).expanduser(), "onnx")
    return open_exported(path, engine) if path.is_file() else None


def prediction_chunks(predictor: Any, items: list[Any], top_k: int = 3, chunk: int = PREDICT_CHUNK,
                      verbose: bool = False, conf: float | None = None, unknown: bool = True):
    """``predictor``'s rows for ``items``, one list per ``chunk`` inputs: only one chunk is in memory at a time."""
    starts = range(0, len(items), chunk)
    if hasattr(predictor, "verbose"):
        predictor.verbose = verbose and len(starts) == 1  # one bar: per batch for one chunk, else per chunk
    for start in Reporter(verbose).track(starts, len(starts), f"predicting {len(items)} inputs"):
        yield predictor.prediction_rows(items[start : start + chunk], top_k=top_k, conf=conf, unknown=unknown)
