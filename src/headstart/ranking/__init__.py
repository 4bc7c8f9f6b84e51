"""Choosing a pre-trained model before training: transferability scores of frozen features."""

from headstart.ranking.rank import Ranking, rank_models
from headstart.ranking.scores import h_score, leep, logme, nce

__all__ = ["Ranking", "h_score", "leep", "logme", "nce", "rank_models"]
