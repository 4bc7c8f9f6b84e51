"""Every strategy end to end on real images and real weights (small: 3 classes, 9 training images each, 128 px)."""

import numpy as np
import pytest
import torch

from headstart import ImageClassifier
from headstart.models import create_backbone
from headstart.tasks import get_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tests.conftest import copy_sample

    root = copy_sample(tmp_path_factory.mktemp("strategies") / "data", ["bag", "sneaker", "trouser"], 12)
    return get_task("image").read(root)


def fit(strategy, data, image_size=128, **params):
    clf = ImageClassifier(strategy=strategy, image_size=image_size, seed=0, **params).fit(data)
    accuracy = float((clf.predict(data.test.items) == np.asarray(data.test.labels)).mean())
    return clf, accuracy


def test_head_trains_only_the_head(data):
    pretrained = create_backbone("efficientnet_lite0").state_dict()
    clf, accuracy = fit("head", data, epochs=15)
    assert accuracy >= 0.85
    assert all(torch.equal(pretrained[k], v) for k, v in clf.model_.backbone.state_dict().items())
    assert {r["stage"] for r in clf.history_} == {"head", "refit head"}  # then again on train + validation
    assert "changes" not in clf.fit_details_  # nothing to measure: the backbone did not train


def test_fine_tune_warms_up_the_head_then_unfreezes(data, tmp_path):
    pretrained = create_backbone("efficientnet_lite0").state_dict()
    clf, accuracy = fit("fine-tune", data, epochs=3)
    assert accuracy >= 0.85
    stages = [r["stage"] for r in clf.history_]
    assert stages[0] == "head" and "top-2" in stages and "all" in stages and stages[-1] == "refit all"
    after = clf.model_.backbone.state_dict()
    assert not torch.equal(pretrained["blocks.6.0.conv_pw.weight"], after["blocks.6.0.conv_pw.weight"])
    # what training changed (issue 33): with gradual unfreezing and layer-wise rates the top moved most
    changes = clf.fit_details_["changes"]
    rows = changes["groups"]
    assert [r["group"] for r in rows][::7] == ["conv_stem+bn1", "blocks.6+conv_head+bn2"]
    assert rows[-1]["weight_change"] > rows[0]["weight_change"] > 0
    assert all(0 <= r["cka"] <= 1 + 1e-6 for r in rows) and rows[0]["cka"] > 0.9, rows
    assert changes["source"]["name"] == "ImageNet" and 0 <= changes["source"]["agreement"] <= 1
    assert changes["split"] == "validation" and changes["seen_in_training"]  # the refit trained on them

    # two classes added without the old images: the fine-tuned backbone stays, the old classes keep their accuracy
    from tests.conftest import copy_sample

    new = get_task("image").read(copy_sample(tmp_path / "new", ["sandal", "shirt"], 12))
    backbone = {k: v.clone() for k, v in clf.model_.backbone.state_dict().items()}
    clf.add_classes(new)
    assert list(clf.classes_) == ["bag", "sandal", "shirt", "sneaker", "trouser"]
    assert clf.fit_details_["added_classes"]["backbone"] == "trained (fine-tune), kept as it is"
    assert clf.strategy_ == "fine-tune"
    assert all(torch.equal(backbone[k], v) for k, v in clf.model_.backbone.state_dict().items())
    kept = float((clf.predict(data.test.items) == np.asarray(data.test.labels)).mean())
    assert kept >= 0.95 * accuracy, (kept, accuracy)
    assert float((clf.predict(new.test.items) == np.asarray(new.test.labels)).mean()) >= 0.7


def test_scratch_starts_from_random_weights_and_transfer_wins(data):
    clf, scratch_accuracy = fit("scratch", data, epochs=3)
    pretrained = create_backbone("efficientnet_lite0").state_dict()
    assert not torch.equal(pretrained["conv_stem.weight"], clf.model_.backbone.state_dict()["conv_stem.weight"])
    _, probe_accuracy = fit("linear-probe", data)
    assert probe_accuracy >= scratch_accuracy + 0.1, (probe_accuracy, scratch_accuracy)


def test_same_seed_same_model(data):
    first, _ = fit("head", data, epochs=5)
    second, _ = fit("head", data, epochs=5)
    items = data.test.items[:8]
    np.testing.assert_array_equal(first.predict_proba(items), second.predict_proba(items))


def test_precisions_can_change_between_fits_in_one_process(data):
    # Small and without the refit: bf16 is emulated (slow) on CPUs without bf16 instructions.
    bf16, _ = fit("fine-tune", data, epochs=1, precision="bf16", image_size=64, refit=False)
    fp32, _ = fit("scratch", data, epochs=1, precision="fp32", image_size=64, refit=False)
    assert bf16.history_ and fp32.history_
