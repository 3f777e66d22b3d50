"""On-disk shuffle and summaries: the local runner's way to run them, and the Ray runner's for
inputs small enough to be one task, and the core of the Ray runner's reduce tasks. Partition
every source into bucket files, then resolve the buckets one at a time (memory: one batch and a
bounded buffer while partitioning, one bucket while resolving). Bucket files go beside `dest`
on a local or shared disk, else to this machine's temp folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Resolve, Source, Summary, prepare_batch
from pipeline.io.storage import Location, parquet_file, write_parquet

BUCKET_FLUSH_BYTES = 1 << 20  # a bucket's buffered rows are written once they reach this
BUFFER_BYTES = 16 << 20  # past this in all, the largest buffer is written


def prepared_tables(sources: list[Source], buckets: int) -> Iterator[pa.Table]:
    """Every source's rows, prepared, with `_bucket` folded into [0, buckets)."""
    for source in sources:
        for path in source.files:
            for batch in parquet_file(path).iter_batches(columns=source.columns):
                table = prepare_batch(pa.Table.from_batches([batch]), source.prepare, buckets)
                if table.num_rows:
                    yield table


def shuffle_on_disk(sources: list[Source], resolve: Resolve, dest: Location, buckets: int) -> None:
    """Group the prepared rows of `sources` by bucket; write `resolve(bucket)` under `dest`."""
    dest.remove()  # leftovers of an interrupted attempt
    local = dest.local_path()
    if local is None:
        scratch = Path(tempfile.mkdtemp(prefix="tamis-shuffle-"))
    else:
        scratch = local.parent / f"{local.name}.buckets"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
    try:
        group_and_resolve(prepared_tables(sources, buckets), resolve, dest, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def group_and_resolve(
    tables: Iterable[pa.Table], resolve: Resolve, dest: Location, scratch: Path
) -> None:
    """Group rows that carry a folded `_bucket` by bucket (spilling to part files under
    `scratch` past a memory budget), then write `resolve(bucket)` under `dest` for each bucket
    in order. The Ray runner's reduce tasks run this over their bucket range's files."""
    spill = _BucketSpill(scratch)
    for table in tables:
        table = table.sort_by(BUCKET)
        ids, starts = np.unique(table[BUCKET].to_numpy(), return_index=True)
        for b, lo, hi in zip(ids, starts, [*starts[1:], table.num_rows], strict=True):
            spill.add(int(b), table.slice(lo, hi - lo))
    dest.mkdir()
    for b in spill.buckets():
        found = resolve(spill.rows(b))
        if found.num_rows:
            write_parquet(found, dest / f"bucket-{b:05d}.parquet")


class _BucketSpill:
    """Rows buffered per bucket and written as part files when a bucket's buffer (or all of
    them together) grows past a budget: memory stays flat however many buckets there are, and
    each part file holds many batches' rows of one bucket. What is still buffered at the end
    is resolved from memory, so a pass that fits the budget writes nothing."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.parts: dict[int, list[Path]] = {}
        self.buffers: dict[int, list[pa.Table]] = {}
        self.sizes: dict[int, int] = {}
        self.total = 0

    def add(self, bucket: int, rows: pa.Table) -> None:
        self.buffers.setdefault(bucket, []).append(rows)
        self.sizes[bucket] = self.sizes.get(bucket, 0) + rows.nbytes
        self.total += rows.nbytes
        if self.sizes[bucket] >= BUCKET_FLUSH_BYTES:
            self.flush(bucket)
        elif self.total >= BUFFER_BYTES:
            self.flush(max(self.sizes, key=self.sizes.__getitem__))

    def flush(self, bucket: int) -> None:
        rows = pa.concat_tables(self.buffers.pop(bucket), promote_options="permissive")
        self.total -= self.sizes.pop(bucket)
        path = self.folder / f"{bucket:05d}-{len(self.parts.get(bucket, [])):05d}.parquet"
        pq.write_table(rows, path)
        self.parts.setdefault(bucket, []).append(path)

    def buckets(self) -> list[int]:
        """Every bucket that received rows, in order."""
        return sorted(self.parts.keys() | self.buffers.keys())

    def rows(self, bucket: int) -> pa.Table:
        """A bucket's rows, in the order they were added (part files first, then the
        buffer); its buffer is released."""
        parts = [pq.read_table(p) for p in self.parts.get(bucket, [])]
        parts += self.buffers.pop(bucket, [])
        self.total -= self.sizes.pop(bucket, 0)
        return pa.concat_tables(parts, promote_options="permissive")


def summarise_files(
    files: list[Location], columns: list[str], fn: Summary, size: int
) -> np.ndarray:
    """Sum of `fn` (an int64 array of `size`) over every batch of `files`, one at a time."""
    total = np.zeros(size, np.int64)
    for path in files:
        for batch in parquet_file(path).iter_batches(columns=columns):
            total += fn(pa.Table.from_batches([batch]))
    return total
