"""Ranking real pre-trained models on real data: transfer must beat random weights, and the CLI must say so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli import app
from headstart.errors import HeadstartError

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_image_ranking_puts_pretrained_above_random_weights():
    ranking = headstart.rank(
        "sample", ["efficientnet_lite0@random", "efficientnet_lite0"], per_class=10, image_size=96
    )
    assert ranking.n == 100 and ranking.classes == 10
    best, worst = ranking.candidates
    assert best.model == "efficientnet_lite0" and ranking.recommended is best
    assert best.scores["logme"] > worst.scores["logme"] + 0.05
    assert best.scores["leep"] is not None and -2.31 < best.scores["leep"] < 0  # better than 10-way chance
    assert worst.scores["leep"] is None and worst.note == "random weights"
    assert best.feature_dim == 1280 and "efficientnet_lite0 has the highest LogME" in ranking.reason()


def test_text_ranking_and_cli_output(tmp_path):
    out = tmp_path / "rank.json"
    # With fewer texts than MiniLM's 384 dimensions (e.g. 40 per class) LogME is noisy enough to prefer random
    # weights; the whole sample has 400.
    result = CliRunner().invoke(app, ["rank", "text-sample", "--models", "minilm-l6,minilm-l6@random", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "recommended: minilm-l6 " in result.output
    saved = json.loads(out.read_text())
    assert saved["recommended"] == "minilm-l6" and saved["n"] == 400
    pretrained, random_init = saved["candidates"]
    assert pretrained["logme"] > random_init["logme"] and pretrained["leep"] is None  # no source classifier


def test_bad_requests_are_one_line_errors():
    with pytest.raises(HeadstartError, match="unknown score 'logmee'"):
        headstart.rank("sample", ["efficientnet_lite0"], scores=("logmee",))
    with pytest.raises(HeadstartError, match="for text data, not image"):
        headstart.rank("sample", ["minilm-l6"], task="image")
