"""Figures and pages that show a run or a comparison to a person (matplotlib, Agg)."""
