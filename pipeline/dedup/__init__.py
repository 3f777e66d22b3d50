"""Deduplication steps (global: they decide over the whole dataset)."""

from pipeline.dedup.base import Deduplicator
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.fuzzy import MinHashDedup

MinHashDeduplicator = MinHashDedup

__all__ = ["Deduplicator", "ExactDedup", "MinHashDedup", "MinHashDeduplicator"]
