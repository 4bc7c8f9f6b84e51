"""The feature cache: real Lite0 features of real sample images, reused by content and invalidated by any change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from headstart.cli import app
from headstart.errors import HeadstartError
from headstart.features import FeatureCache, cached_features, extract_features
from headstart.features import cache as cache_module
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

TASK = get_task("image")


class Counting(torch.utils.data.Dataset):
    """Counts the items read (an item read is an item extracted); can fail at one index, like a crash."""

    def __init__(self, dataset, fail_at: int | None = None) -> None:
        self.dataset, self.fail_at, self.reads = dataset, fail_at, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        if index == self.fail_at:
            raise KeyboardInterrupt("simulated interruption")
        self.reads += 1
        return self.dataset[index]


@pytest.fixture(scope="module")
def setup(sample_dir):
    spec = get_model_spec("efficientnet_lite0")
    backbone = create_backbone(spec)
    preprocessing = {**spec.preprocessing, "input_size": (3, 96, 96)}
    paths = sorted(str(p) for p in (sample_dir / "train").glob("*/*.png"))[::10][:24]
    return backbone, preprocessing, paths


def run(backbone, preprocessing, paths, cache, view=None, fail_at=None, precision="fp32"):
    dataset = Counting(TASK.inputs_dataset(paths, None, preprocessing, train=view is not None), fail_at)
    keys = [TASK.content_key(p) for p in paths]
    features = cached_features(backbone, dataset, keys, cache, preprocessing, view=view, seed=0, batch_size=4,
                               precision=precision)
    return features, dataset.reads


def test_second_run_extracts_nothing_and_equals_a_plain_extraction(setup, tmp_path):
    backbone, preprocessing, paths = setup
    cache = FeatureCache(tmp_path)
    first, reads = run(backbone, preprocessing, paths, cache)
    assert reads == len(paths)
    again, reads = run(backbone, preprocessing, paths, cache)
    assert reads == 0
    plain = extract_features(backbone, TASK.inputs_dataset(paths, None, preprocessing, train=False), batch_size=4,
                             precision="fp32")
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, plain, atol=1e-5)
    [entry] = cache.entries()
    assert entry.items == len(paths) and entry.meta["preprocessing"]["input_size"] == [3, 96, 96]


def test_keys_are_content_not_names(setup, tmp_path):
    """A copy of a file under another name is a hit; overlapping datasets extract only their new items."""
    backbone, preprocessing, paths = setup
    cache = FeatureCache(tmp_path / "cache")
    run(backbone, preprocessing, paths[:12], cache)
    renamed = tmp_path / "renamed.png"
    renamed.write_bytes(Path(paths[0]).read_bytes())
    _, reads = run(backbone, preprocessing, [str(renamed), *paths], cache)
    assert reads == len(paths) - 12


def test_any_change_of_weights_preprocessing_or_precision_extracts_again(setup, tmp_path):
    backbone, preprocessing, paths = setup
    cache = FeatureCache(tmp_path)
    items = paths[:4]
    base, _ = run(backbone, preprocessing, items, cache)
    _, reads = run(backbone, {**preprocessing, "input_size": (3, 112, 112)}, items, cache)
    assert reads == len(items)
    _, reads = run(backbone, preprocessing, items, cache, precision="bf16")
    assert reads == len(items)
    changed = create_backbone(get_model_spec("efficientnet_lite0"))
    with torch.no_grad():
        next(changed.parameters()).mul_(1.01)
    other, reads = run(changed, preprocessing, items, cache)
    assert reads == len(items) and not np.allclose(other, base)
    assert len(cache.entries()) == 4


def test_interrupted_extraction_keeps_whole_shards_only(setup, tmp_path, monkeypatch):
    backbone, preprocessing, paths = setup
    monkeypatch.setattr(cache_module, "SHARD_ITEMS", 8)
    cache = FeatureCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(backbone, preprocessing, paths, cache, fail_at=13)
    assert [e.items for e in cache.entries()] == [8]  # 12 extracted, one shard of 8 complete
    assert not list(tmp_path.rglob(".shard-*"))  # no temporary file left behind
    # What is missing, told from the shards' keys alone: the 16 not in the complete shard.
    keys = [TASK.content_key(p) for p in paths]
    meta = cache.namespace(backbone, preprocessing, "fp32", None, 0)
    np.testing.assert_array_equal(cache.missing(meta, keys), cache.load(meta, keys)[1])
    assert cache.missing(meta, keys).sum() == len(paths) - 8
    resumed, reads = run(backbone, preprocessing, paths, cache)
    assert reads == len(paths) - 8
    fresh, _ = run(backbone, preprocessing, paths, None)
    np.testing.assert_allclose(resumed, fresh, atol=1e-5)


def test_a_damaged_shard_is_ignored_and_extracted_again(setup, tmp_path):
    backbone, preprocessing, paths = setup
    cache = FeatureCache(tmp_path)
    items = paths[:4]
    first, _ = run(backbone, preprocessing, items, cache)
    [shard] = tmp_path.rglob("shard-*.npz")
    shard.write_bytes(shard.read_bytes()[:100])
    again, reads = run(backbone, preprocessing, items, cache)
    assert reads == len(items)
    np.testing.assert_allclose(again, first, atol=1e-5)


def test_augmented_views_depend_on_the_item_not_its_company(setup, tmp_path):
    """A view is seeded by the item's content, so it is the same extracted alone or among others, cached or not."""
    backbone, preprocessing, paths = setup
    torch.manual_seed(123)
    before = torch.rand(1)
    together, _ = run(backbone, preprocessing, paths[:6], None, view=0)
    alone, _ = run(backbone, preprocessing, paths[3:4], None, view=0)
    other_view, _ = run(backbone, preprocessing, paths[3:4], None, view=1)
    # Relative too: a batch of 6 and a batch of 1 run different convolution kernels (float32 noise, 3e-6 seen).
    np.testing.assert_allclose(together[3], alone[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(alone, other_view, atol=1e-3)
    plain, _ = run(backbone, preprocessing, paths[3:4], None)
    assert not np.allclose(alone, plain, atol=1e-3)
    torch.manual_seed(123)
    assert torch.rand(1) == before  # the caller's random state is left as it was


def test_unwritable_cache_is_one_clear_error(setup, tmp_path):
    backbone, preprocessing, paths = setup
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(HeadstartError, match="HEADSTART_FEATURE_CACHE"):
        run(backbone, preprocessing, paths[:2], FeatureCache(blocker / "cache"))


def test_cli_info_and_clear(setup, tmp_path, monkeypatch):
    backbone, preprocessing, paths = setup
    monkeypatch.setenv("HEADSTART_FEATURE_CACHE", str(tmp_path))
    run(backbone, preprocessing, paths[:3], FeatureCache())
    shown = CliRunner().invoke(app, ["cache", "info"]).output
    assert "1 entries" in shown and "EfficientNet" in shown and str(tmp_path) in shown
    assert "removed 1 entries" in CliRunner().invoke(app, ["cache", "clear"]).output
    assert FeatureCache().entries() == []


def test_cached_prediction_of_a_frozen_backbone_equals_the_plain_forward(fitted_probe, sample_dir):
    """The fast path (cached features, then the head) gives the plain full-model probabilities."""
    images = sorted(str(p) for p in (sample_dir / "test").glob("*/*.png"))[::20]
    precision = fitted_probe.precision
    fitted_probe.set_params(precision="fp32")  # exact comparison (bf16 autocast also rounds the head's inputs)
    try:
        fast = fitted_probe.predict_proba(images)
        fast_again = fitted_probe.predict_proba(images)  # now every feature comes from the cache
        fitted_probe.set_params(cache=False)
        plain = fitted_probe.predict_proba(images)
    finally:
        fitted_probe.set_params(cache=True, precision=precision)
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    np.testing.assert_array_equal(fast, fast_again)
