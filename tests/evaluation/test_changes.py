"""What training changed (issue 33), measured on the real EfficientNet-Lite0 and real sample images: an unchanged
network keeps everything, and a change to one layer group shows in that group's weights and from there on in the
representations, not before."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from headstart.evaluation.changes import (
    activations,
    changes_summary,
    group_name,
    linear_cka,
    output_module,
    statistics_changes,
    weight_changes,
)
from headstart.models import create_backbone, get_model_spec, layer_groups
from headstart.ranking.rank import split_source_head
from headstart.tasks import get_task


def test_linear_cka_is_blind_to_rotation_and_scale_only():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 20))
    rotation, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0)
    assert linear_cka(x, rng.normal(size=(64, 20))) < 0.5
    assert linear_cka(x, np.hstack([x[:, :10], rng.normal(size=(64, 10))])) == pytest.approx(0.5, abs=0.15)


@pytest.fixture(scope="module")
def images(sample_dir):
    spec = get_model_spec("efficientnet_lite0")
    task = get_task("image")
    preprocessing = task.preprocessing(spec, {"image_size": 96}, [])
    items = [str(p) for c in ("bag", "sneaker", "trouser") for p in sorted((sample_dir / "train" / c).glob("*.png"))[:4]]
    return DataLoader(task.inputs_dataset(items, None, preprocessing, train=False), batch_size=6)


def test_a_change_in_one_group_shows_there_and_after_it_not_before(images):
    reference = create_backbone("efficientnet_lite0", keep_source_head=True)
    head = split_source_head(reference)
    changed = create_backbone("efficientnet_lite0")
    groups = layer_groups(changed)
    assert [group_name(g) for g in groups] == ["conv_stem+bn1", "blocks.0.0", *(f"blocks.{i}" for i in range(1, 6)),
                                               "blocks.6+conv_head+bn2"]
    modules = [output_module(changed, g) for g in groups]
    assert modules[0] == "bn1" and modules[3] == "blocks.2" and modules[-1] == "bn2"

    same, _, answers = activations(reference, modules, images, head)
    again, _, answers_again = activations(changed, modules, images, head)
    assert all(linear_cka(a, b) == pytest.approx(1.0, abs=1e-6) for a, b in zip(same, again, strict=True))
    assert np.array_equal(answers, answers_again) and len(answers) == 12
    assert weight_changes(reference, changed, groups) == [0.0] * len(groups)

    with torch.no_grad():  # half the filters of one convolution of blocks.4 flipped, new running means after it
        half = changed.blocks[4][0].conv_pw.out_channels // 2
        changed.blocks[4][0].conv_pw.weight[:half].neg_()
        changed.blocks[4][0].bn1.running_mean.add_(0.5)
    moved = weight_changes(reference, changed, groups)
    assert moved[5] > 0 and moved[:5] == [0.0] * 5 and moved[6:] == [0.0] * 2
    flipped = reference.blocks[4][0].conv_pw.weight.detach().double()[:half]
    norm = sum(float(p.detach().double().pow(2).sum()) for n, p in reference.named_parameters() if n in groups[5])
    assert moved[5] == pytest.approx(2 * float(flipped.norm()) / norm**0.5, rel=1e-6)
    statistics = statistics_changes(reference, changed, groups)
    assert statistics[5] > 0 and statistics[:5] == [0.0] * 5

    after, _, _ = activations(changed, modules, images, head)
    cka = [linear_cka(a, b) for a, b in zip(same, after, strict=True)]
    assert all(c == pytest.approx(1.0, abs=1e-6) for c in cka[:5]) and max(cka[5:]) < 0.99, cka


def test_the_sentence_reads_the_record():
    record = {"groups": [{"group": "stem", "weight_change": 0.001, "cka": 0.99},
                         {"group": "block", "weight_change": 0.02, "cka": 0.97},
                         {"group": "top", "weight_change": 0.05, "cka": 0.6},
                         {"group": "pooler", "weight_change": 0.0, "cka": None, "unused": True}],
              "inputs": 40, "split": "validation", "source": {"name": "ImageNet", "agreement": 0.8123}}
    assert changes_summary(record) == ("the weights moved most in top (5.00%) and block (2.00%), least in stem (0.10%); "
                                       "stem to block kept CKA >= 0.95, the lowest 0.60 at top; it kept 81% of its "
                                       "ImageNet answers on your validation inputs")
    assert changes_summary(None) is None and changes_summary({"measured": False, "why": "offline"}) is None
