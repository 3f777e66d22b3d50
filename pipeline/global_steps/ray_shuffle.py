"""The Ray runner's shuffle: map tasks write one file per bucket range, one reduce task per
range.

The buckets are cut into contiguous *ranges*, `RANGES_PER_CPU` per CPU of the cluster and at
most `MAX_RANGES`. A map task reads a share of
the source files, prepares their rows and buffers them up to `RUN_BYTES`; each full buffer (a
*run*) is sorted by bucket, cut by range and appended as one row group to the task's file of
each range, `<dest>.runs/range-RRRRR/map-TTTTT-PPP.parquet`. A reduce task lists its range's
folder, reads each file once from start to end (its footer: one row group per run), groups the
rows by bucket as the local runner does (`disk_shuffle.group_and_resolve`: in memory within a
budget, else spilled to the worker's temp folder), resolves each bucket and writes
`bucket-NNNNN.parquet`.

So a reducer reads its range's rows plus one small footer per map task, however many runs and
buckets there are, and the driver holds only per-bucket byte totals (never a per-run index):
each reducer declares the memory its largest bucket needs. Files are named by task and range,
and each is published whole (`Location.writing`): a retried task rewrites its own files, so a
retry never duplicates rows. Ray retries tasks that fail on storage errors (`OSError`) or die
with their node; runs live beside the destination, on the run's output filesystem or object
store, so any node can read them and a lost node loses only its running tasks.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.disk_shuffle import BUFFER_BYTES, group_and_resolve, prepared_tables
from pipeline.global_steps.shuffle import Resolve, Source
from pipeline.io.storage import Location

RUN_BYTES = 32 << 20  # rows a map task buffers before writing them out as one run
RANGES_PER_CPU = 4  # reduce tasks per CPU: enough to even out ranges of unequal sizes
MAX_RANGES = 256  # bounds the files per map task, hence files per shuffle (tasks x ranges)
RETRIES = 4  # per task, on storage errors and lost workers
RETRY_ON = [OSError]  # pyarrow's IO errors (a 503, a reset connection) are OSErrors
RESOLVE_FACTOR = 4  # memory a resolve takes per byte of its bucket's rows (Arrow copies, joins)
REDUCE_BASE_BYTES = 256 << 20  # a reduce task's own memory besides its largest bucket
WHOLE_FILE_BYTES = 8 << 20  # a reducer reads a range file up to this size in one request


def range_width(buckets: int, ranges: int) -> int:
    """Buckets per range, so that there are at most `ranges` ranges."""
    return math.ceil(buckets / max(1, min(buckets, ranges)))


def range_count(cpus: float) -> int:
    """How many bucket ranges (reduce tasks) a cluster of `cpus` CPUs gets."""
    return max(1, min(MAX_RANGES, RANGES_PER_CPU * int(cpus)))


def range_folder(scratch: Location, index: int) -> Location:
    """Where the map tasks write the rows of one bucket range."""
    return scratch / f"range-{index:05d}"


class _RangeFiles:
    """One map task's open file per bucket range; a run that the file's schema cannot hold
    (a column typed null so far, say) starts a new part file."""

    def __init__(self, scratch: Location, task: int, stack: ExitStack):
        self.scratch, self.task, self.stack = scratch, task, stack
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.parts: dict[int, int] = {}

    def write(self, index: int, rows: pa.Table) -> None:
        writer = self.writers.get(index)
        if writer is not None and not rows.schema.equals(writer.schema):
            try:
                rows = rows.cast(writer.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                writer.close()
                writer = None
        if writer is None:
            part = self.parts.get(index, -1) + 1
            self.parts[index] = part
            name = f"map-{self.task:05d}-{part:03d}.parquet"
            stream = self.stack.enter_context((range_folder(self.scratch, index) / name).writing())
            writer = self.stack.enter_context(pq.ParquetWriter(stream, rows.schema))
            self.writers[index] = writer
        writer.write_table(rows, row_group_size=max(rows.num_rows, 1))


def write_ranges(
    sources: list[Source], buckets: int, scratch: Location, task: int, width: int
) -> np.ndarray:
    """Prepare every row of `sources`; write them in runs to one file per bucket range (of
    `width` buckets); return the bytes (in memory) each bucket received."""
    received = np.zeros(buckets, np.float64)
    buffer: list[pa.Table] = []
    size = 0
    with ExitStack() as stack:  # files are published when the task succeeds, all of them
        files = _RangeFiles(scratch, task, stack)

        def flush() -> None:
            if not buffer:
                return
            run = pa.concat_tables(buffer, promote_options="permissive").sort_by(BUCKET)
            buffer.clear()
            of_row = run[BUCKET].to_numpy()
            cuts = np.searchsorted(of_row, np.arange(0, buckets + width, width))
            for index, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=False)):
                if hi > lo:
                    files.write(index, run.slice(lo, hi - lo))

        for table in prepared_tables(sources, buckets):
            per_row = table.nbytes / table.num_rows
            received += np.bincount(table[BUCKET].to_numpy(), minlength=buckets) * per_row
            buffer.append(table)
            size += table.nbytes
            if size >= RUN_BYTES:
                flush()
                size = 0
        flush()
    return received


def range_tables(folder: Location) -> Iterator[pa.Table]:
    """The rows of one bucket range, batch by batch, from every map task's file."""
    listed = folder.fs.get_file_info(pafs.FileSelector(folder.path, allow_not_found=True))
    for info in sorted(listed, key=lambda f: f.base_name):
        if info.type == pafs.FileType.File and info.base_name.endswith(".parquet"):
            for batch in _open_range_file(folder.fs, info).iter_batches():
                yield pa.Table.from_batches([batch])


