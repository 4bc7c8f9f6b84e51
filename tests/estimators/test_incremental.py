"""Adding classes to a trained run without its old images (issue 33), on the real sample and real weights: the
run keeps its examples' features, so the old classes survive a cleared cache, the 10-class model lands within 2
points of retraining on everything, and the old run is never touched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from headstart import api, load
from headstart.errors import HeadstartError
from headstart.tasks import get_task
from tests.conftest import copy_sample, run_cli

pytestmark = pytest.mark.slow

OLD = ["bag", "coat", "dress", "sneaker", "trouser"]
NEW = ["ankle-boot", "pullover", "sandal", "shirt", "t-shirt"]


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def accuracies(estimator, data) -> tuple[float, float]:
    """(accuracy on the test images of every class, on those of the old classes)."""
    right = estimator.predict(data.items) == np.asarray(data.labels)
    old = np.isin(np.asarray(data.labels), OLD)
    return float(right.mean()), float(right[old].mean())


def test_classes_added_from_kept_features_match_retraining_on_everything(tmp_path, sample_dir, monkeypatch):
    old_data = copy_sample(tmp_path / "old", OLD, 20, splits=("train",))
    new_data = copy_sample(tmp_path / "new", NEW, 30, splits=("train",))
    (new_data / "train" / "Bag").mkdir()  # an old class, spelled otherwise, with 10 other images of it
    for path in sorted((sample_dir / "train" / "bag").glob("*.png"))[20:30]:
        shutil.copy(path, new_data / "train" / "Bag" / path.name)
    everything_data = tmp_path / "all"  # the same images, all together: what retraining on everything sees
    shutil.copytree(old_data / "train", everything_data / "train")
    for folder in (new_data / "train").iterdir():
        shutil.copytree(folder, everything_data / "train" / folder.name.lower(), dirs_exist_ok=True)
    test = get_task("image").read(sample_dir).test  # 20 test images of each of the 10 classes
    first = api.train(old_data, strategy="linear-probe", out=tmp_path / "run-old", baseline=False, check_leakage=False)
    kept = folder_digest(first.run_dir)

    # the command line, with the feature cache cleared: the run keeps what it needs; a new run, the old one untouched
    with monkeypatch.context() as patched:
        patched.setenv("HEADSTART_FEATURE_CACHE", str(tmp_path / "empty-cache"))
        result = run_cli("train", new_data, "--from", first.run_dir, "--out", tmp_path / "run-added", "--quiet")
    assert (tmp_path / "empty-cache").is_dir()  # the new examples' features went there: it was the cache used
    assert result.returncode == 0, result.stderr
    assert "added 5 class(es) (ankle-boot, pullover, sandal, shirt, t-shirt) to the run's 5" in result.stdout
    assert "'Bag' of the new data is taken as the run's class 'bag'" in result.stderr + result.stdout
    assert folder_digest(first.run_dir) == kept
    added = load(tmp_path / "run-added")
    assert list(added.classes_) == sorted(OLD + NEW) and added.memory_ is not None
    record = added.fit_details_["added_classes"]
    assert record["new_classes"] == NEW and record["renamed"] == {"Bag": "bag"} and record["kept_examples"] == 100

    ceiling = api.train(everything_data, strategy="linear-probe", out=tmp_path / "run-all", baseline=False,
                        check_leakage=False).estimator
    (everything, old_classes), (ours, ours_old) = accuracies(ceiling, test), accuracies(added, test)
    assert ours >= everything - 0.02, (ours, everything)
    # the old classes now compete with 5 more: as well as when the model saw every image
    assert ours_old >= old_classes - 0.02, (ours_old, old_classes)

    again = run_cli("train", "--config", tmp_path / "run-added" / "config.json")  # not retrained on the new data alone
    assert again.returncode != 0 and "made by adding classes to" in again.stderr and "--from" in again.stderr
    refused = run_cli("train", new_data, "--from", first.run_dir, "--epochs", "3")
    assert refused.returncode != 0 and "--epochs cannot go with --from" in refused.stderr
    with pytest.raises(HeadstartError, match="old run is kept as it is"):
        api.add_classes(first.run_dir, new_data, out=first.run_dir / "inside")
    with pytest.raises(HeadstartError, match="add classes from data of the run's kind"):
        api.add_classes(first.run_dir, "text-sample", out=tmp_path / "run-text")
    (tmp_path / "run-added" / "memory.safetensors").unlink()
    with pytest.raises(HeadstartError, match="kept no features of its training examples"):
        load(tmp_path / "run-added").add_classes(new_data)
    with pytest.raises(HeadstartError, match="kept no features"):  # refused before any folder is made
        api.add_classes(tmp_path / "run-added", new_data, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert folder_digest(first.run_dir) == kept
