"""On-disk shuffle and summaries: the local runner's way to run them, and the Ray runner's for
inputs small enough to be one task. Partition every source into bucket files, then resolve the
buckets one at a time (memory: one batch while partitioning, one bucket while resolving)."""

from __future__ import annotations

import shutil
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.global_step import BUCKET
from pipeline.io import atomic_write_parquet
from pipeline.shuffle import Resolve, Source, Summary, fold_buckets

OPEN_FILES = 64


def _prepared(sources: list[Source], buckets: int) -> Iterator[pa.RecordBatch]:
    """Every source's rows, prepared, with `_bucket` folded into [0, buckets)."""
    for source in sources:
        for path in source.files:
            for batch in pq.ParquetFile(path).iter_batches(columns=source.columns):
                table = source.prepare(pa.Table.from_batches([batch]))
                if table.num_rows:
                    yield from fold_buckets(table, buckets).to_batches()


def shuffle_on_disk(sources: list[Source], resolve: Resolve, dest: Path, buckets: int) -> None:
    """Group the prepared rows of `sources` by bucket; write `resolve(bucket)` under `dest`."""
    scratch = dest.parent / f"{dest.name}.buckets"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    parts: dict[int, list[Path]] = {}
    with _BucketWriters(scratch, parts) as writers:
        for batch in _prepared(sources, buckets):
            table = pa.Table.from_batches([batch])
            for b in pc.unique(table[BUCKET]).to_pylist():
                writers.write(b, table.filter(pc.equal(table[BUCKET], b)))
    dest.mkdir(parents=True, exist_ok=True)
    for b in sorted(parts):
        found = resolve(pa.concat_tables([pq.read_table(p) for p in parts[b]]))
        if found.num_rows:
            atomic_write_parquet(found, dest / f"bucket-{b:05d}.parquet")
    shutil.rmtree(scratch)


class _BucketWriters:
    """Parquet writers, one per bucket, at most OPEN_FILES open at once: the least recently
    used is closed and a later write to its bucket starts a new part file, so memory stays
    flat however many buckets there are."""

    def __init__(self, folder: Path, parts: dict[int, list[Path]]):
        self.folder, self.parts = folder, parts
        self.open: OrderedDict[int, pq.ParquetWriter] = OrderedDict()

    def write(self, bucket: int, table: pa.Table) -> None:
        writer = self.open.pop(bucket, None)
        if writer is None:
            if len(self.open) >= OPEN_FILES:
                self.open.popitem(last=False)[1].close()
            path = self.folder / f"{bucket:05d}-{len(self.parts.get(bucket, [])):04d}.parquet"
            self.parts.setdefault(bucket, []).append(path)
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
        self.open[bucket] = writer

    def __enter__(self) -> _BucketWriters:
        return self

    def __exit__(self, *exc: object) -> None:
        for writer in self.open.values():
            writer.close()


def summarise_files(files: list[Path], columns: list[str], fn: Summary, size: int) -> np.ndarray:
    """Sum of `fn` (an int64 array of `size`) over every batch of `files`, one at a time."""
    total = np.zeros(size, np.int64)
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=columns):
            total += fn(pa.Table.from_batches([batch]))
    return total
