"""Running an exported ONNX model with ONNX Runtime: what ``headstart predict --runtime onnx`` uses."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError
from headstart.estimators.base import meta_path_for
from headstart.evaluation.rows import label_set_rows, label_sets, top_k_rows
from headstart.onnx import ort_session

BATCH = 32


def chw_uint8(image) -> np.ndarray:
    """An RGB PIL image as a 3 x H x W uint8 array (the exported graph's input)."""
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


class OnnxModel:
    """An exported ONNX file and its ``.json`` description: ``predict_proba(items)`` like a classifier's."""

    def __init__(self, path: str | Path) -> None:
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
        self.session = ort_session(self.path)

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
        proba = self.predict_proba(list(items))
        if self.thresholds_ is None:
            return top_k_rows(items, proba, self.classes_, top_k)
        return label_set_rows(items, proba, self.classes_, self.thresholds_, top_k)

    def feeds(self, items: list[Any]):
        """(indices into ``items``, the graph's inputs for them) batch by batch; images are grouped by size. What
        to feed is read from the file's own description (token ids, or images), as any other user of it would."""
        if "input_ids" in self.meta["inputs"]:
            tokenizer = self._tokenizer()
            max_length = int(self.meta["preprocessing"]["max_length"])
            for start in range(0, len(items), BATCH):
                chunk = [str(t) for t in items[start : start + BATCH]]
                encoded = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
                feeds = {name: encoded[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
                yield list(range(start, start + len(chunk))), feeds
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

    def _tokenizer(self):
        from headstart.models.hf_text import load_tokenizer

        return load_tokenizer(str(self.path.parent / self.meta["preprocessing"]["tokenizer"]))


class OnnxDetector:
    """An exported detection file in ONNX Runtime: ``predict(items)`` gives what ``ObjectDetector.predict`` does
    (letterboxing, per-class NMS and the way back to image pixels are done here, around the graph)."""

    def __init__(self, path: str | Path) -> None:
        self.model = OnnxModel(path)
        meta = self.model.meta
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


def open_exported(path: str | Path) -> OnnxModel | OnnxDetector:
    """The exported file in ONNX Runtime, wrapped by what its description says it outputs: class probabilities,
    or decoded box rows (which need NMS around the graph)."""
    meta_path = meta_path_for(Path(path))
    if not meta_path.is_file():
        raise HeadstartError(f"{meta_path} is missing; run `headstart export RUN` again")
    outputs = json.loads(meta_path.read_text(encoding="utf-8")).get("outputs", {})
    return OnnxDetector(path) if "rows" in outputs else OnnxModel(path)
