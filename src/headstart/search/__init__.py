"""Similarity search over embeddings (FAISS) and near-duplicate detection."""

from headstart.search.index import Neighbour, SimilarityIndex, near_duplicates

__all__ = ["Neighbour", "SimilarityIndex", "near_duplicates"]
