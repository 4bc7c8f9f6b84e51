"""`compare --selection random,active`: the label-train-label loop simulated on labelled data (issue 30)."""

from __future__ import annotations

import csv
from unittest.mock import patch

import pytest
from typer.testing import CliRunner

from headstart import ImageClassifier
from headstart.cli import app
from headstart.compare import compare, fixed_test_split, parse_selection
from headstart.compare.learning_curves import PointTrainer
from headstart.data.dataset import DataSplits
from headstart.errors import HeadstartError
from headstart.tasks import get_task
from tests.conftest import copy_sample

PARAMS = {"image_size": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return copy_sample(tmp_path_factory.mktemp("selection") / "data", ["bag", "sneaker", "trouser", "dress"], 30)


@pytest.fixture(scope="module")
def result(data, tmp_path_factory):
    with patch.object(PointTrainer, "__call__", autospec=True, side_effect=PointTrainer.__call__) as fits:
        found = compare(data, "efficientnet_lite0", ["linear-probe"], [3], [0], out=tmp_path_factory.mktemp("sel"),
                        selection=["random", "active"], rounds=2, per_round=8, **PARAMS)
    found.fits = fits.call_count
    return found


def rows_of(path):
    return list(csv.DictReader(path.open()))


@pytest.mark.slow
def test_each_rule_labels_per_round_more_and_shares_the_start(result):
    rows = rows_of(result.out_dir / "curves.csv")
    assert [(r["strategy"], r["labels"], r["round"]) for r in rows] == [
        (f"linear-probe, {rule}", str(12 + 8 * k), str(k)) for rule in ("random", "active") for k in range(3)]
    assert all(r["n_train"] == r["labels"] for r in rows)
    assert result.fits == 5  # the start is trained once for both rules
    assert [r["shared_start"] for r in rows] == ["False"] * 3 + ["True"] + ["False"] * 2
    assert rows[0]["accuracy"] == rows[3]["accuracy"]
    chosen = rows_of(result.out_dir / "chosen.csv")
    for rule in ("random", "active"):
        ids = [r["id"] for r in chosen if r["selection"] == rule]
        assert len(ids) == len(set(ids)) == 16  # never the same example twice
    assert {r["id"] for r in chosen if r["selection"] == "random"} != {r["id"] for r in chosen if r["selection"] == "active"}
    assert any(line.startswith("linear-probe: active selection minus random after each round") for line in result.findings)


@pytest.mark.slow
def test_active_round_is_what_suggest_chooses_and_scores_as_retrained(result, data):
    """The first active round labels what the first model suggests, and the model trained on them scores as the
    CSV says."""
    pool, test, _ = fixed_test_split(get_task("image").read(data, seed=0))
    chosen = [r for r in rows_of(result.out_dir / "chosen.csv") if r["selection"] == "active" and r["round"] == "1"]
    start = get_task("image").draw_train(pool, 3, 0)
    first = ImageClassifier("efficientnet_lite0", "linear-probe", seed=0, **PARAMS).fit(DataSplits(start, None, test))
    rest = pool.subset([i for i, name in enumerate(pool.ids) if name not in set(start.ids)])
    suggested = first.suggest(rest, n=8)
    by_path = {str(item): name for item, name in zip(rest.items, rest.ids, strict=True)}
    assert [by_path[row["input"]] for row in suggested] == [r["id"] for r in chosen]
    picked = {r["id"] for r in chosen}
    train = pool.subset([i for i, name in enumerate(pool.ids) if name in set(start.ids) | picked])
    again = ImageClassifier("efficientnet_lite0", "linear-probe", seed=0, **PARAMS).fit(DataSplits(train, None, test))
    [row] = [r for r in rows_of(result.out_dir / "curves.csv") if r["strategy"] == "linear-probe, active"
             and r["round"] == "1"]
    assert float(row["accuracy"]) == pytest.approx(again.evaluate(test)["accuracy"])


def test_selection_options_are_checked_before_anything_is_read(data, tmp_path):
    with pytest.raises(HeadstartError, match="selection rule 'smart'"):
        parse_selection("random,smart")
    cases = [({"sizes": [3, 5]}, "one number"), ({"sizes": ["all"]}, "one number"), ({"rounds": 0}, "--rounds must be"),
             ({"per_round": -1}, "--per-round must be"), ({"rounds": 101}, "--rounds must be")]
    for change, message in cases:
        options = {"sizes": [3], "rounds": 2, "per_round": 8, **change}
        with pytest.raises(HeadstartError, match=message):
            compare(tmp_path / "missing", "efficientnet_lite0", ["linear-probe"], options.pop("sizes"), [0],
                    selection=["random"], **options)
    with pytest.raises(HeadstartError, match="--selection does not apply to multi-label image classification"):
        compare(tmp_path / "missing", task="image-multilabel", sizes=[3], selection=["active"])
    with pytest.raises(HeadstartError, match="apply to a selection comparison"):
        compare(data, "efficientnet_lite0", sizes=[3], rounds=2)
    with pytest.raises(HeadstartError, match="missing") as raised:  # the default start, 10 per class, is one size
        compare(tmp_path / "missing", "efficientnet_lite0", selection=["random"])
    assert "--sizes" not in str(raised.value)


def test_a_budget_larger_than_the_data_is_refused_before_training(data, tmp_path):
    with pytest.raises(HeadstartError, match=r"108 examples beyond the 12 to start from, fewer than .* = 200"):
        compare(data, "efficientnet_lite0", ["linear-probe"], [3], [0], out=tmp_path, selection=["active"],
                rounds=2, per_round=100, **PARAMS)
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written
    result = CliRunner().invoke(app, ["compare", str(data), "--selection", "random,best"])
    assert result.exit_code != 0 and "selection rule 'best'" in str(result.exception)
