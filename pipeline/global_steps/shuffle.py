"""The two whole-dataset primitives every runner provides to global steps.

- `shuffle(sources, resolve, dest, buckets)`: read each `Source`, let its `prepare` add a
  non-negative `_bucket` hash (it may also filter, reshape or explode rows), fold the hash into
  `buckets` groups, call `resolve` once per group and write what it returns under `dest`.
  Locally this is an on-disk partition pass; on Ray, map tasks writing one file per bucket
  range and one reduce task per range (pipeline/global_steps/ray_shuffle.py).
- `summarise(files, columns, fn, size)`: the element-wise sum of `fn(batch)` (an int64 array
  of `size`) over every batch of `files`; only that sum reaches the driver.

A global step's decision is a chain of these passes, so its memory is bounded by the largest
bucket (set with `rows_per_bucket`), never by the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.core.columns import ROW, SHARD
from pipeline.global_steps.base import BUCKET
from pipeline.io.storage import Location

Prepare = Callable[[pa.Table], pa.Table]
Resolve = Callable[[pa.Table], pa.Table]
Summary = Callable[[pa.Table], np.ndarray]


def keep_as_is(table: pa.Table) -> pa.Table:
    """A `prepare` for tables that already carry `_bucket`."""
    return table


@dataclass(frozen=True)
class Source:
    """Parquet files read as one side of a shuffle: the columns read and how to prepare each
    batch. Every source of one shuffle must prepare batches to the same schema."""

    files: list[Location]
    columns: list[str]
    prepare: Prepare = keep_as_is


def fold_buckets(table: pa.Table, buckets: int) -> pa.Table:
    """Fold the non-negative `_bucket` hash into [0, buckets)."""
    folded = pa.array(table[BUCKET].to_numpy().astype(np.int64) % buckets)
    return table.set_column(table.column_names.index(BUCKET), BUCKET, folded)


def prepare_batch(batch: pa.Table, prepare: Prepare, buckets: int) -> pa.Table:
    """A source's prepared rows with their bucket folded into [0, buckets)."""
    table = prepare(batch)
    return fold_buckets(table, buckets) if table.num_rows else table


def parquet_files(folder: Location) -> list[Location]:
    """The Parquet files a pass wrote under `folder`, in name order."""
    return folder.glob("*.parquet")


def mix64(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64) over integers: spreads ids evenly over buckets."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def order_key(table: pa.Table) -> pa.Array:
    """A single int64 giving input order: shard index, then row within the shard."""
    shard = table[SHARD].to_numpy().astype(np.int64)
    row = table[ROW].to_numpy().astype(np.int64)
    return pa.array((shard << 40) | row)


def bucket_of(values: np.ndarray) -> pa.Array:
    """A non-negative int64 `_bucket` hash for each integer key."""
    return pa.array((mix64(values) >> np.uint64(1)).astype(np.int64))
