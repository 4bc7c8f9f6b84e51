"""contrastive: the in-batch loss, and the strategy end to end on real MiniLM weights and real reviews."""

import numpy as np
import pytest
import torch

import headstart
from headstart import TextClassifier, create_backbone
from headstart.strategies.contrastive import supervised_contrastive_loss
from headstart.tasks import get_task

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_loss_is_low_when_classes_are_apart_and_high_when_mixed():
    targets = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    assert supervised_contrastive_loss(apart, targets) < 0.05
    assert supervised_contrastive_loss(mixed, targets) > 5


def test_loss_equals_its_definition_and_skips_examples_without_a_partner():
    torch.manual_seed(0)
    x, targets, t = torch.randn(6, 5), torch.tensor([0, 0, 1, 1, 1, 2]), 0.1
    unit = torch.nn.functional.normalize(x, dim=1)
    terms = []
    for i in range(6):
        others = [a for a in range(6) if a != i]
        positives = [p for p in others if targets[p] == targets[i]]
        if not positives:  # example 5 is the only one of its class
            continue
        denominator = torch.logsumexp(torch.stack([unit[i] @ unit[a] / t for a in others]), 0)
        terms.append(-torch.stack([unit[i] @ unit[p] / t - denominator for p in positives]).mean())
    torch.testing.assert_close(supervised_contrastive_loss(x, targets, t), torch.stack(terms).mean())


def test_loss_without_any_pair_is_zero_and_keeps_the_graph():
    x = torch.randn(3, 4, requires_grad=True)
    loss = supervised_contrastive_loss(x, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0 and x.grad is not None


@pytest.fixture(scope="module")
def reviews():
    return get_task("text").read("text-sample", per_class=32, test_per_class=60, seed=2)


def mean_similarity_gap(backbone, task, preprocessing, data) -> float:
    """Mean cosine similarity of same-class pairs minus that of different-class pairs."""
    dataset = task.inputs_dataset(data.items, None, preprocessing, False)
    batch, _ = dataset.collate_fn([(text, -1) for text in data.items])
    with torch.inference_mode():
        unit = torch.nn.functional.normalize(backbone.eval()(batch), dim=1)
    cosine = (unit @ unit.T).numpy()
    labels = np.asarray(data.labels)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return float(cosine[same & off_diagonal].mean() - cosine[~same].mean())


def test_contrastive_pulls_classes_apart_on_unseen_reviews_and_saves_like_any_run(reviews, tmp_path):
    clf = TextClassifier(strategy="contrastive", seed=0, max_length=64).fit(reviews)
    assert [r["stage"] for r in clf.history_] == ["contrastive"] * len(clf.history_)
    assert clf.fit_details_["steps"] >= 10 and "C" in clf.fit_details_
    task, preprocessing = get_task("text"), clf.preprocessing_
    before = mean_similarity_gap(create_backbone("minilm-l6"), task, preprocessing, reviews.test)
    after = mean_similarity_gap(clf.model_.backbone, task, preprocessing, reviews.test)
    assert after > 2 * before and after > before + 0.005, (before, after)
    accuracy = float((clf.predict(reviews.test.items) == np.asarray(reviews.test.labels)).mean())
    assert accuracy >= 0.65, accuracy
    loaded = headstart.load(clf.save(tmp_path / "run"))
    texts = reviews.test.items[:5]
    np.testing.assert_allclose(loaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-5)
