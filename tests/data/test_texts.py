import json

import pytest

from headstart import HeadstartError
from headstart.data.texts import read_text_file, read_texts


def test_csv_columns_are_detected_and_problems_counted(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        "id,review,sentiment\n1,Loved it,pos\n2,,neg\n3,Hated it,neg\n4,Loved it,pos\n5,Meh,\n6,\"A, quoted\",neg\n"
    )
    splits = read_text_file(path)
    assert splits.train.items == ["Loved it", "Hated it", "A, quoted"]
    assert splits.train.labels == ["pos", "neg", "neg"]
    assert splits.record["text_column"] == "review" and splits.record["label_column"] == "sentiment"
    text = " | ".join(splits.warnings)
    assert "1 empty text" in text and "1 row(s) without a label" in text and "1 duplicate" in text


def test_tsv_and_jsonl_with_named_columns_and_splits(tmp_path):
    tsv = tmp_path / "data.tsv"
    tsv.write_text("utterance\tintent\tsplit\nbook a flight\ttravel\ttrain\nplay jazz\tmusic\ttest\n")
    splits = read_text_file(tsv)
    assert splits.train.items == ["book a flight"] and splits.test.labels == ["music"]
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text("\n".join(json.dumps({"body": t, "topic": lab}) for t, lab in [("goal!", "sport"), ("vote", "politics")]))
    splits = read_text_file(jsonl, text_column="body", label_column="topic")
    assert splits.classes == ["politics", "sport"]


def test_undecodable_bytes_are_replaced_and_counted(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,drink\nwater,drink\n".encode("latin-1"))
    splits = read_text_file(path)
    assert splits.train.items[0] == "caf\ufffd au lait"
    assert "1 line(s)" in splits.warnings[0] and "not UTF-8" in splits.warnings[0]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("words,kind\nhello,a\n", ".csv", "no text column .* name it 'text'"),
        ("text,kind\nhello,a\n", ".csv", "no label column"),
        ('{"text": "a", "label": "x"}\nnot json\n', ".jsonl", "line 2 is not valid JSON"),
        ("text,label\n,a\n", ".csv", "no usable training rows"),
    ],
)
def test_bad_text_files_give_one_line_errors(tmp_path, content, suffix, message):
    path = tmp_path / f"data{suffix}"
    path.write_text(content)
    with pytest.raises(HeadstartError, match=message):
        read_text_file(path)


def test_predict_inputs_from_arguments_files_and_stdin(tmp_path, monkeypatch):
    listing = tmp_path / "texts.txt"
    listing.write_text("first\n\nsecond\n")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("from stdin\n"))
    assert read_texts(["direct text", f"@{listing}", "-"]) == ["direct text", "first", "second", "from stdin"]
    with pytest.raises(HeadstartError, match="no such file"):
        read_texts(["@/no/such/file.txt"])


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", ""),
        ("utf-8-sig", ""),  # Excel's "CSV UTF-8"
        ("utf-16", ""),  # Python's "utf-16" writes the mark itself
        ("utf-16-le", "\ufeff"),  # Excel's "Unicode text"
        ("utf-16-be", "\ufeff"),
        ("utf-16-le", ""),  # no mark: recognised by its NUL bytes
    ],
)
@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_utf8_and_utf16_files_are_read_with_their_column_names(tmp_path, encoding, bom, suffix):
    sep = "\t" if suffix == ".tsv" else ","
    text = f"Review{sep}Sentiment\r\nCaf\u00e9 cr\u00e8me, tr\u00e8s bon{sep}pos\r\n\u00c9norme d\u00e9ception{sep}neg\r\n"
    if suffix == ".csv":
        text = text.replace("Caf\u00e9 cr\u00e8me, tr\u00e8s bon", '"Caf\u00e9 cr\u00e8me, tr\u00e8s bon"')
    path = tmp_path / f"reviews{suffix}"
    path.write_bytes((bom + text).encode(encoding))
    splits = read_text_file(path)
    assert splits.record["text_column"] == "Review" and splits.record["label_column"] == "Sentiment"
    assert splits.train.items == ["Caf\u00e9 cr\u00e8me, tr\u00e8s bon", "\u00c9norme d\u00e9ception"]
    assert splits.train.labels == ["pos", "neg"] and not splits.warnings


def test_undecodable_bytes_warning_says_which_encoding_and_the_fix(tmp_path):
    path = tmp_path / "cp1252.csv"
    path.write_bytes("text,label\n\u201cquoted\u201d,a\nplain,b\n".encode("cp1252"))
    splits = read_text_file(path)
    assert splits.train.items == ["\ufffdquoted\ufffd", "plain"]
    assert splits.warnings == [
        (
            f"1 line(s) of {path} had bytes that are not UTF-8; they were replaced by '\ufffd' (headstart reads "
            "UTF-8, or UTF-16 with a byte-order mark; re-save the file as UTF-8 to keep them)"
        )
    ]


@pytest.mark.parametrize("empty", ["", "   ", "\t\n"])
def test_predict_refuses_an_empty_text(tmp_path, monkeypatch, empty):
    monkeypatch.chdir(tmp_path)  # "" used to be taken for the current folder: "is a folder"
    with pytest.raises(HeadstartError, match="^input 1 is an empty text; give a text to classify$"):
        read_texts([empty])
    with pytest.raises(HeadstartError, match="^input 3 is an empty text; give a text to classify$"):
        read_texts(["good film", "bad film", empty])
    from headstart.tasks import get_task

    with pytest.raises(HeadstartError, match="^input 2 is an empty text; give a text to classify$"):
        get_task("text").expand_inputs(["good film", empty])  # what `headstart predict RUN ""` calls
