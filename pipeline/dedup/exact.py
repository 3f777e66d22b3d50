"""Exact deduplication on a hash of normalised text."""

from __future__ import annotations

from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.core.columns import DUPLICATE_OF, ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.core.registry import register
from pipeline.dedup.base import (
    Deduplicator,
    DedupParams,
    keep_first_per_key,
    order_key,
    row_ids,
    with_hash_key,
)
from pipeline.dedup.hot_keys import (
    FIRST,
    FIRST_ID,
    Grouping,
    find_hot,
    split_hot,
    spread,
)
from pipeline.dedup.report import MEMBER
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.checkpoint import fingerprint, once_table, work_dir
from pipeline.global_steps.shuffle import Source
from pipeline.io.storage import Location

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

    def decide_columns(self) -> list[str]:
        return [KEY, BUCKET, SHARD, ROW, self.params.id_column]

    def resolve(self, bucket: pa.Table) -> pa.Table:
        return keep_first_per_key(bucket, KEY, self.params.id_column)

    def find(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int, buckets: int
    ) -> dict[str, Any]:
        """One shuffle of the keys by bucket; the rows of keys too large for a bucket (found by
        a count pass) are decided map-side against their key's first row instead."""
        id_column = self.params.id_column
        columns = self.decide_columns()
        grouping = Grouping([KEY], _keys, columns, partial(_key_rows, id_column=id_column))
        work = work_dir(dest)  # the hot keys outlive a failed attempt
        inputs = fingerprint(self.params.model_dump_json(), [s.path for s in sources], rows)
        hot, resumed = once_table(
            work / "hot-keys.parquet",
            inputs,
            lambda: find_hot(
                executor, sources, grouping, rows, self.params.rows_per_bucket, buckets, work
            ),
        )
        stats: dict[str, Any] = {"resumed_passes": ["hot keys"]} if resumed else {}
        if not hot.num_rows:
            executor.shuffle([Source(sources, columns)], self.resolve, dest, buckets)
        else:
            prepare = partial(_decide_hot, hot=hot, id_column=id_column)
            resolve = partial(_resolve_rest, id_column=id_column)
            executor.shuffle([Source(sources, columns, prepare)], resolve, dest, buckets)
            stats["hot_keys"] = hot.num_rows
        work.remove()
        return stats


def _keys(batch: pa.Table) -> pa.ChunkedArray:
    return batch[KEY]


def _key_rows(batch: pa.Table, id_column: str) -> pa.Table:
    """(key, order, id) of every row with a key."""
    rows = pa.table({"key": batch[KEY], "order": order_key(batch), "id": row_ids(batch, id_column)})
    return rows.filter(pc.is_valid(rows["key"]))


def _decide_hot(batch: pa.Table, hot: pa.Table, id_column: str) -> pa.Table:
    """A batch's rows of ordinary keys as they are, and its hot keys' duplicates decided:
    `duplicate_of` = the id of their key's first row, spread over every bucket."""
    columns = [KEY, BUCKET, SHARD, ROW, id_column]
    rest, hits = split_hot(batch.select(columns), KEY, hot)
    hits = hits.filter(pc.not_equal(order_key(hits), hits[FIRST]))
    none = pa.nulls(rest.num_rows, pa.string())
    rest = rest.append_column(DUPLICATE_OF, none).append_column(MEMBER, none)
    bucket = spread(order_key(hits), batch.schema.field(BUCKET).type)
    hits = hits.set_column(hits.column_names.index(BUCKET), BUCKET, bucket)
    hits = hits.select(columns).append_column(DUPLICATE_OF, hits[FIRST_ID])
    hits = hits.append_column(MEMBER, row_ids(hits, id_column))
    return pa.concat_tables([rest, hits.cast(rest.schema)])


def _resolve_rest(bucket: pa.Table, id_column: str) -> pa.Table:
    """The decided rows of a bucket as they are, the others resolved as usual."""
    decided = pc.is_valid(bucket[DUPLICATE_OF])
    rest = bucket.filter(pc.invert(decided)).drop_columns([DUPLICATE_OF, MEMBER])
    found = keep_first_per_key(rest, KEY, id_column)
    hits = bucket.filter(decided).select(found.column_names)
    merged = pa.concat_tables([found, hits], promote_options="permissive")
    return merged.sort_by([(SHARD, "ascending"), (ROW, "ascending")])
