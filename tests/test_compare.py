"""Learning curves on the embedded sample: the CSV agrees with the runs it summarises, and the figure is drawn."""

from __future__ import annotations

import csv

import pytest
from PIL import Image
from typer.testing import CliRunner

from headstart import ImageClassifier
from headstart.cli import app
from headstart.compare import Comparison, CurvePoint, compare, fixed_test_split, parse_sizes, scratch_needs
from headstart.data.dataset import DataSplits
from headstart.data.splits import sample_per_class
from headstart.errors import HeadstartError
from headstart.tasks import get_task
from tests.conftest import copy_sample

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

PARAMS = {"image_size": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return copy_sample(tmp_path_factory.mktemp("compare") / "data", ["bag", "sneaker", "trouser", "dress"], 12)


@pytest.fixture(scope="module")
def result(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare-out")
    return compare(data, "efficientnet_lite0", ["linear-probe", "scratch"], [3, 8], [0, 1], out=out, epochs=2, **PARAMS)


def test_csv_has_one_row_per_point_and_agrees_with_a_rerun(result, data):
    rows = list(csv.DictReader((result.out_dir / "curves.csv").open()))
    assert len(rows) == 2 * 2 * 2 and {r["strategy"] for r in rows} == {"linear-probe", "scratch"}
    assert all(r["n_train"] == str(4 * int(r["per_class"])) for r in rows)
    # The same point, trained again by hand, scores the same on the same test split.
    pool, test, _ = fixed_test_split(get_task("image").read(data))
    train = sample_per_class(pool, 8, 1)
    clf = ImageClassifier("efficientnet_lite0", "linear-probe", seed=1, **PARAMS).fit(DataSplits(train, None, test))
    [row] = [r for r in rows if r["strategy"] == "linear-probe" and r["per_class"] == "8" and r["seed"] == "1"]
    assert float(row["accuracy"]) == pytest.approx(clf.evaluate(test)["accuracy"])
    assert result.n_test == 48


def test_transfer_beats_scratch_and_the_figure_is_drawn(result):
    probe = {size: mean for size, mean, _, _ in result.curve("linear-probe")}
    scratch = {size: mean for size, mean, _, _ in result.curve("scratch")}
    assert probe[3] > scratch[3] + 0.2  # 3 labelled images per class: ImageNet features against random weights
    with Image.open(result.out_dir / "curves.png") as figure:
        assert figure.format == "PNG" and figure.size[0] > 1000
    assert result.findings and result.findings[0].startswith("scratch")
    assert (result.out_dir / "summary.json").is_file()


def test_scratch_needs_interpolates_on_a_log_scale(tmp_path):
    def point(strategy, size, accuracy):
        return CurvePoint(strategy, size, 0, size, accuracy, 1.0)

    points = [point("linear-probe", 10, 0.8), point("scratch", 10, 0.4), point("scratch", 100, 0.7),
              point("scratch", 1000, 0.9)]
    finding = scratch_needs(Comparison(points, tmp_path, 100, "m"), ["linear-probe", "scratch"])
    assert finding.startswith("scratch needs about 316 labelled examples per class")  # halfway, in log scale
    never = [point("linear-probe", 10, 0.95), point("scratch", 10, 0.4), point("scratch", 100, 0.7)]
    assert "does not reach" in scratch_needs(Comparison(never, tmp_path, 100, "m"), ["linear-probe", "scratch"])


def test_bad_sizes_and_seeds_are_one_line_errors(data):
    with pytest.raises(HeadstartError, match="e.g. 10,50,100,all"):
        parse_sizes("10,lots")
    result = CliRunner().invoke(app, ["compare", str(data), "--seeds", "a,b"])
    assert result.exit_code != 0 and "cannot read the seeds 'a,b'" in str(result.exception)
