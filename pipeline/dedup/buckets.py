"""On-disk bucketing for global steps: the local runner's stand-in for a shuffle."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.columns import DUPLICATE_OF, ROW, SHARD
from pipeline.dedup.base import Deduplicator
from pipeline.global_step import BUCKET
from pipeline.io import atomic_write_parquet


def key_columns(step: Deduplicator) -> list[str]:
    """Columns a resolve pass reads."""
    return [*step.key_columns, BUCKET, SHARD, ROW, step.params.id_column]


def assign_buckets(table: pa.Table, buckets: int) -> pa.Table:
    """Fold the step's non-negative `_bucket` hash into [0, buckets)."""
    folded = pa.array(table[BUCKET].to_numpy().astype(np.int64) % buckets)
    return table.set_column(table.column_names.index(BUCKET), BUCKET, folded)


def resolve_on_disk(
    step: Deduplicator, sources: list[Path], dest: Path, buckets: int
) -> dict[str, int]:
    """Partition keys from `sources` into bucket files, resolve each, write decisions to `dest`."""
    scratch = dest.parent / f"{dest.name}.buckets"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for source in sources:
            for batch in pq.ParquetFile(source).iter_batches(columns=key_columns(step)):
                table = assign_buckets(pa.Table.from_batches([batch]), buckets)
                for b in pc.unique(table[BUCKET]).to_pylist():
                    part = table.filter(pc.equal(table[BUCKET], b))
                    if b not in writers:
                        writers[b] = pq.ParquetWriter(
                            scratch / f"bucket-{b:05d}.parquet", part.schema
                        )
                    writers[b].write_table(part)
    finally:
        for writer in writers.values():
            writer.close()
    dest.mkdir(parents=True, exist_ok=True)
    duplicates = clusters = 0
    for b in sorted(writers):
        found = step.resolve(pq.read_table(scratch / f"bucket-{b:05d}.parquet"))
        duplicates += found.num_rows
        clusters += len(pc.unique(found[DUPLICATE_OF])) if found.num_rows else 0
        atomic_write_parquet(found, dest / f"bucket-{b:05d}.parquet")
    shutil.rmtree(scratch)
    return {"duplicates": duplicates, "clusters": clusters, "buckets": buckets}
