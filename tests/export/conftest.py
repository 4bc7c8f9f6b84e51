"""Small real runs to export: EfficientNet-Lite0 at 64 px on 3 sample classes, MiniLM on a slice of reviews."""

from __future__ import annotations

import pytest

from headstart import api
from tests.conftest import copy_sample


@pytest.fixture(scope="session")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-image")
    data = copy_sample(root / "data", ["bag", "sneaker", "trouser"], 8)
    api.train(data, strategy="linear-probe", out=root / "run", image_size=64, precision="fp32", baseline=False,
              check_leakage=False)
    return data, root / "run"


@pytest.fixture(scope="session")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-text")
    # Enough reviews for the model to learn something (16 per class stayed at chance: int8 then flips labels whose
    # probabilities sit at 0.5, and the accuracy comparison measures noise).
    api.train("text-sample", strategy="head", epochs=30, out=root / "run", per_class=64, test_per_class=20,
              max_length=64, precision="fp32", baseline=False, check_leakage=False)
    return "text-sample", root / "run"