def _open_range_file(fs: pafs.FileSystem, info: pafs.FileInfo) -> pq.ParquetFile:
    """A range file opened for reading. A small one is read in one request: opening it in
    place would read its last 64 KB (the footer and more) and then its row groups again."""
    if info.size > WHOLE_FILE_BYTES:
        return pq.ParquetFile(info.path, filesystem=fs)
    with fs.open_input_file(info.path) as stream:
        return pq.ParquetFile(pa.BufferReader(stream.read()))


def resolve_range(folder: Location, resolve: Resolve, dest: Location) -> None:
    """Resolve every bucket of one range (grouped on this worker's temp folder past a memory
    budget); write each bucket's result under `dest`, whole, so a retry overwrites it."""
    scratch = Path(tempfile.mkdtemp(prefix="tamis-range-"))
    try:
        group_and_resolve(range_tables(folder), resolve, dest, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def reduce_memory(largest_bucket: float, node_memory: float) -> int:
    """Bytes a reduce task asks Ray for: its buffers plus its largest bucket's resolve,
    capped at the largest node's memory so that the task can always be placed."""
    wanted = REDUCE_BASE_BYTES + BUFFER_BYTES + RESOLVE_FACTOR * largest_bucket
    return int(min(wanted, node_memory)) if node_memory else int(wanted)


def largest_node_memory(ray: Any) -> float:
    """The `memory` resource of the cluster's largest live node (0 when unknown)."""
    sizes = [n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")]
    return float(max(sizes, default=0))


def shuffle_with_tasks(
    ray: Any, sources: list[Source], resolve: Resolve, dest: Location, buckets: int, tasks: int
) -> dict[str, int]:
    """Map tasks over `tasks` groups of files, then one reduce task per bucket range that
    received rows; return the ranges and reduce tasks run."""
    scratch = dest.parent / f"{dest.name}.runs"
    scratch.remove()  # leftovers of an interrupted attempt
    scratch.mkdir()
    width = range_width(buckets, range_count(ray.cluster_resources().get("CPU", 1)))
    groups = [
        [Source(s.files[i::tasks], s.columns, s.prepare) for s in sources] for i in range(tasks)
    ]
    retry = {"max_retries": RETRIES, "retry_exceptions": RETRY_ON}
    mapper = ray.remote(num_cpus=1, **retry)(write_ranges)
    pending = [mapper.remote(g, buckets, scratch, i, width) for i, g in enumerate(groups)]
    received = np.zeros(buckets, np.float64)
    while pending:  # summed as they come: the driver holds one array per bucket, not per task
        done, pending = ray.wait(pending, num_returns=1)
        received += ray.get(done[0])
    starts = range(0, buckets, width)
    largest = [received[s : s + width].max() for s in starts]
    filled = [i for i, s in enumerate(starts) if received[s : s + width].any()]
    node_memory = largest_node_memory(ray)
    reducer = ray.remote(num_cpus=1, **retry)(resolve_range)
    shared = ray.put(resolve)  # one copy in the object store, not one per task
    ray.get(
        [
            reducer.options(memory=reduce_memory(largest[i], node_memory)).remote(
                range_folder(scratch, i), shared, dest
            )
            for i in filled
        ]
    )
    scratch.remove()
    return {"ranges": len(starts), "reduce_tasks": len(filled)}
