"""On-disk shuffle and summaries: the local runner's way to run them, and the Ray runner's for
inputs small enough to be one task. Partition every source into bucket files, then resolve the
buckets one at a time (memory: one batch while partitioning, one bucket while resolving)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.global_step import BUCKET
from pipeline.io import atomic_write_parquet
from pipeline.shuffle import Resolve, Source, Summary, fold_buckets


def shuffle_on_disk(sources: list[Source], resolve: Resolve, dest: Path, buckets: int) -> None:
    """Group the prepared rows of `sources` by bucket; write `resolve(bucket)` under `dest`."""
    scratch = dest.parent / f"{dest.name}.buckets"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for source in sources:
            for path in source.files:
                for batch in pq.ParquetFile(path).iter_batches(columns=source.columns):
                    table = source.prepare(pa.Table.from_batches([batch]))
                    if not table.num_rows:
                        continue
                    table = fold_buckets(table, buckets)
                    for b in pc.unique(table[BUCKET]).to_pylist():
                        part = table.filter(pc.equal(table[BUCKET], b))
                        if b not in writers:
                            writers[b] = pq.ParquetWriter(scratch / f"{b:05d}.parquet", part.schema)
                        writers[b].write_table(part.cast(writers[b].schema))
    finally:
        for writer in writers.values():
            writer.close()
    dest.mkdir(parents=True, exist_ok=True)
    for b in sorted(writers):
        found = resolve(pq.read_table(scratch / f"{b:05d}.parquet"))
        if found.num_rows:
            atomic_write_parquet(found, dest / f"bucket-{b:05d}.parquet")
    shutil.rmtree(scratch)


def summarise_files(files: list[Path], columns: list[str], fn: Summary, size: int) -> np.ndarray:
    """Sum of `fn` (an int64 array of `size`) over every batch of `files`, one at a time."""
    total = np.zeros(size, np.int64)
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=columns):
            total += fn(pa.Table.from_batches([batch]))
    return total
