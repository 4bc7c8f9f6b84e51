"""Strategies: linear-probe, head, fine-tune, contrastive, lora, scratch, and auto, which picks one of them."""

from __future__ import annotations

from headstart.errors import HeadstartError
from headstart.strategies.auto import choose_strategy
from headstart.strategies.base import FitContext, FitResult, Split, Strategy, parse_spec
from headstart.strategies.contrastive import Contrastive
from headstart.strategies.fine_tune import FineTune
from headstart.strategies.head import Head
from headstart.strategies.linear_probe import LinearProbe
from headstart.strategies.lora import Lora
from headstart.strategies.scratch import Scratch

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (LinearProbe, Head, FineTune, Contrastive, Lora, Scratch)}
STRATEGY_NAMES = (*STRATEGIES, "auto")
AUTO = "auto"


def get_strategy(value: str | Strategy) -> Strategy:
    """The strategy ``value`` names (``"fine-tune"``, ``"fine-tune(layer_decay=0.9)"``) or is; not ``auto``
    (resolve it with ``plan_auto`` first)."""
    if isinstance(value, Strategy):
        return value
    name, options = parse_spec(str(value))
    if name not in STRATEGIES:
        raise HeadstartError(f"unknown strategy '{value}'; use one of {', '.join(STRATEGY_NAMES)}")
    return STRATEGIES[name](**options)  # text values are read as each option's range says (int or float)


def strategy_name(value: str | Strategy) -> str:
    """The bare name: ``"auto"``, ``"fine-tune"`` for ``FineTune(...)`` or ``"fine-tune(epochs=3)"``."""
    return value.name if isinstance(value, Strategy) else parse_spec(str(value))[0]


def strategy_spec(value: str | Strategy) -> str:
    """What config.json and ``--strategy`` hold: ``auto``, or the strategy with its options."""
    return AUTO if strategy_name(value) == AUTO else get_strategy(value).spec()


__all__ = [
    "AUTO",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "Contrastive",
    "FineTune",
    "FitContext",
    "FitResult",
    "Head",
    "LinearProbe",
    "Lora",
    "Scratch",
    "Split",
    "Strategy",
    "choose_strategy",
    "get_strategy",
    "strategy_name",
    "strategy_spec",
]
