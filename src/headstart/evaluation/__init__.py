"""Scoring a trained model: ``metrics`` (scikit-learn), ``rows`` (prediction rows, numpy only, for serving too)."""
