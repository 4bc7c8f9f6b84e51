"""bf16 features are used only where, on this machine and backbone, they keep the probe within 0.3 points of fp32;
the verdict is measured once and kept with the machine's identity."""

from __future__ import annotations

import json

import numpy as np
import pytest

import headstart
from headstart import ImageClassifier
from headstart.features import precision_guard
from headstart.features.precision_guard import VERDICTS, bf16_verdict, machine_identity
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task

pytestmark = pytest.mark.slow  # bf16 is emulated on CPUs without it: seconds per extraction

PRE = {**get_model_spec("efficientnet_lite0").preprocessing, "input_size": (3, 64, 64)}


@pytest.fixture(scope="module")
def probe():
    data = get_task("image").read("sample", per_class=6).train
    dataset = get_task("image").inputs_dataset(data.items, None, PRE, train=False)
    return create_backbone("efficientnet_lite0"), dataset, np.searchsorted(data.classes, data.labels)


def test_the_verdict_is_measured_once_per_machine_backbone_and_preprocessing(probe, tmp_path, monkeypatch):
    backbone, dataset, labels = probe
    verdict = bf16_verdict(backbone, dataset, labels, PRE, folder=tmp_path)
    assert verdict.n == len(labels) == 60 and 0.25 < verdict.fp32_accuracy <= 1 and 0.25 < verdict.bf16_accuracy <= 1  # chance: 0.1
    assert verdict.precision == ("bf16" if verdict.bf16_accuracy >= verdict.fp32_accuracy - 0.003 else "fp32")
    (saved,) = json.loads((tmp_path / VERDICTS).read_text()).values()
    assert saved["precision"] == verdict.precision and machine_identity()["cpu"]

    def no_extraction(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(precision_guard, "extract_features", no_extraction)
    assert bf16_verdict(backbone, dataset, labels, PRE, folder=tmp_path) == verdict  # read back, not measured
    with pytest.raises(AssertionError, match="measured again"):  # another input size is another verdict
        bf16_verdict(backbone, dataset, labels, {**PRE, "input_size": (3, 96, 96)}, folder=tmp_path)


def test_bf16_is_kept_only_within_the_tolerance(probe, tmp_path, monkeypatch):
    backbone, dataset, labels = probe
    monkeypatch.setattr(precision_guard, "TOLERANCE", -1.0)  # bf16 would have to gain 100 points
    refused = bf16_verdict(backbone, dataset, labels, PRE, folder=tmp_path / "a")
    assert refused.precision == "fp32" and "not used: fp32 instead" in refused.reason()
    monkeypatch.setattr(precision_guard, "TOLERANCE", 1.0)
    assert bf16_verdict(backbone, dataset, labels, PRE, folder=tmp_path / "b").precision == "bf16"


def test_a_run_where_auto_would_pick_bf16_extracts_in_fp32_when_the_guard_says_so(tmp_path, monkeypatch):
    from headstart.estimators import base

    monkeypatch.setattr(base, "extraction_precision", lambda precision, dataset: "bf16")  # as on a bf16 CPU
    monkeypatch.setattr(precision_guard, "TOLERANCE", -1.0)
    # The verdict on 6 sample images per class, not all 500: bf16 is emulated here (a minute for the whole set).
    task = get_task("image")
    monkeypatch.setattr(type(task), "precision_probe", lambda self: self.read("sample", per_class=6).train)
    monkeypatch.setenv("HEADSTART_FEATURE_CACHE", str(tmp_path / "cache"))
    clf = ImageClassifier("efficientnet_lite0", "linear-probe", image_size=64).fit("sample")
    assert clf.precision == "auto" and clf.precision_ == "fp32" and "fp32 instead" in clf.precision_note_
    assert (tmp_path / "cache" / VERDICTS).is_file()
    again = headstart.load(clf.save(tmp_path / "run"))
    assert again.precision_ == "fp32"  # predictions use the features the head was fitted on
    items = get_task("image").read("sample", test_per_class=3).test.items
    np.testing.assert_allclose(again.predict_proba(items), clf.predict_proba(items), atol=1e-6)
