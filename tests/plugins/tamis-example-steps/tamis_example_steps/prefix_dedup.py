"""A dedup method: documents that open with the same text (syndicated copies, templates)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.core.registry import register
from pipeline.dedup import Deduplicator
from pipeline.dedup.base import DedupParams, keep_first_per_key, with_hash_key
from pipeline.dedup.exact import normalise

KEY = "_prefix_key"


@register("prefix_dedup")
class PrefixDedup(Deduplicator):
    """Keep the first row (by input file, then row) of each group whose normalised text starts
    with the same `chars` characters; reject the rest as `duplicate:prefix`.

    Reads the text and id columns.
    """

    method = "prefix"
    key_columns = (KEY,)

    class Params(DedupParams):
        chars: int = Field(200, gt=0, description="Characters of normalised text compared.")

    def keys(self, batch: pa.Table) -> pa.Table:
        text = normalise(batch[self.params.text_column])
        return with_hash_key(batch, pc.utf8_slice_codeunits(text, 0, self.params.chars), KEY)

    def resolve(self, bucket: pa.Table) -> pa.Table:
        return keep_first_per_key(bucket, KEY, self.params.id_column)
