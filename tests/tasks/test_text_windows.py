"""Long texts read in overlapping windows: what the encoder pools, what training reaches, and what an exported
tokenizer makes of them (real MiniLM weights and tokenizer; no training)."""

import pytest
import torch

from headstart import HeadstartError, TextClassifier, create_backbone, get_model_spec
from headstart.tasks import get_task

LONG = " ".join(f"word{i}" for i in range(120)) + " finale"


@pytest.fixture(scope="module")
def encoder():
    return create_backbone("minilm-l6")


def batch_of(texts, **options):
    task = get_task("text")
    preprocessing = {**task.preprocessing(get_model_spec("minilm-l6"), {"max_length": 32}), **options}
    inputs, _ = task.inputs_dataset(texts, None, preprocessing, train=False).collate_fn([(t, -1) for t in texts])
    return inputs


def test_a_long_text_is_the_mean_of_its_windows(encoder):
    texts = ["A short review.", LONG, "Another one."]
    inputs = batch_of(texts)
    document = inputs["window_document"]
    assert document.tolist()[0] == 0 and document.tolist()[-1] == 2 and (document == 1).sum() > 3
    # neighbouring windows share 4 tokens (an eighth of 32): the end of one window starts the next
    ids = inputs["input_ids"][document == 1]
    assert ids[0, -5:-1].tolist() == ids[1, 1:5].tolist()  # [CLS] first and [SEP] last in each window
    encoder.eval()
    with torch.inference_mode():
        pooled = encoder(inputs)
        each = encoder({k: inputs[k] for k in ("input_ids", "attention_mask")})
        # chunked (as extraction runs it for documents of many windows) gives the same
        from headstart.models import hf_text
        chunk, hf_text.WINDOW_CHUNK = hf_text.WINDOW_CHUNK, 2
        try:
            chunked = encoder(inputs)
        finally:
            hf_text.WINDOW_CHUNK = chunk
    assert pooled.shape == (3, 384)
    for text in range(3):
        torch.testing.assert_close(pooled[text], each[document == text].mean(0))
    torch.testing.assert_close(chunked, pooled, atol=1e-5, rtol=1e-5)
    # a short text is the same read either way
    truncated = batch_of(["A short review."], long_text="truncate")
    with torch.inference_mode():
        torch.testing.assert_close(encoder(truncated)[0], pooled[0], atol=1e-5, rtol=1e-5)


def test_training_reaches_the_last_window(encoder):
    """The gradient of a long text's embedding reaches the word embedding of its last token ("finale"), which
    truncation never reads."""
    finale = batch_of(["finale"])["input_ids"][0, 1]
    table = encoder.model.embeddings.word_embeddings.weight
    for mode, reached in (("windows", True), ("truncate", False)):
        encoder.train().zero_grad()
        encoder(batch_of([LONG], long_text=mode)).square().sum().backward()
        assert bool(table.grad[finale].abs().sum() > 0) is reached, mode
    encoder.zero_grad()


def test_long_text_option_is_checked_before_reading():
    with pytest.raises(HeadstartError, match="--long-text must be windows or truncate, not 'chunks'"):
        TextClassifier(long_text="chunks").fit("no-such-file.csv")


def test_what_training_changed_reads_windows_run_in_chunks(encoder):
    """The per-group activations behind the CKA of "what training changed": one row per window, each pooled over its
    own tokens, the same whether the encoder runs a batch's windows at once or in chunks."""
    from headstart.evaluation.changes import activations
    from headstart.models import hf_text

    inputs = batch_of(["A short review.", LONG])
    modules = ["model.encoder.layer.0", "model.encoder.layer.5"]
    whole, _, _ = activations(encoder, modules, [(inputs, None)])
    chunk, hf_text.WINDOW_CHUNK = hf_text.WINDOW_CHUNK, 2
    try:
        chunked, _, _ = activations(encoder, modules, [(inputs, None)])
    finally:
        hf_text.WINDOW_CHUNK = chunk
    for a, b in zip(whole, chunked, strict=True):
        assert a.shape == (len(inputs["input_ids"]), 384)
        torch.testing.assert_close(torch.from_numpy(b), torch.from_numpy(a), atol=1e-5, rtol=1e-5)


def test_a_training_batch_keeps_a_bounded_number_of_windows(monkeypatch):
    """Training draws at most TRAIN_WINDOWS windows per batch (shared by its texts, in order); prediction reads all."""
    from headstart.tasks import text

    task = get_task("text")
    preprocessing = task.preprocessing(get_model_spec("minilm-l6"), {"max_length": 32})
    texts = [LONG, "A short review.", LONG + " encore"]
    every, _ = task.inputs_dataset(texts, None, preprocessing, train=False).collate_fn([(t, 0) for t in texts])
    monkeypatch.setattr(text, "TRAIN_WINDOWS", 6)
    for _ in range(3):
        drawn, targets = task.inputs_dataset(texts, [0, 1, 0], preprocessing, train=True).collate_fn(
            [(t, y) for t, y in zip(texts, [0, 1, 0], strict=True)])
        assert drawn["window_document"].tolist().count(0) == 2 and drawn["window_document"].tolist().count(2) == 2
        assert drawn["window_document"].tolist().count(1) == 1 and targets.tolist() == [0, 1, 0]
        kept = drawn["input_ids"][drawn["window_document"] == 0]
        windows = every["input_ids"][every["window_document"] == 0]
        assert all(any(torch.equal(row, window) for window in windows) for row in kept)
    assert every["window_document"].tolist().count(0) > 2
