"""Exact deduplication on a hash of normalised text."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.core.registry import register
from pipeline.dedup.base import Deduplicator, DedupParams, keep_first_per_key, with_hash_key

KEY = "_exact_key"


def normalise(texts: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Lowercase, strip punctuation and symbols, collapse whitespace (vectorised)."""
    lowered = pc.utf8_lower(texts)
    stripped = pc.replace_substring_regex(lowered, r"[\p{P}\p{S}]+", "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(stripped, r"\s+", " "))


@register("exact_dedup")
class ExactDedup(Deduplicator):
    """Keep the first document (by input file, then row) of each group with the same normalised
    text; reject the rest as `duplicate:exact` with `duplicate_of` = the id kept.

    Reads the text and id columns. Key: 128-bit xxh3 of the normalised text.
    """

    method = "exact"
    key_columns = (KEY,)

    class Params(DedupParams):
        normalise: bool = Field(
            True, description="Lowercase, drop punctuation, collapse whitespace."
        )

    def keys(self, batch: pa.Table) -> pa.Table:
        texts = batch[self.params.text_column]
        if self.params.normalise:  # a text of punctuation only duplicates nothing
            texts = normalise(texts)
            texts = pc.if_else(pc.equal(texts, ""), pa.scalar(None, pa.string()), texts)
        return with_hash_key(batch, texts, KEY)

    def resolve(self, bucket: pa.Table) -> pa.Table:
        return keep_first_per_key(bucket, KEY, self.params.id_column)
