"""The Ray runner's shuffle: sorted runs on disk, then one task per bucket.

Map tasks read groups of source files, prepare their rows and buffer them up to `RUN_BYTES`;
each full buffer is sorted by bucket and written under the scratch folder as one *run*, a
Parquet file with one row group per bucket. Reduce tasks each read their bucket's row group
from every run, resolve it and write `bucket-NNNNN.parquet`. A map task holds one buffer and a
reduce task one bucket, whatever the data size (Ray Data's shuffles keep per-partition state
on the map side, which grows with the partition count). Runs live beside the destination, on
the run's output filesystem or object store, so any node can read them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.disk_shuffle import prepared_tables
from pipeline.global_steps.shuffle import Resolve, Source
from pipeline.io.storage import Location, parquet_file, parquet_metadata, write_parquet

RUN_BYTES = 32 << 20  # rows a map task buffers before writing them as one sorted run
RowGroups = dict[int, list[int]]  # bucket -> row groups holding it, in one run


def write_runs(
    sources: list[Source], buckets: int, scratch: Location, task: int
) -> list[tuple[Location, RowGroups]]:
    """Prepare every row of `sources`; write them as sorted runs; return each run's row groups
    per bucket."""
    runs: list[tuple[Location, RowGroups]] = []
    buffer: list[pa.Table] = []
    size = 0

    def flush() -> None:
        if not buffer:
            return
        table = pa.concat_tables(buffer, promote_options="permissive").sort_by(BUCKET)
        buffer.clear()
        run = scratch / f"run-{task:05d}-{len(runs):05d}.parquet"
        _, starts = np.unique(table[BUCKET].to_numpy(), return_index=True)
        with run.writing() as stream, pq.ParquetWriter(stream, table.schema) as writer:
            for lo, hi in zip(starts, [*starts[1:], table.num_rows], strict=True):
                writer.write_table(table.slice(lo, hi - lo), row_group_size=max(hi - lo, 1))
        runs.append((run, _row_groups(run)))

    for table in prepared_tables(sources, buckets):
        buffer.append(table)
        size += table.nbytes
        if size >= RUN_BYTES:
            flush()
            size = 0
    flush()
    return runs


def _row_groups(run: Location) -> RowGroups:
    """Which row groups of a run hold which bucket (from the footer's column statistics)."""
    footer = parquet_metadata(run)
    column = footer.schema.to_arrow_schema().get_field_index(BUCKET)
    found: RowGroups = defaultdict(list)
    for i in range(footer.num_row_groups):
        found[int(footer.row_group(i).column(column).statistics.min)].append(i)
    return dict(found)


def resolve_bucket(
    bucket: int, pieces: list[tuple[Location, list[int]]], resolve: Resolve, dest: Location
) -> None:
    """Read one bucket's row groups from every run, resolve them, write the result."""
    parts = [parquet_file(run).read_row_groups(groups) for run, groups in pieces]
    found = resolve(pa.concat_tables(parts, promote_options="permissive"))
    if found.num_rows:
        write_parquet(found, dest / f"bucket-{bucket:05d}.parquet")


def shuffle_with_tasks(
    ray: Any, sources: list[Source], resolve: Resolve, dest: Location, buckets: int, tasks: int
) -> None:
    """Map tasks over `tasks` groups of files, then one reduce task per bucket found."""
    scratch = dest.parent / f"{dest.name}.runs"
    scratch.remove()  # leftovers of an interrupted attempt
    scratch.mkdir()
    groups = [
        [Source(s.files[i::tasks], s.columns, s.prepare) for s in sources] for i in range(tasks)
    ]
    mapper = ray.remote(num_cpus=1)(write_runs)
    written = ray.get([mapper.remote(g, buckets, scratch, i) for i, g in enumerate(groups)])
    by_bucket: dict[int, list[tuple[Location, list[int]]]] = defaultdict(list)
    for runs in written:
        for run, row_groups in runs:
            for bucket, indices in row_groups.items():
                by_bucket[bucket].append((run, indices))
    reducer = ray.remote(num_cpus=1)(resolve_bucket)
    shared = ray.put(resolve)  # one copy in the object store, not one per task
    ray.get([reducer.remote(b, p, shared, dest) for b, p in sorted(by_bucket.items())])
    scratch.remove()
