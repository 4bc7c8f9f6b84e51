"""Texts with labelled spans (named entities and other span labels), read from CoNLL-style token files and from
JSONL with character spans: the data of token classification (issue 31, part 2).

Both become ``TaggedText``: the text, its spans as character offsets, and, from a token file, each token's offsets
(what entity-level scores are counted on). CoNLL tags may be IOB1 (``I-`` begins an entity unless it continues one of
the same type), IOB2 (every entity begins with ``B-``) or BIOES/BILOU (``S-``/``U-`` single tokens, ``E-``/``L-``
last tokens); the scheme is detected per file and stated, and every scheme becomes the same spans. Why by hand:
seqeval converts tag sequences to entities but reads neither files nor character spans, and reports a malformed
sequence by guessing rather than by naming the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from headstart.errors import HeadstartError
from headstart.files import user_path

DOCUMENT_START = "-DOCSTART-"
PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}  # BILOU's L and U are BIOES's E and S


@dataclass(frozen=True)
class Span:
    start: int  # character offsets in the text, end excluded
    end: int
    label: str


@dataclass(frozen=True)
class TaggedText:
    """A text and its labelled spans; ``words``: each token's (start, end) when it came from a token file."""

    text: str
    spans: tuple[Span, ...]
    words: tuple[tuple[int, int], ...] | None = None

    def span_texts(self) -> list[tuple[str, str]]:
        return [(self.text[s.start:s.end], s.label) for s in self.spans]


@dataclass(frozen=True)
class TaggedFile:
    texts: list[TaggedText]
    scheme: str  # "IOB1", "IOB2", "BIOES" or "none" (no entity at all)


def read_conll(path: str | Path) -> TaggedFile:
    """Sentences of a CoNLL-style file: one token a line, its tag in the last column (other columns, e.g. part of
    speech, ignored), a blank line between sentences, ``-DOCSTART-`` lines skipped."""
    path = user_path(path)
    sentences = list(_conll_sentences(path))
    scheme = _scheme(sentences)
    texts = [_tagged_sentence(path, sentence, scheme) for sentence in sentences]
    if not texts:
        raise HeadstartError(f"{path} holds no sentence: write one token and its tag a line, a blank line between "
                             "sentences")
    return TaggedFile(texts, scheme if any(text.spans for text in texts) else "none")


def _conll_sentences(path: Path) -> Iterator[list[tuple[str, str, int]]]:
    """(token, tag, line number) lists, one per sentence; ragged columns and malformed tags refused by line."""
    columns = None
    sentence: list[tuple[str, str, int]] = []
    for number, line in enumerate(_lines(path), 1):
        fields = _columns(line)
        if not fields or fields[0] == DOCUMENT_START:
            if sentence:
                yield sentence
            sentence = []
            continue
        if len(fields) < 2:
            raise HeadstartError(f"{path}:{number}: one column ('{line.strip()}'); write the token, then its tag")
        if columns is None:
            columns = len(fields)
        elif len(fields) != columns:
            raise HeadstartError(f"{path}:{number}: {len(fields)} columns where the file's first line has {columns}; "
                                 "give every token line the same columns (token first, tag last)")
        tag = fields[-1]
        if tag != "O" and not (len(tag) > 2 and tag[1] == "-" and tag[0] in PREFIXES):
            raise HeadstartError(f"{path}:{number}: the tag '{tag}' is not O or B-, I-, E-, S- (or L-, U-) followed "
                                 "by a type; fix the tag column (the last one)")
        sentence.append((fields[0], tag if tag == "O" else f"{PREFIXES[tag[0]]}-{tag[2:]}", number))
    if sentence:
        yield sentence


def _lines(path: Path) -> list[str]:
    """The file's lines, split at line breaks only (``str.splitlines`` also splits at form feeds and U+2028, which
    a token or a JSON string may hold); a UTF-8 byte-order mark dropped."""
    try:
        return path.read_text(encoding="utf-8-sig").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadstartError(f"cannot read {path} ({exc}); pass a UTF-8 text file") from exc


def _columns(line: str) -> list[str]:
    """A token line's columns: separated by tabs where it has any (a token may then hold spaces), else by spaces
    (not by other Unicode spaces, which a token may hold: "10\u00a0000")."""
    if "\t" in line:
        stripped = line.strip(" \t\r")
        return [field.strip(" ") for field in stripped.split("\t")] if stripped else []
    stripped = line.strip(" \r")
    return re.split(" +", stripped) if stripped else []


