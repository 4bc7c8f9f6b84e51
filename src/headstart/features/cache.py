"""A content-addressed, on-disk cache of extracted features.

An entry ("namespace") is keyed by everything that decides a feature vector: the backbone's exact weights (a
digest of its state dict, so a fine-tuned or re-initialised backbone never reads another's features), the
preprocessing, the precision and, for augmented views, the view and seed. Inside it each item is keyed by a digest
of its content (the file's bytes, the image's pixels, the text), so a second run over the same or an overlapping
dataset extracts only what it has not seen.

Items are written in shards as extraction goes: each shard is written to a temporary file and renamed into place,
so an interrupted extraction keeps the shards it finished and never leaves one that reads as complete.

Why by hand: the caches of the libraries we use key by dataset name and fingerprint a whole dataset (datasets) or
memoise function calls by their arguments (joblib.Memory), not by item content with a partial reuse of entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from headstart.compute.distributed import barrier, world
from headstart.compute.speed import Throughput
from headstart.digests import digest
from headstart.errors import HeadstartError
from headstart.features.extract import extraction_precision, iter_features
from headstart.files import write_json
from headstart.paths import feature_cache_dir
from headstart.progress import Reporter

CACHE_FORMAT = 1
META = "entry.json"
SHARD_ITEMS = 2048


def module_digest(module: nn.Module) -> str:
    """A digest of a module's class and every tensor of its state dict (names, dtypes, shapes, values)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One namespace of the cache: what its features were computed with, and how many items it holds."""

    key: str
    meta: dict[str, Any]
    items: int
    bytes: int


