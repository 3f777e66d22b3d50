"""Deduplicators: global steps whose decisions are duplicates, found bucket by bucket.

`keys(batch)` adds a key and a `_bucket` hash; the executor groups rows by bucket (an on-disk
pass locally, map and reduce tasks over bucket-range files on Ray) and `resolve(bucket)` returns the
duplicates in it; the next stage rejects them with `duplicate:<method>` and the id kept.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from pipeline.core.columns import (
    DUPLICATE_OF,
    REJECT_REASON,
    REJECTED_BY,
    ROW,
    SHARD,
    set_column,
    text_table,
)
from pipeline.core.executor import Executor
from pipeline.dedup.report import MEMBER, cluster_report
from pipeline.global_steps.base import BUCKET, GlobalParams, GlobalStep, reject_where
from pipeline.global_steps.by_shard import (
    DUPLICATES,
    index_by_shard,
    index_folder,
    index_parts,
    load_shard,
    scan_shard,
)
from pipeline.global_steps.shuffle import Source, order_key, parquet_files
from pipeline.io.storage import Location, write_parquet

ORDER = "_order"


class DedupParams(GlobalParams):
    """Parameters every deduplicator takes."""

    rows_per_bucket: int = Field(
        1_000_000, gt=0, description="Rows per resolve bucket; bounds each worker's memory."
    )


class Deduplicator(GlobalStep):
    """Base of dedup steps: keep one row per group of duplicates, reject the others."""

    Params: ClassVar[type[DedupParams]] = DedupParams
    params: DedupParams
    last_report: dict[str, Any] | None = None  # cluster report of the last `split`

    def keys(self, batch: pa.Table) -> pa.Table:
        """`batch` with the key columns added, plus `_bucket` in [0, 2**31)."""
        raise NotImplementedError

    def resolve(self, bucket: pa.Table) -> pa.Table:
        """Duplicates among the rows of one bucket: (`_shard`, `_row`, `duplicate_of`, `member`:
        the duplicate's own id)."""
        raise NotImplementedError

    def decide(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int
    ) -> dict[str, Any]:
        """Write the duplicates found over every row of `sources` under `dest`; return the
        cluster report."""
        buckets = bucket_count(rows, self.params.rows_per_bucket)
        stats = self.find(executor, sources, dest, rows, buckets)
        report = cluster_report(executor, dest)
        parts = index_parts(report["duplicates"], len(sources))
        index_by_shard(executor, parquet_files(dest), index_folder(dest), DUPLICATES, parts)
        return {"buckets": buckets, **stats, **report}

    def find(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int, buckets: int
    ) -> dict[str, Any]:
        """Write duplicates among `rows` rows (grouped in `buckets`) under `dest`; return stats.
        Default: one shuffle of the key columns by `_bucket`, `resolve` per bucket."""
        columns = [*self.key_columns, BUCKET, SHARD, ROW, self.params.id_column]
        executor.shuffle([Source(sources, columns)], self.resolve, dest, buckets)
        return {}

    def load_decisions(self, folder: Location, shard: int) -> dict[int, str]:
        """Row -> id kept, for one shard's duplicates: from the by-shard index, or (decisions
        written before it existed) by filtering every bucket's file."""
        table = load_shard(index_folder(folder), shard)
        if table is None:
            files = parquet_files(folder)
            if not files:
                return {}
            table = scan_shard(files, [ROW, DUPLICATE_OF], shard)
        return dict(zip(table[ROW].to_pylist(), table[DUPLICATE_OF].to_pylist(), strict=True))

    def apply_decisions(self, chunk: pa.Table, duplicates: dict[int, str]) -> pa.Table:
        """Reject a chunk's duplicates (`duplicate:<method>`, `duplicate_of` = the id kept)."""
        chunk = chunk.drop_columns(
            [c for c in dict.fromkeys((*self.key_columns, BUCKET)) if c in chunk.column_names]
        )
        kept_id = pa.array([duplicates.get(r) for r in chunk[ROW].to_pylist()], pa.string())
        if DUPLICATE_OF in chunk.column_names:  # an earlier step of the stage rejected some
            mine = pc.and_(pc.is_valid(kept_id), pc.is_null(chunk[REJECT_REASON]))
            kept_id = pc.if_else(mine, kept_id, chunk[DUPLICATE_OF])
        chunk = reject_where(chunk, pc.is_valid(kept_id), f"duplicate:{self.method}", self.name)
        return set_column(chunk, DUPLICATE_OF, kept_id)

    def split(self, data: Any) -> tuple[pa.Table, pa.Table]:
        """In-memory use on one table, without Ray: (kept rows, rejected duplicates with
        reasons). Runs the same passes as a pipeline run, on a temporary folder."""
        from pipeline.run.local_executor import LocalExecutor

        table, invalid = text_table(data, self.text_input(), self.requires_records)
        if invalid.null_count != len(invalid):  # no text, no duplicate: rejected as invalid
            usable = pc.is_null(invalid)
            kept, rejected = self.split(table.filter(usable))
            unusable = table.filter(pc.invert(usable))
            unusable = set_column(unusable, REJECT_REASON, invalid.filter(pc.invert(usable)))
            by = pa.array([self.name] * unusable.num_rows, pa.string())
            unusable = set_column(unusable, REJECTED_BY, by)
            return kept, pa.concat_tables([rejected, unusable], promote_options="permissive")
        id_column = self.params.id_column
        if id_column not in table.column_names:
            ids = pa.array([str(i) for i in range(table.num_rows)])
            table = table.append_column(id_column, ids)
        original_ids = table[id_column]
        work = table.append_column(SHARD, pa.array(np.zeros(table.num_rows, np.int32)))
        work = work.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
        # Ids are compared and reported as strings; the rows keep their own ids.
        work = set_column(work, id_column, row_ids(work, id_column))
        work = self.keys(work)
        with tempfile.TemporaryDirectory(prefix="tamis-dedup-") as tmp:
            keys = Location.of(tmp) / "keys.parquet"
            write_parquet(work, keys)
            dest = Location.of(tmp) / "decisions"
            dest.mkdir()
            self.last_report = self.decide(LocalExecutor(), [keys], dest, table.num_rows)
            work = work.append_column(REJECT_REASON, pa.nulls(table.num_rows, pa.string()))
            work = work.append_column(REJECTED_BY, pa.nulls(table.num_rows, pa.string()))
            marked = self.apply_decisions(work, self.load_decisions(dest, 0))
        marked = set_column(marked, id_column, original_ids)
        kept_mask = pc.is_null(marked[REJECT_REASON])
        marked = marked.drop_columns([SHARD, ROW])
        kept = marked.filter(kept_mask).drop_columns([REJECT_REASON, REJECTED_BY, DUPLICATE_OF])
        return kept, marked.filter(pc.invert(kept_mask))


def bucket_count(rows: int, rows_per_bucket: int) -> int:
    """How many buckets keep each one near `rows_per_bucket` rows. No cap: the Ray shuffle's
    file count follows its bucket ranges (ray_shuffle.MAX_RANGES), not the buckets."""
    return max(1, math.ceil(rows / rows_per_bucket))


def unpack_order(order: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """(`_shard`, `_row`) arrays from `order_key` values."""
    return pa.array((order >> 40).astype(np.int32)), pa.array(order & ((1 << 40) - 1))


def row_ids(table: pa.Table, id_column: str) -> pa.Array:
    """The id column as strings, a missing id replaced by `<shard>:<row>` (an id of any type
    works as a `duplicate_of` value, and a null one cannot hide a duplicate)."""
    ids = pc.cast(table[id_column], pa.string())
    if ids.null_count == 0:
        return ids
    fallback = pc.binary_join_element_wise(
        pc.cast(table[SHARD], pa.string()), pc.cast(table[ROW], pa.string()), ":"
    )
    return pc.coalesce(ids, fallback)


def with_hash_key(batch: pa.Table, values: pa.Array | pa.ChunkedArray, key: str) -> pa.Table:
    """`batch` with `key` = the 128-bit xxh3 digest of each string in `values` (null for a
    null value, which is never anyone's duplicate) and `_bucket` spread by that digest."""
    digests = [
        xxhash.xxh3_128_digest(v.encode("utf-8")) if v is not None else None
        for v in values.to_pylist()
    ]
    # The first 4 bytes of a digest spread keys evenly over buckets.
    head = b"".join(d[:4] if d is not None else b"\0\0\0\0" for d in digests)
    bucket = np.frombuffer(head, dtype="<u4") & 0x7FFFFFFF
    batch = set_column(batch, key, pa.array(digests, pa.binary()))
    return set_column(batch, BUCKET, pa.array(bucket.astype(np.int32)))


def keep_first_per_key(bucket: pa.Table, key: str, id_column: str) -> pa.Table:
    """Rows that share `key` with an earlier row (input order), with the id of the first one."""
    if bucket.num_rows == 0:
        return pa.table(
            {
                SHARD: pa.array([], pa.int32()),
                ROW: pa.array([], pa.int64()),
                DUPLICATE_OF: pa.array([], pa.string()),
                MEMBER: pa.array([], pa.string()),
            }
        )
    rows = bucket.select([key, SHARD, ROW]).append_column(id_column, row_ids(bucket, id_column))
    rows = rows.append_column(ORDER, order_key(bucket))
    first = rows.group_by(key).aggregate([(ORDER, "min")]).rename_columns([key, "_first"])
    kept = rows.select([ORDER, id_column]).rename_columns(["_first", DUPLICATE_OF])
    joined = rows.join(first, key).join(kept, "_first")
    dups = joined.filter(pc.not_equal(joined[ORDER], joined["_first"]))
    dups = dups.select([SHARD, ROW, DUPLICATE_OF, id_column]).rename_columns(
        [SHARD, ROW, DUPLICATE_OF, MEMBER]
    )
    return dups.sort_by([(SHARD, "ascending"), (ROW, "ascending")])
