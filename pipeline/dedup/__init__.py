"""Deduplication steps (global: they decide over the whole dataset)."""

from pipeline.dedup.base import Deduplicator
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.fuzzy import MinHashDedup
from pipeline.dedup.semantic import SemanticDedup

# Library names: each runs on an in-memory table or list of strings with `.split(data)`.
MinHashDeduplicator = MinHashDedup
SemanticDeduplicator = SemanticDedup

__all__ = [
    "Deduplicator",
    "ExactDedup",
    "MinHashDedup",
    "MinHashDeduplicator",
    "SemanticDedup",
    "SemanticDeduplicator",
]
