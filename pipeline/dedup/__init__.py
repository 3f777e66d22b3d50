"""Deduplication steps (global: they decide over the whole dataset)."""

from pipeline.dedup.base import Deduplicator
from pipeline.dedup.exact import ExactDedup

__all__ = ["Deduplicator", "ExactDedup"]
