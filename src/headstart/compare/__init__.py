"""Learning curves on the user's own data: transfer against training from scratch at several labelled-set sizes
(learning_curves.py), and choosing what to label, actively or at random, over rounds (selection.py)."""

from headstart.compare.learning_curves import (
    SIZE_UNITS,
    Comparison,
    CurvePoint,
    compare,
    fixed_test_split,
    parse_sizes,
    scratch_needs,
)
from headstart.compare.selection import SELECTION_RULES, parse_selection

__all__ = ["SELECTION_RULES", "SIZE_UNITS", "Comparison", "CurvePoint", "compare", "fixed_test_split",
           "parse_selection", "parse_sizes", "scratch_needs"]
