"""Strategies: linear-probe, head, fine-tune, contrastive, lora, scratch, and auto, which picks one of them."""

from headstart.errors import HeadstartError
from headstart.strategies.auto import choose_strategy
from headstart.strategies.base import FitContext, FitResult, Split, Strategy
from headstart.strategies.contrastive import Contrastive
from headstart.strategies.fine_tune import FineTune
from headstart.strategies.head import Head
from headstart.strategies.linear_probe import LinearProbe
from headstart.strategies.lora import Lora
from headstart.strategies.scratch import Scratch

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (LinearProbe, Head, FineTune, Contrastive, Lora, Scratch)}
STRATEGY_NAMES = (*STRATEGIES, "auto")


def get_strategy(name: str) -> Strategy:
    """An instance of the strategy called ``name`` (not ``auto``: resolve it with ``plan_auto`` first)."""
    key = name.strip().lower().replace("_", "-")
    if key not in STRATEGIES:
        raise HeadstartError(f"unknown strategy '{name}'; use one of {', '.join(STRATEGY_NAMES)}")
    return STRATEGIES[key]()


__all__ = [
    "STRATEGIES",
    "STRATEGY_NAMES",
    "FitContext",
    "FitResult",
    "Split",
    "Strategy",
    "choose_strategy",
    "get_strategy",
]
