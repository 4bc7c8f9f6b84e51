"""Embeddings export, similarity search and the train/test leakage check, on real weights and real data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import headstart
from headstart.api import embed, similar
from headstart.cli import app
from headstart.errors import HeadstartError
from headstart.features.embeddings import Embeddings
from headstart.search import SimilarityIndex, near_duplicates
from headstart.tasks import get_task
from tests.conftest import copy_sample

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

SMALL = {"image_size": 96}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return copy_sample(tmp_path_factory.mktemp("similar") / "data", ["bag", "sneaker", "trouser", "dress"], 8)


def test_embed_writes_every_split_to_parquet_and_reads_back(folder, tmp_path):
    out = tmp_path / "emb.parquet"
    written = embed(folder, "efficientnet_lite0", out, **SMALL)
    read = Embeddings.from_parquet(out)
    assert len(read) == 64 and read.vectors.shape == (64, 1280) and read.model == "efficientnet_lite0"
    assert sorted(set(read.splits)) == ["test", "train"] and read.splits.count("test") == 32
    assert read.ids == written.ids and read.labels == written.labels
    np.testing.assert_array_equal(read.vectors, written.vectors)


def test_similar_images_find_themselves_then_their_class(folder, tmp_path):
    query = min((folder / "test" / "trouser").glob("*.png"))
    [(_, found)] = similar(folder, [str(query)], "efficientnet_lite0", k=5, **SMALL)
    assert found[0].id.endswith(query.name) and found[0].similarity > 0.999
    assert [n.similarity for n in found] == sorted((n.similarity for n in found), reverse=True)
    assert sum(n.label == "trouser" for n in found) >= 4  # trousers look like trousers to an ImageNet model


def test_similar_texts_through_a_parquet_file_and_the_cli(tmp_path):
    out = tmp_path / "texts.parquet"
    result = CliRunner().invoke(app, ["embed", "text-sample", "--per-class", "30", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    stored = Embeddings.from_parquet(out)
    assert stored.model == "minilm-l6" and stored.vectors.shape[1] == 384
    texts = get_task("text").read("text-sample", per_class=30).train.items
    result = CliRunner().invoke(app, ["similar", str(out), texts[0], "-k", "2", "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.output)
    assert answer["query"] == texts[0] and answer["neighbours"][0]["similarity"] > 0.999


def test_leakage_check_reports_exact_and_near_copies_of_training_images(tmp_path):
    data = copy_sample(tmp_path / "data", ["bag", "sneaker", "trouser"], 10)
    train_image = min((data / "train" / "bag").glob("*.png"))
    shutil.copy(train_image, data / "test" / "bag" / "exact-copy.png")
    Image.open(train_image).convert("RGB").save(data / "test" / "bag" / "near-copy.jpg", quality=90)  # saved again
    result = headstart.train(data, "efficientnet_lite0", "linear-probe", out=tmp_path / "run", **SMALL)
    leakage = result.summary["leakage"]
    assert [pair["test"] for pair in leakage["exact"]] == ["bag/exact-copy.png"]
    assert [pair["test"] for pair in leakage["near"]] == ["bag/near-copy.jpg"]
    assert leakage["near"][0]["train"] == f"bag/{train_image.name}"
    assert any(w.startswith("possible leakage: 1 test items repeat a training item exactly and 1 nearly")
               for w in result.summary["warnings"])


def test_index_errors_and_near_duplicates_on_plain_vectors():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 8))
    queries = np.vstack([reference[7] * 3, rng.normal(size=(1, 8))])  # a scaled copy is a cosine duplicate
    assert near_duplicates(reference, queries) == [(0, 7, pytest.approx(1.0, abs=1e-5))]
    with pytest.raises(HeadstartError, match="embed both with one model"):
        SimilarityIndex(reference, [str(i) for i in range(50)]).search(np.zeros((1, 4)))
