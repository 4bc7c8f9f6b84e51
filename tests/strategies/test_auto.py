import pytest

from headstart.errors import HeadstartError
from headstart.strategies import choose_strategy, get_strategy
from headstart.strategies.auto import FEW_SHOT_PER_CLASS, parse_budget, plan_auto
from headstart.tasks import get_task
from tests.conftest import copy_sample

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_auto_uses_a_probe_with_few_examples_and_fine_tunes_with_more():
    few = ["a"] * (FEW_SHOT_PER_CLASS - 1) + ["b"] * 100
    name, reason = choose_strategy(few)
    assert name == "linear-probe" and str(FEW_SHOT_PER_CLASS - 1) in reason
    name, reason = choose_strategy(["a"] * FEW_SHOT_PER_CLASS + ["b"] * FEW_SHOT_PER_CLASS)
    assert name == "fine-tune" and "at least" in reason


def test_strategy_names_accept_underscores():
    assert get_strategy("linear_probe").name == "linear-probe"
    assert get_strategy("Fine-Tune").name == "fine-tune"


# -- the smart auto: ranking, quick probe and time budget --------------------------------------------------------


PARAMS = {"image_size": 96, "seed": 0, "batch_size": 32, "precision": "fp32"}
HARD = ["shirt", "t-shirt", "pullover", "coat"]  # classes a frozen ImageNet model confuses


def test_budgets_are_read_in_seconds_minutes_and_hours():
    assert parse_budget("90s") == 90 and parse_budget("10m") == 600 and parse_budget("1.5h") == 5400
    assert parse_budget(45) == 45 and parse_budget(None) is None
    with pytest.raises(HeadstartError, match="write it as 90s, 10m or 1.5h"):
        parse_budget("ten minutes")


@pytest.fixture(scope="module")
def hard_data(tmp_path_factory, sample_dir):
    folder = copy_sample(tmp_path_factory.mktemp("auto") / "data", HARD, 30)
    return get_task("image").read(folder).train


def test_auto_ranks_the_candidates_then_fine_tunes_without_a_time_limit(hard_data):
    plan = plan_auto(hard_data, get_task("image"), ["efficientnet_lite0", "efficientnet_lite1"], PARAMS, None)
    ranked = [row["model"] for row in plan.details["ranking"]]
    assert sorted(ranked) == ["efficientnet_lite0", "efficientnet_lite1"] and plan.model == ranked[0]
    assert 0.3 < plan.details["quick_probe_accuracy"] < 0.97
    assert plan.strategy == "fine-tune" and "LogME" in plan.reason and "no time limit" in plan.reason


def test_auto_falls_back_to_cheaper_strategies_under_a_tight_budget(hard_data):
    plan = plan_auto(hard_data, get_task("image"), ["efficientnet_lite0"], PARAMS, 3.0)
    assert plan.details["ranking"] is None and plan.model == "efficientnet_lite0"
    estimates = plan.details["estimated_seconds"]
    assert estimates["linear-probe"] < estimates["head"] < estimates["fine-tune"]
    assert plan.strategy in ("head", "linear-probe") and "budget left" in plan.reason


def test_auto_probes_with_few_examples_and_saves_its_reason(tmp_path, sample_dir):
    from headstart import ImageClassifier, load

    folder = copy_sample(tmp_path / "data", ["bag", "sneaker"], 8)
    clf = ImageClassifier("efficientnet_lite0", "auto", image_size=96).fit(folder)
    assert clf.strategy_ == "linear-probe" and "smallest class has 8 training examples" in clf.strategy_reason_
    clf.save(tmp_path / "run")
    loaded = load(tmp_path / "run")
    assert loaded.strategy_reason_ == clf.strategy_reason_ and loaded.fit_details_["auto"]["strategy"] == "linear-probe"


def test_auto_adapts_text_with_contrastive_and_images_with_fine_tune():
    reviews = get_task("text").read("text-sample", per_class=30, seed=0).train
    plan = plan_auto(reviews, get_task("text"), ["minilm-l6"], {"seed": 0}, None)
    assert plan.strategy == "contrastive" and "contrastive is estimated" in plan.reason
    assert set(plan.details["estimated_seconds"]) == {"linear-probe", "contrastive", "head"}
    assert get_task("image").adapting_strategies[0] == "fine-tune"


def test_auto_uses_contrastive_for_few_texts_unless_the_budget_forbids_it():
    reviews = get_task("text").read("text-sample", per_class=8, seed=0).train
    plan = plan_auto(reviews, get_task("text"), ["minilm-l6"], {"seed": 0}, None)
    assert plan.strategy == "contrastive" and "smallest class has 8 training examples" in plan.reason
    tight = plan_auto(reviews, get_task("text"), ["minilm-l6"], {"seed": 0}, 0.5)
    assert tight.strategy == "linear-probe" and "so the linear probe instead" in tight.reason