def _scheme(sentences: list[list[tuple[str, str, int]]]) -> str:
    """BIOES when a tag ends or is a single-token entity; IOB1 when an ``I-`` begins one; else IOB2."""
    prefixes = {tag[0] for sentence in sentences for _, tag, _ in sentence if tag != "O"}
    if prefixes & {"E", "S"}:
        return "BIOES"
    for sentence in sentences:
        previous = "O"
        for _, tag, _ in sentence:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                return "IOB1"
            previous = tag
    return "IOB2"


def _tagged_sentence(path: Path, sentence: list[tuple[str, str, int]], scheme: str) -> TaggedText:
    """The tokens joined by single spaces, with the spans their tags say."""
    words, offset = [], 0
    for token, _, _ in sentence:
        words.append((offset, offset + len(token)))
        offset += len(token) + 1
    text = " ".join(token for token, _, _ in sentence)
    spans: list[Span] = []
    open_span: tuple[int, str] | None = None  # (first token, type) of the entity being read
    for index, (_, tag, number) in enumerate(sentence):
        prefix, kind = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        continues = open_span is not None and open_span[1] == kind and prefix in ("I", "E")
        if not continues and open_span is not None:  # the entity before ended at the token before
            if scheme == "BIOES":
                raise HeadstartError(f"{path}:{number - 1}: the {open_span[1]} entity is not closed by "
                                     f"E-{open_span[1]} (BIOES); fix its last tag")
            spans.append(Span(words[open_span[0]][0], words[index - 1][1], open_span[1]))
            open_span = None
        if prefix == "O" or (continues and prefix == "I"):
            continue
        if continues:  # E-: the entity ends here
            spans.append(Span(words[open_span[0]][0], words[index][1], kind))
            open_span = None
        elif prefix == "S":
            spans.append(Span(words[index][0], words[index][1], kind))
        elif prefix == "E" or (prefix == "I" and scheme == "BIOES"):
            raise HeadstartError(f"{path}:{number}: '{tag}' with no B-{kind} before it (BIOES); fix the tags")
        else:  # B-, or I- beginning an entity (IOB1)
            open_span = (index, kind)
    if open_span is not None:
        if scheme == "BIOES":
            raise HeadstartError(f"{path}:{sentence[-1][2]}: the {open_span[1]} entity is not closed by "
                                 f"E-{open_span[1]} (BIOES); fix its last tag")
        spans.append(Span(words[open_span[0]][0], words[-1][1], open_span[1]))
    return TaggedText(text, tuple(spans), tuple(words))


def read_span_jsonl(path: str | Path) -> list[TaggedText]:
    """``{"text": ..., "spans": [{"start": ..., "end": ..., "label": ...}]}`` a line (character offsets, end
    excluded); spans that overlap or run past the text are refused by line."""
    path = user_path(path)
    texts, keys = [], set()
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HeadstartError(f"{where}: not JSON ({exc.msg}); write one JSON object a line") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise HeadstartError(f'{where}: no "text" string; write {{"text": ..., "spans": [...]}}')
        texts.append(TaggedText(record["text"], _checked_spans(record, where)))
        keys |= set(record)
    if not texts:
        raise HeadstartError(f'{path} holds no record; write one {{"text": ..., "spans": [...]}} a line')
    if "spans" not in keys:  # e.g. "entities" or "label": read as no span at all, the whole file would teach nothing
        others = ", ".join(sorted(keys - {"text"})) or "none"
        raise HeadstartError(f'{path}: no record has "spans" (other keys: {others}); name the list of '
                             '{"start", "end", "label"} "spans"')
    return texts


def _checked_spans(record: dict, where: str) -> tuple[Span, ...]:
    text, spans = record["text"], record.get("spans", [])
    if not isinstance(spans, list):
        raise HeadstartError(f'{where}: "spans" is not a list; write "spans": [{{"start", "end", "label"}}, ...]')
    checked = []
    for item in spans:
        start, end, label = (item.get(key) if isinstance(item, dict) else None for key in ("start", "end", "label"))
        whole = all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end))
        if not whole or not isinstance(label, str) or not label.strip():
            raise HeadstartError(f'{where}: a span needs whole-number "start" and "end" and a "label" ({item!r})')
        if not 0 <= start < end <= len(text):
            raise HeadstartError(f"{where}: the span {start}-{end} ({label}) runs past the text of {len(text)} "
                                 "characters or is empty; offsets count characters, end excluded")
        checked.append(Span(start, end, label.strip()))
    checked.sort(key=lambda span: (span.start, span.end))
    for before, after in pairwise(checked):
        if after.start < before.end:
            raise HeadstartError(f"{where}: the spans {before.start}-{before.end} ({before.label}) and {after.start}-"
                                 f"{after.end} ({after.label}) overlap; keep one of them")
    return tuple(checked)
