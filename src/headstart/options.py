"""Range checks for numeric options, shared by the Python API and the CLI: one-line errors that name the option
and its valid range (``--epochs -1`` must not run and exit 0)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from headstart.errors import HeadstartError


@dataclass(frozen=True)
class Range:
    """A number of ``kind`` (int or float) in [low, high]; ``low_open`` excludes ``low`` itself, None is no bound."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            return f"{noun} in {left}{_show(self.low)}, {_show(self.high)}]"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_show(self.low)}"
        return f"{noun} <= {_show(self.high)}" if self.high is not None else noun


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else f"{value:,}".replace(",", "")


def check_range(name: str, value: Any, valid: Range) -> Any:
    """``value`` as ``valid.kind`` when it is one and in range (strings such as "10" or "1e-3" are read), else a
    HeadstartError naming ``name`` (e.g. "--epochs") and the valid range."""
    converted = _convert(value, valid.kind)
    if converted is None:
        raise HeadstartError(f"{name} must be {valid.describe()}, not {value!r}")
    too_low = valid.low is not None and (converted <= valid.low if valid.low_open else converted < valid.low)
    too_high = valid.high is not None and converted > valid.high
    if too_low or too_high:
        raise HeadstartError(f"{name} must be {valid.describe()}, not {value!r}")
    return converted


def _convert(value: Any, kind: type) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if kind is float else int(value.strip())
        except ValueError:
            return None
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(value) if isinstance(value, int) else None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def option_name(key: str) -> str:
    """How an option reads in errors: the Python keyword and the CLI flag, ``batch_size (--batch-size)``."""
    flag = "--" + key.replace("_", "-")
    return flag if "_" not in key else f"{key} ({flag})"


def check_options(values: dict[str, Any], ranges: dict[str, Range]) -> dict[str, Any]:
    """Every option of ``values`` that has a range, checked (None means unset and passes); returns the converted
    values."""
    checked = dict(values)
    for key, valid in ranges.items():
        if checked.get(key) is not None:
            checked[key] = check_range(option_name(key), checked[key], valid)
    return checked
