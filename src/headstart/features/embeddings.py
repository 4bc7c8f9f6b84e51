"""Embeddings of a dataset (the frozen backbone's pooled features) with their ids, labels and splits; Parquet files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headstart.errors import HeadstartError
from headstart.files import atomic_write

FORMAT = "headstart-embeddings"


@dataclass
class Embeddings:
    """One row per item: a stable id, its label and split (None and "" when unlabelled), and its vector."""

    ids: list[str]
    labels: list[str | None]
    splits: list[str]
    vectors: np.ndarray  # (n, dim) float32
    model: str = ""

    def __post_init__(self) -> None:
        if not (len(self.ids) == len(self.labels) == len(self.splits) == len(self.vectors)):
            raise ValueError("ids, labels, splits and vectors must have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    def to_parquet(self, path: str | Path) -> Path:
        """Columns id, label, split, embedding (fixed-size list of float32); the model is in the file's metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 0
        flat = pa.array(np.ascontiguousarray(self.vectors, dtype=np.float32).ravel())
        table = pa.table({
            "id": pa.array(self.ids, pa.string()),
            "label": pa.array(self.labels, pa.string()),
            "split": pa.array(self.splits, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
        }).replace_schema_metadata({"format": FORMAT, "model": self.model})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        except OSError as exc:
            raise HeadstartError(f"cannot write embeddings to {path} ({exc.strerror or exc}); choose another --out") from exc
        return path

    @classmethod
    def from_parquet(cls, path: str | Path) -> Embeddings:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise HeadstartError(f"cannot read embeddings from {path} ({exc}); write them with `headstart embed`") from exc
        if not {"id", "embedding"} <= set(table.column_names):
            raise HeadstartError(f"{path} has no id and embedding columns; write it with `headstart embed`")
        column = table.column("embedding").combine_chunks()
        vectors = np.asarray(column.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(len(table), -1)
        meta = table.schema.metadata or {}
        n = len(table)
        return cls(
            ids=table.column("id").to_pylist(),
            labels=table.column("label").to_pylist() if "label" in table.column_names else [None] * n,
            splits=table.column("split").to_pylist() if "split" in table.column_names else [""] * n,
            vectors=vectors,
            model=meta.get(b"model", b"").decode(),
        )
