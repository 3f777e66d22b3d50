"""Exact deduplication on a hash of normalised text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from pipeline.core.columns import set_column
from pipeline.core.registry import register
from pipeline.dedup.base import Deduplicator, DedupParams, keep_first_per_key
from pipeline.global_steps.base import BUCKET

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
        if self.params.normalise:
            texts = normalise(texts)
        digests = [
            xxhash.xxh3_128_digest(t.encode("utf-8")) if t is not None else b""
            for t in texts.to_pylist()
        ]
        # The first 4 bytes of the hash spread keys evenly over buckets.
        bucket = np.frombuffer(b"".join(d[:4] if d else b"\0\0\0\0" for d in digests), dtype="<u4")
        batch = set_column(batch, KEY, pa.array(digests, pa.binary()))
        return set_column(batch, BUCKET, pa.array((bucket & 0x7FFFFFFF).astype(np.int32)))

    def resolve(self, bucket: pa.Table) -> pa.Table:
        return keep_first_per_key(bucket, KEY, self.params.id_column)
