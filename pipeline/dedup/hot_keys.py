"""Hot keys: groups with more rows than a bucket should hold, found by a cheap count pass and
decided map-side, so that no reducer holds more than about `rows_per_bucket` rows.

A shuffle sends every row of a key to one bucket: 50M copies of one page, a band key shared by
a giant cluster or the centre of a giant component would be one reducer's job. The resolvers
that meet such groups need, per key, only its first row (smallest order: the row kept, or the
smallest neighbour) to decide each of its other rows. So:
1. a count pass (`summarise`, reading the key columns only) sums a two-row count-min sketch of
   the keys; most runs stop here;
2. when a key may pass `limit` rows, the rows of those candidate keys are combined per batch
   before a shuffle to (key, first order, its id, count), and summed per key: the hot keys and
   their first rows, a small table the driver reads (at most HOT_SHARE rows per bucket);
3. the step's own shuffle joins each hot key's rows with that table in `prepare` (map-side),
   decides them there and spreads them over every bucket; the other keys go to `resolve` as
   before. The decision is the same; only which file holds it changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.executor import Executor
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source, mix64, parquet_files
from pipeline.io.storage import Location, read_table

HOT_SHARE = 4  # a key is hot above rows_per_bucket / HOT_SHARE rows
MIN_WIDTH, MAX_WIDTH = 1 << 10, 1 << 17  # sketch cells per row (2 rows of int64: <= 2 MiB)
FIRST, FIRST_ID = "_first", "_first_id"  # a hot row's key's first order and id, once joined
HOT_SCHEMA = pa.schema([("order", pa.int64()), ("id", pa.string()), ("count", pa.int64())])


@dataclass(frozen=True)
class Grouping:
    """How one shuffle groups its rows, for finding hot keys: the columns the keys alone need
    and every key occurrence in a batch; the columns the rows need and the rows as a table of
    `key` (the same values), `order` (int64, smallest first) and `id` (string)."""

    key_columns: list[str]
    keys: Callable[[pa.Table], pa.Array | pa.ChunkedArray]
    row_columns: list[str]
    rows: Callable[[pa.Table], pa.Table]


def hot_limit(rows_per_bucket: int) -> int:
    """Rows above which a key is hot."""
    return max(1, rows_per_bucket // HOT_SHARE)


def sketch_width(occurrences: int, limit: int) -> int:
    """Cells per sketch row: enough that an average cell stays well under `limit`."""
    want = 1 << max(0, math.ceil(math.log2(max(1, 8 * occurrences // limit))))
    return min(MAX_WIDTH, max(MIN_WIDTH, want))


def _cells(hashes: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each hash's cell in the sketch's first row and in its second (offset by `width`)."""
    hashes = hashes.astype(np.uint64, copy=False)
    mask = np.uint64(width - 1)
    low = (hashes & mask).astype(np.int64)
    return low, ((hashes >> np.uint64(32)) & mask).astype(np.int64) + width


def _sketch(
    batch: pa.Table, keys: Callable[[pa.Table], pa.Array | pa.ChunkedArray], width: int
) -> np.ndarray:
    """A batch's key counts in both sketch rows."""
    low, high = _cells(key_hashes_of(keys(batch)), width)
    return np.bincount(np.concatenate([low, high]), minlength=2 * width).astype(np.int64)


