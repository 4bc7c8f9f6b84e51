"""Networks cut after an intermediate layer (``NAME@LAYER``): the same computation as inside the whole network,
ranked with ``--layers``, and trained, saved and loaded like any model."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
import torch
from skimage import data as skdata
from torch.utils.data import DataLoader
from typer.testing import CliRunner

import headstart
from headstart import HeadstartError, api
from headstart.cli import app
from headstart.models import create_backbone, get_model_spec, layer_groups
from headstart.models.layers import layer_names, uncut
from headstart.tasks import get_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def _batch(task_name: str, model: str, items: list) -> object:
    task = get_task(task_name)
    spec = get_model_spec(model)
    dataset = task.inputs_dataset(items, None, task.preprocessing(spec, {"image_size": 96}), train=False)
    inputs, _ = next(iter(DataLoader(dataset, batch_size=len(items), collate_fn=getattr(dataset, "collate_fn", None))))
    return inputs


def test_an_image_cut_is_the_stage_inside_the_whole_network():
    whole = create_backbone("efficientnet_lite0").eval()
    cut = create_backbone("efficientnet_lite0@blocks.4").eval()
    assert layer_names(whole) == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]
    images = _batch("image", "efficientnet_lite0", [skdata.coffee(), skdata.astronaut()])
    with torch.inference_mode():
        (stage,) = whole.forward_intermediates(images, indices=[3], intermediates_only=True)
        features = cut(images)
    assert features.shape == (2, 112) and cut.num_features == 112
    torch.testing.assert_close(features, stage.mean((2, 3)), atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in cut.parameters()) < sum(p.numel() for p in whole.parameters()) / 3
    groups = layer_groups(cut)  # stem first, then each stage kept: gradual unfreezing still has its groups
    assert len(groups) == 6 and groups[0][0].startswith("model.conv_stem")
    assert sorted(n for g in groups for n in g) == sorted(n for n, _ in cut.named_parameters())


def test_a_text_cut_is_the_hidden_state_after_that_layer_pooled():
    whole = create_backbone("minilm-l6").eval()
    cut = create_backbone("minilm-l6@layer.2").eval()
    assert layer_names(whole) == [f"layer.{i}" for i in range(5)]  # after layer.5 it is the whole encoder
    inputs = _batch("text", "minilm-l6", ["A moving, beautifully acted film.", "Dull."])
    with torch.inference_mode():
        hidden = whole.model(**inputs, output_hidden_states=True).hidden_states[3]  # [0] is the embeddings
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        expected = (hidden * mask).sum(1) / mask.sum(1)
        torch.testing.assert_close(cut(inputs), expected, atol=1e-5, rtol=1e-5)
    assert len(cut.model.encoder.layer) == 3


def test_a_text_run_on_a_cut_saves_and_loads(tmp_path):
    """The run's encoder config holds the cut's 3 layers; loading cuts it again after its last one (a no-op)."""
    result = api.train("text-sample", model="minilm-l6@layer.2", strategy="linear-probe", per_class=40,
                       test_per_class=10, out=tmp_path / "run", baseline=False, check_leakage=False)
    assert result.summary["scores"]["accuracy"] > 0.5
    texts = ["A moving, beautifully acted film.", "A dull, lifeless mess that goes on and on."]
    loaded = headstart.load(tmp_path / "run")
    assert len(loaded.model_.backbone.model.encoder.layer) == 3
    np.testing.assert_array_equal(loaded.predict_proba(texts), result.estimator.predict_proba(texts))


def test_names_and_bad_layers():
    assert uncut("efficientnet_lite0@blocks.4") == "efficientnet_lite0"
    assert uncut("efficientnet_lite0@random") == "efficientnet_lite0@random" and uncut("minilm-l6") == "minilm-l6"
    spec = get_model_spec("efficientnet_lite0@blocks.2")
    assert spec.name == "efficientnet_lite0@blocks.2" and spec.preprocessing == get_model_spec("efficientnet_lite0").preprocessing
    with pytest.raises(HeadstartError, match=r"efficientnet_lite0 has no layer 'blocks\.3': use one of blocks\.0, "):
        create_backbone("efficientnet_lite0@blocks.3")
    with pytest.raises(HeadstartError, match="unknown model 'nonsense@blocks.1'"):
        get_model_spec("nonsense@blocks.1")


def test_ranking_scores_every_layer_and_deeper_stages_score_higher_on_fashion_mnist():
    ranking = headstart.rank("sample", ["efficientnet_lite0"], per_class=10, image_size=96, layers=True,
                             scores=("logme",))
    by_name = {c.model: c for c in ranking.candidates}
    cuts = [f"efficientnet_lite0@blocks.{i}" for i in (0, 1, 2, 4, 6)]
    assert set(by_name) == {"efficientnet_lite0", *cuts}
    assert [by_name[c].feature_dim for c in cuts] == [16, 24, 40, 112, 320]
    assert by_name["efficientnet_lite0@blocks.4"].note == "cut after blocks.4"
    # Measured: LogME -0.17, -0.14, -0.13, 0.00, 0.05 from blocks.0 to blocks.6 (whole network 0.04): on clothes
    # photos the deep, object-level stages transfer best.
    logme = [by_name[c].scores["logme"] for c in cuts]
    assert all(a + 0.01 < b for a, b in pairwise(logme)), logme


def test_train_from_a_cut_then_load_and_rank_from_the_cli(tmp_path):
    result = api.train("sample", model="efficientnet_lite0@blocks.4", strategy="linear-probe", image_size=96,
                       out=tmp_path / "run", baseline=False)
    assert result.summary["scores"]["accuracy"] > 0.6  # 10 classes; measured 79.5% at 128 px
    # Leakage is judged on the whole network's embeddings: the sample has no near duplicates (its cut reports
    # dozens at the same threshold, since mid-level pooled features are alike for every clothing photo).
    assert result.summary["leakage"]["near"] == [] and result.summary["leakage"]["exact"] == []
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["name"] == "efficientnet_lite0@blocks.4"
    loaded = headstart.load(tmp_path / "run")
    items = get_task("image").read("sample").test.items[:8]
    np.testing.assert_array_equal(loaded.predict_proba(items), result.estimator.predict_proba(items))

    out = tmp_path / "rank.json"
    answer = CliRunner().invoke(app, ["rank", "text-sample", "--models", "minilm-l6", "--layers", "--scores", "logme",
                                      "-q", "-o", str(out)])
    assert answer.exit_code == 0, answer.output
    names = {c["model"] for c in json.loads(out.read_text())["candidates"]}
    assert names == {"minilm-l6", *(f"minilm-l6@layer.{i}" for i in range(5))}
