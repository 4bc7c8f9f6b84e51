import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headstart.data.images import load_image
from headstart.features.probe_recipe import C_GRID, MULTI_LABEL, SINGLE_LABEL, probe_inputs, root_mean_square
from headstart.models.transfer import HeadConfig, build_head
from headstart.strategies.linear_probe import fold_into_linear
from headstart.tasks import get_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_folded_head_reproduces_sklearn_probabilities():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(120, 16))
    scale = root_mean_square(x)
    assert scale == pytest.approx(np.sqrt((x**2).mean()))
    for n_classes in (2, 4):
        y = rng.integers(0, n_classes, size=120)
        clf = LogisticRegression(C=0.5, max_iter=2000, random_state=0).fit(x / scale, y)
        layer = torch.nn.Linear(16, n_classes).double()
        weight, bias = SINGLE_LABEL.fit(x / scale, y, 0.5, 0, None, n_classes)
        fold_into_linear(layer, weight / scale, bias)
        ours = torch.softmax(layer(torch.from_numpy(x)), 1).detach().numpy()
        np.testing.assert_allclose(ours, clf.predict_proba(x / scale), atol=1e-9)


def test_the_power_transformed_probe_folds_into_the_saved_head():
    """Non-negative features (a CNN's, pooled after a ReLU) get the square-root transform; the head the run saves
    (SignedPower, then the folded linear layer) must give scikit-learn's probabilities on the transformed features,
    and signed features must be left as they are."""
    rng = np.random.default_rng(1)
    x = rng.gamma(0.5, 2.0, size=(90, 12)).astype(np.float32)
    x[:, 0] = 0.0  # a dead channel
    y = np.arange(90) % 3
    inputs, power, scale = probe_inputs(x)
    assert power == 0.5 and scale == pytest.approx(root_mean_square(np.sqrt(x)), rel=1e-6)
    np.testing.assert_allclose(inputs, np.sqrt(x) / scale, rtol=1e-6)
    clf = LogisticRegression(max_iter=2000, random_state=0).fit(inputs, y)
    head = build_head(12, 3, HeadConfig("linear", power=power))
    weight, bias = SINGLE_LABEL.fit(inputs, y, 1.0, 0, None, 3)
    fold_into_linear(head[-1], weight / scale, bias)
    with torch.no_grad():
        ours = torch.softmax(head(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(ours, clf.predict_proba(inputs), atol=1e-5)
    assert probe_inputs(x - 1.0)[1] == 1.0  # signed features: no transform


def test_a_multi_label_probe_folds_one_regression_per_label():
    """Label sets: the folded head's sigmoid must give each label's own binary regression, a label never present
    in training a probability near 0 and one always present near 1."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 10))
    y = np.zeros((80, 4), np.float32)
    y[:, 0] = x[:, 0] > 0
    y[:, 1] = x[:, 1] + x[:, 2] > 0.5
    y[:, 3] = 1.0  # on every example; label 2 on none
    layer = torch.nn.Linear(10, 4).double()
    fold_into_linear(layer, *MULTI_LABEL.fit(x, y, 0.3, 0, None, 4))
    ours = torch.sigmoid(layer(torch.from_numpy(x))).detach().numpy()
    for j in (0, 1):
        clf = LogisticRegression(C=0.3, max_iter=2000, random_state=0).fit(x, y[:, j])
        np.testing.assert_allclose(ours[:, j], clf.predict_proba(x)[:, 1], atol=1e-9)
    assert ours[:, 2].max() < 1e-8 and ours[:, 3].min() > 1 - 1e-8
    found = MULTI_LABEL.cross_validate(x, y, C_GRID, 4, seed=0)
    assert found.out_of_fold.shape == y.shape and found.C in C_GRID
    assert found.scores["mean_average_precision"][found.C] > 0.8  # labels 0 and 1 are linear in x


def test_a_feature_constant_in_training_does_not_blow_up_the_folded_head():
    """MiniLM's pooled features have a dimension that is 0 up to 1e-32 noise. Per-feature standardisation (the
    probe's first recipe) scaled it to unit variance and gave head weights of 1e30, which int8 quantization cannot
    hold; the probe's one scale for all features must keep the folded head small and equal to scikit-learn's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype(np.float32)
    x[:, 3] = rng.normal(size=32) * 1e-32
    y = np.arange(32) % 2
    scale = root_mean_square(x)
    clf = LogisticRegression(C=max(C_GRID), max_iter=2000, random_state=0).fit(x / scale, y)  # the weakest tried
    layer = torch.nn.Linear(8, 2)
    weight, bias = SINGLE_LABEL.fit(x / scale, y, max(C_GRID), 0, None, 2)
    fold_into_linear(layer, weight / scale, bias)
    assert layer.weight.abs().max() < 100
    ours = torch.softmax(layer(torch.from_numpy(x)), 1).detach().numpy()
    np.testing.assert_allclose(ours, clf.predict_proba(x / scale), atol=1e-5)


def pixels(data):
    return np.stack([np.asarray(load_image(item).convert("L"), np.float32).ravel() / 255 for item in data.items])


def test_probe_on_real_weights_beats_raw_pixels(fitted_probe):
    """Lite0 features + logistic regression must beat logistic regression on the pixels, on the sample's test split
    (24 training images per class)."""
    splits = get_task("image").read("sample")
    test = splits.test
    probe_acc = float((fitted_probe.predict(test.items) == np.asarray(test.labels)).mean())
    scaler = StandardScaler().fit(pixels(fitted_probe.splits_.train))
    raw = LogisticRegression(C=0.1, max_iter=2000).fit(
        scaler.transform(pixels(fitted_probe.splits_.train)), fitted_probe.splits_.train.labels
    )
    raw_acc = float((raw.predict(scaler.transform(pixels(test))) == np.asarray(test.labels)).mean())
    assert probe_acc >= 0.75
    assert probe_acc >= raw_acc + 0.03, (probe_acc, raw_acc)


def test_predict_proba_follows_classes(fitted_probe, sample_dir):
    files = sorted((sample_dir / "test" / "trouser").glob("*.png"))[:5]
    proba = fitted_probe.predict_proba([str(f) for f in files])
    assert proba.shape == (5, 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    assert list(fitted_probe.classes_) == sorted(fitted_probe.classes_)
    trouser = list(fitted_probe.classes_).index("trouser")
    assert (proba.argmax(1) == trouser).mean() >= 0.8
    assert (fitted_probe.predict([str(f) for f in files]) == fitted_probe.classes_[proba.argmax(1)]).all()
