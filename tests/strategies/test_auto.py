from headstart.strategies import choose_strategy, get_strategy
from headstart.strategies.auto import FEW_SHOT_PER_CLASS


def test_auto_uses_a_probe_with_few_examples_and_fine_tunes_with_more():
    few = ["a"] * (FEW_SHOT_PER_CLASS - 1) + ["b"] * 100
    name, reason = choose_strategy(few)
    assert name == "linear-probe" and str(FEW_SHOT_PER_CLASS - 1) in reason
    name, reason = choose_strategy(["a"] * FEW_SHOT_PER_CLASS + ["b"] * FEW_SHOT_PER_CLASS)
    assert name == "fine-tune" and "at least" in reason


def test_strategy_names_accept_underscores():
    assert get_strategy("linear_probe").name == "linear-probe"
    assert get_strategy("Fine-Tune").name == "fine-tune"