def key_hashes_of(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A well-mixed uint64 per non-null key: integers mixed, binary keys (digests, at least 8
    bytes) read from their first 8 bytes."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    keys = keys.drop_null()
    if pa.types.is_integer(keys.type):
        return mix64(keys.to_numpy().astype(np.int64).view(np.uint64))
    if not len(keys):
        return np.zeros(0, np.uint64)
    offsets = np.frombuffer(keys.buffers()[1], np.int32)[keys.offset : keys.offset + len(keys) + 1]
    data = np.frombuffer(keys.buffers()[2], np.uint8)
    if int(np.diff(offsets).min()) < 8:
        raise ValueError("binary keys need at least 8 bytes")
    head = data[offsets[:-1, None] + np.arange(8)]
    return np.ascontiguousarray(head).view("<u8").reshape(-1)


def first_per_key(table: pa.Table) -> pa.Table:
    """One row per `key`: its smallest `order`, that row's `id`, and the summed `count`."""
    if not table.num_rows:
        return table.select(["key", "order", "id", "count"])
    rows = table.sort_by([("key", "ascending"), ("order", "ascending")])
    keys = rows["key"].combine_chunks()
    changed = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    starts = np.flatnonzero(np.r_[True, changed.to_numpy(zero_copy_only=False)])
    counts = np.add.reduceat(rows["count"].to_numpy(), starts)
    firsts = rows.select(["key", "order", "id"]).take(pa.array(starts))
    return firsts.append_column("count", pa.array(counts.astype(np.int64)))


def _candidates(batch: pa.Table, grouping: Grouping, hot_cells: np.ndarray, width: int) -> pa.Table:
    """The rows of keys the sketch marks as possibly hot, combined per key (map side)."""
    rows = grouping.rows(batch).select(["key", "order", "id"])
    rows = rows.filter(pc.is_valid(rows["key"]))
    low, high = _cells(key_hashes_of(rows["key"]), width)
    rows = rows.filter(pa.array(hot_cells[low] & hot_cells[high]))
    ones = pa.array(np.ones(rows.num_rows, np.int64))
    return _hot_rows(first_per_key(rows.append_column("count", ones)))


def _hot_rows(table: pa.Table) -> pa.Table:
    """Combined rows bucketed by key."""
    bucket = (key_hashes_of(table["key"]) >> np.uint64(1)).astype(np.int64)
    return table.append_column(BUCKET, pa.array(bucket))


def _over_limit(bucket: pa.Table, limit: int) -> pa.Table:
    """The keys of one bucket with more than `limit` rows in all, with their first rows."""
    firsts = first_per_key(bucket.drop_columns([BUCKET]))
    return firsts.filter(pc.greater(firsts["count"], limit))


def find_hot(
    executor: Executor,
    files: list[Location],
    grouping: Grouping,
    occurrences: int,
    rows_per_bucket: int,
    buckets: int,
    work: Location,
) -> pa.Table:
    """The keys with more than `hot_limit(rows_per_bucket)` rows in `files` (`occurrences` key
    rows in all, an estimate), for a shuffle into `buckets`: `key`, `order` and `id` of its
    first row, `count`. Empty without reading anything when every row fits one bucket, and
    after one read of the key columns when no key can be that large."""
    limit = hot_limit(rows_per_bucket)
    if buckets <= 1 or occurrences <= rows_per_bucket or not files:
        return _empty_hot()
    width = sketch_width(occurrences, limit)
    count = partial(_sketch, keys=grouping.keys, width=width)
    sketch = executor.summarise(files, grouping.key_columns, count, 2 * width)
    first_row, second_row = sketch[:width], sketch[width:]
    if not (first_row > limit).any() or not (second_row > limit).any():
        return _empty_hot()
    hot_cells = sketch > limit
    # At most this many rows are candidates (before they are combined per batch).
    bound = int(min(first_row[first_row > limit].sum(), second_row[second_row > limit].sum()))
    candidates = partial(_candidates, grouping=grouping, hot_cells=hot_cells, width=width)
    folder = work / "hot-keys"
    executor.shuffle(
        [Source(files, grouping.row_columns, candidates)],
        partial(_over_limit, limit=limit),
        folder,
        max(1, math.ceil(bound / rows_per_bucket)),
    )
    parts = [read_table(f) for f in parquet_files(folder)]
    folder.remove()
    if not parts:
        return _empty_hot()
    return pa.concat_tables(parts).sort_by([("count", "descending"), ("order", "ascending")])


def _empty_hot() -> pa.Table:
    """No hot keys."""
    return pa.schema([("key", pa.int64()), *HOT_SCHEMA]).empty_table()


def split_hot(table: pa.Table, key: str, hot: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(rows whose `key` is not hot, hot rows with their key's first order and id as `FIRST`
    and `FIRST_ID`)."""
    hit = pc.is_in(table[key], value_set=hot["key"].combine_chunks())
    firsts = hot.select(["key", "order", "id"]).rename_columns([key, FIRST, FIRST_ID])
    hits = table.filter(hit).join(firsts, key, use_threads=False)
    return table.filter(pc.invert(hit)), hits


def spread(values: pa.Array | pa.ChunkedArray | np.ndarray, like: pa.DataType) -> pa.Array:
    """A bucket hash (31 bits, of type `like`) spreading integer values over every bucket."""
    values = values if isinstance(values, np.ndarray) else values.to_numpy()
    mixed = mix64(values.astype(np.int64).view(np.uint64)) >> np.uint64(33)
    return pa.array(mixed.astype(np.int64)).cast(like)