class FeatureCache:
    """Features on disk under ``root`` (default: ``$HEADSTART_FEATURE_CACHE`` or ``~/.cache/headstart/features``)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else feature_cache_dir()

    def namespace(self, backbone: nn.Module, preprocessing: dict, precision: str, view: int | None, seed: int) -> dict:
        """The description of an entry; its key is the digest of this description."""
        return {
            "format": CACHE_FORMAT, "backbone": type(backbone).__qualname__, "weights": module_digest(backbone),
            "preprocessing": json.loads(json.dumps(preprocessing, sort_keys=True, default=str)),
            "precision": precision, "view": view, "seed": seed if view is not None else None,
        }

    def _folder(self, meta: dict) -> Path:
        key = digest(json.dumps(meta, sort_keys=True))
        return self.root / key[:2] / key

    def load(self, meta: dict, keys: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """Features of the cached ``keys`` (rows of the missing ones are zeros) and a mask of the missing ones."""
        missing = np.ones(len(keys), bool)
        folder = self._folder(meta)
        wanted: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            wanted.setdefault(key, []).append(index)
        out: np.ndarray | None = None
        for shard_keys, shard_features in self._shards(folder, with_features=True):
            for row, key in enumerate(shard_keys):
                indices = wanted.pop(key, None)
                if indices is None:
                    continue
                if out is None:
                    out = np.zeros((len(keys), shard_features.shape[1]), np.float32)
                out[indices] = shard_features[row]
                missing[indices] = False
        return out, missing

    def missing(self, meta: dict, keys: Sequence[str]) -> np.ndarray:
        """A mask of the ``keys`` not cached, from the shards' keys alone (their features are not read)."""
        cached: set[str] = set()
        for shard_keys, _ in self._shards(self._folder(meta), with_features=False):
            cached.update(shard_keys.tolist())
        return np.asarray([key not in cached for key in keys], bool)

    @staticmethod
    def _shards(folder: Path, with_features: bool) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(keys, features or None) of each readable shard; a damaged one is skipped (the next store replaces it)."""
        for shard in sorted(folder.glob("shard-*.npz")) if folder.is_dir() else []:
            try:
                with np.load(shard, allow_pickle=False) as data:  # an npz reads each array only when asked
                    keys = data["keys"].astype(str)
                    features = data["features"] if with_features else None
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue
            yield keys, features

    def store(self, meta: dict, keys: Sequence[str], features: np.ndarray) -> None:
        """Add one shard; it appears whole or not at all."""
        folder = self._folder(meta)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / META).is_file():
                write_json(folder / META, meta)
            fd, tmp = tempfile.mkstemp(prefix=".shard-", suffix=".npz", dir=folder)
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, keys=np.asarray(keys, dtype="S40"), features=features.astype(np.float32))
            os.replace(tmp, folder / f"shard-{digest(*keys)}.npz")
        except OSError as exc:
            raise HeadstartError(
                f"cannot write the feature cache in {self.root} ({exc.strerror or exc}); free space there, set "
                "HEADSTART_FEATURE_CACHE to another folder, or pass cache=False (--no-cache)"
            ) from exc

    def entries(self) -> list[Entry]:
        found = []
        for meta_file in sorted(self.root.glob(f"*/*/{META}")):
            shards = list(meta_file.parent.glob("shard-*.npz"))
            items = 0
            for shard in shards:
                try:
                    with np.load(shard, allow_pickle=False) as data:
                        items += len(data["keys"])
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                    continue
            size = sum(f.stat().st_size for f in meta_file.parent.iterdir())
            found.append(Entry(meta_file.parent.name, json.loads(meta_file.read_text()), items, size))
        return found

    def clear(self) -> tuple[int, int]:
        """Remove every entry; returns how many there were and the bytes freed."""
        entries = self.entries()
        if self.root.is_dir():
            for child in self.root.iterdir():
                if child.is_dir() and len(child.name) == 2:
                    shutil.rmtree(child)
        return len(entries), sum(e.bytes for e in entries)


class SeededViews(Dataset):
    """Draws each item's random augmentation from a seed of its own, so that an augmented view depends on the item
    and the seed alone (not on which other items are extracted with it) and can be cached like a plain one."""

    def __init__(self, dataset: Dataset, seeds: Sequence[int]) -> None:
        self.dataset = dataset
        self.seeds = seeds
        self.collate_fn = getattr(dataset, "collate_fn", None)

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int):
        seed = int(self.seeds[index])
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        return self.dataset[index]


class Rows(Dataset):
    """The rows ``indices`` of a dataset, keeping its ``collate_fn``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.collate_fn = getattr(dataset, "collate_fn", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[self.indices[index]]


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's random state on exit."""
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


def cached_features(
    backbone: nn.Module,
    dataset: Dataset,
    keys: Sequence[str],
    cache: FeatureCache | None,
    preprocessing: dict,
    view: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    precision: str = "auto",
    num_workers: int = 0,
    reporter: Reporter | None = None,
    description: str = "extracting features",
    throughput: Throughput | None = None,
) -> np.ndarray:
    """Features of every item of ``dataset`` (whose content digests are ``keys``), extracting only those not in
    ``cache``. ``view=None`` is the plain (evaluation) view; ``view=k`` the k-th augmented view with ``seed``. A
    backbone whose ``cache_features`` is False is not cached (TF-IDF rows: wide, and cheaper to compute again)."""
    if not getattr(backbone, "cache_features", True):
        cache = None
    if view is not None:
        dataset = SeededViews(dataset, [int(digest(str(seed), str(view), k)[:15], 16) for k in keys])
    precision = extraction_precision(precision, dataset)  # "auto" shares entries with what it stands for here
    meta = cache.namespace(backbone, preprocessing, precision, view, seed) if cache else None
    out, missing = cache.load(meta, keys) if cache else (None, np.ones(len(keys), bool))
    todo = np.flatnonzero(missing)
    if len(todo) == 0 and out is not None:
        (reporter or Reporter()).say(f"  {description}: all {len(keys)} from the cache")
        return out
    if cache and len(todo) < len(keys):
        (reporter or Reporter()).say(f"  {description}: {len(keys) - len(todo)} of {len(keys)} from the cache")
    here = world()
    args = (keys, cache, meta, batch_size, precision, num_workers, reporter, throughput)
    if cache is None or here.size == 1:
        return _extract(backbone, dataset, todo, out, *args, description)
    # Several processes: each extracts every size-th batch of the missing items (the same batches one process
    # would make, so the features are bit for bit the same) into the shared cache, then all read the whole.
    barrier()  # every process has read the cache before any writes to it, so all agree on what is missing
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)][here.rank :: here.size]
    mine = np.concatenate(batches) if batches else np.zeros(0, np.int64)
    _extract(backbone, dataset, mine, None, *args, f"{description} [{here.rank + 1}/{here.size}]")
    barrier()
    out, missing = cache.load(meta, keys)
    if missing.any():
        raise HeadstartError(
            f"{int(missing.sum())} features extracted by other processes are not in {cache.root}; with several "
            "machines, set HEADSTART_FEATURE_CACHE to a folder they all share"
        )
    return out


def _extract(
    backbone, dataset, todo, out, keys, cache, meta, batch_size, precision, num_workers, reporter, throughput, description
) -> np.ndarray:
    """Extract the rows ``todo`` into ``out`` (made when None), storing them in ``cache`` shard by shard."""
    pending_rows: list[int] = []
    pending: list[np.ndarray] = []
    done = 0
    with preserved_rng():
        batches = iter_features(
            backbone, Rows(dataset, todo), batch_size, precision, num_workers, reporter, description, throughput
        )
        for batch in batches:
            rows = todo[done: done + len(batch)]
            done += len(batch)
            if out is None:
                out = np.zeros((len(keys), batch.shape[1]), np.float32)
            out[rows] = batch
            pending_rows.extend(rows.tolist())
            pending.append(batch)
            if cache and (len(pending_rows) >= SHARD_ITEMS or done == len(todo)):
                cache.store(meta, [keys[r] for r in pending_rows], np.concatenate(pending))
                pending_rows, pending = [], []
    return out if out is not None else np.zeros((0, 0), np.float32)
