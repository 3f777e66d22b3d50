"""Global deduplication steps."""

from pipeline.dedup.base import GlobalStep
from pipeline.dedup.exact import ExactDedup

__all__ = ["ExactDedup", "GlobalStep"]
