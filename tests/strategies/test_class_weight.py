"""--class-weight auto: every class counts the same in the loss, so a rare class is not ignored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart import ImageClassifier
from headstart.errors import HeadstartError
from headstart.reports.html import data_warnings
from headstart.tasks import get_task
from headstart.training.engine import Trainer
from tests.conftest import copy_sample

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_weights_are_balanced_and_reach_the_loss():
    clf = ImageClassifier(class_weight="auto")
    weights = clf._class_weights(np.array([0] * 30 + [1] * 3 + [2] * 30), 3)
    np.testing.assert_allclose(weights, [63 / 90, 63 / 9, 63 / 90])
    trainer = Trainer(torch.nn.Linear(2, 3), class_weight=weights)
    np.testing.assert_allclose(trainer.loss_fn.weight.numpy(), weights, rtol=1e-6)
    assert ImageClassifier()._class_weights(np.array([0, 1]), 2) is None
    with pytest.raises(HeadstartError, match="use auto or none"):
        ImageClassifier(class_weight="balanced")._class_weights(np.array([0, 1]), 2)


def test_a_rare_class_is_recalled_at_least_as_well_with_auto_weights(tmp_path):
    data = copy_sample(tmp_path / "data", ["shirt", "t-shirt", "pullover"], 30)
    for extra in sorted((data / "train" / "shirt").glob("*.png"))[4:]:
        extra.unlink()  # 4 shirts against 30 of each other class
    recall = {}
    for weighting in ("none", "auto"):
        clf = ImageClassifier("efficientnet_lite0", "linear-probe", image_size=96, class_weight=weighting).fit(data)
        recall[weighting] = clf.evaluate(get_task("image").read(data).test)["per_class"]["shirt"]["recall"]
    assert recall["auto"] >= recall["none"] and recall["auto"] > 0


def test_report_flags_small_and_imbalanced_classes():
    found = data_warnings({"train": {"a": 40, "b": 4, "c": 40}})
    assert any("class 'b' has only 4 training examples" in w for w in found)
    assert any("imbalanced (40 against 4" in w for w in found)
    assert data_warnings({"train": {"a": 20, "b": 20}}) == []
