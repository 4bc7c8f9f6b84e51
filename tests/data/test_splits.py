import pytest

from headstart import HeadstartError
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.splits import check_trainable, sample_per_class, with_validation


def labeled(counts: dict[str, int]) -> LabeledData:
    labels = [c for c, n in counts.items() for _ in range(n)]
    return LabeledData(list(range(len(labels))), labels, [str(i) for i in range(len(labels))], source="DATA")


def test_validation_split_is_stratified_seeded_and_recorded():
    data = labeled({"a": 50, "b": 30, "c": 20})
    first = with_validation(DataSplits(data), 0.2, seed=3)
    again = with_validation(DataSplits(data), 0.2, seed=3)
    other = with_validation(DataSplits(data), 0.2, seed=4)
    assert first.val.class_counts() == {"a": 10, "b": 6, "c": 4}
    assert first.val.ids == again.val.ids and first.val.ids != other.val.ids
    assert not set(first.val.ids) & set(first.train.ids)
    assert first.record == {"val": "stratified", "val_size": 0.2, "seed": 3, "n_val": 20}


def test_too_little_data_for_validation_is_said():
    splits = with_validation(DataSplits(labeled({"a": 2, "b": 2})), 0.2, seed=0)
    assert splits.val is None and "no validation split" in splits.warnings[0]


@pytest.mark.parametrize(
    ("counts", "message"),
    [({}, "no labelled examples"), ({"a": 5}, "only one class"), ({"a": 5, "b": 1}, "class 'b' .* single example")],
)
def test_untrainable_data_is_refused(counts, message):
    with pytest.raises(HeadstartError, match=message):
        check_trainable(labeled(counts), "DATA")


def test_per_class_samples_are_nested_and_seeded():
    data = labeled({"a": 40, "b": 40})
    small, large = sample_per_class(data, 5, seed=1), sample_per_class(data, 10, seed=1)
    assert small.class_counts() == {"a": 5, "b": 5}
    assert set(small.ids) <= set(large.ids)
