"""The Ray shuffle's storage reads and driver memory as runs grow: before (one run file per map
buffer with one row group per bucket; every reducer opens every run) and after (one file per map
task and bucket range; a reducer reads only its range's files), side by side.

Reads are counted by a pyarrow filesystem wrapper (`counting`, also used by
tests/pipeline/test_shuffle_layout.py) around the local disk. Map and reduce functions run in
this process, exactly as Ray's tasks would run them, on a simulated cluster of `--cpus` CPUs
(2 map tasks per CPU, as pipeline/run/ray_executor.py plans them; ranges per
ray_shuffle.range_count). Runs are tiny (`--rows-per-run`, one source file each) so that they
can be many on 2 cores. Writing an old run costs ~1 ms per row group (4,096 per run), so the
old layout writes `--distinct-old` runs for real and the others are hard links to them: the
same bytes and footers for every reader. Driver memory is the tracemalloc peak of turning the
map tasks' pickled results into what the reduce phase is scheduled from.

    .venv/bin/python benchmarks/bench_shuffle.py            # 100 / 300 / 1,000 runs
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.global_steps import ray_shuffle  # noqa: E402
from pipeline.global_steps.base import BUCKET  # noqa: E402
from pipeline.global_steps.disk_shuffle import prepared_tables  # noqa: E402
from pipeline.global_steps.shuffle import Resolve, Source  # noqa: E402
from pipeline.io.storage import Location, parquet_file, parquet_metadata  # noqa: E402

COLUMNS = ["_key", BUCKET, "_shard", "_row", "id"]


class _CountedFile:
    """A readable file that adds what it reads to its handler's counters."""

    def __init__(self, inner: pa.NativeFile, handler: CountingHandler, path: str):
        self.inner, self.handler, self.path = inner, handler, path

    def read(self, nbytes: int = -1) -> bytes:
        data = self.inner.read() if nbytes is None or nbytes < 0 else self.inner.read(nbytes)
        self.handler.bytes_read[self.path] += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def size(self) -> int:
        return self.inner.size()

    def close(self) -> None:
        self.inner.close()

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False


class CountingHandler(pafs.FileSystemHandler):
    """Forwards to `base`; counts bytes read per path and files opened for reading."""

    def __init__(self, base: pafs.FileSystem):
        self.base = base
        self.bytes_read: Counter[str] = Counter()
        self.opened: Counter[str] = Counter()

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.bytes_read.clear()
        self.opened.clear()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return self.base.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.base.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.base.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.base.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.base.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.base.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("refusing to empty the root folder")

    def delete_file(self, path: str) -> None:
        self.base.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.base.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.base.copy_file(src, dest)

    def _counted(self, path: str) -> pa.PythonFile:
        self.opened[path] += 1
        return pa.PythonFile(_CountedFile(self.base.open_input_file(path), self, path), mode="r")

    def open_input_stream(self, path: str) -> pa.PythonFile:
        return self._counted(path)

    def open_input_file(self, path: str) -> pa.PythonFile:
        return self._counted(path)

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        return self.base.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        return self.base.open_append_stream(path, metadata=metadata)


def counting(base: pafs.FileSystem) -> tuple[pafs.PyFileSystem, CountingHandler]:
    """A filesystem forwarding to `base`, and the handler holding its counts."""
    handler = CountingHandler(base)
    return pafs.PyFileSystem(handler), handler


# --- before: pipeline/global_steps/ray_shuffle.py as it was, kept for the side-by-side ---

RowGroups = dict[int, list[int]]  # bucket -> row groups holding it, in one run


def old_write_runs(
    sources: list[Source], buckets: int, scratch: Location, task: int
) -> list[tuple[Location, RowGroups]]:
    """Old map task: each buffer sorted by bucket, one run file with a row group per bucket."""
    runs: list[tuple[Location, RowGroups]] = []
    for table in prepared_tables(sources, buckets):  # one buffer per source file here
        table = table.sort_by(BUCKET)
        run = scratch / f"run-{task:05d}-{len(runs):05d}.parquet"
        _, starts = np.unique(table[BUCKET].to_numpy(), return_index=True)
        with run.writing() as stream, pq.ParquetWriter(stream, table.schema) as writer:
            for lo, hi in zip(starts, [*starts[1:], table.num_rows], strict=True):
                writer.write_table(table.slice(lo, hi - lo), row_group_size=max(hi - lo, 1))
        runs.append((run, old_row_groups(run)))
    return runs


def old_row_groups(run: Location) -> RowGroups:
    """Which row groups of a run hold which bucket (from the footer's statistics)."""
    footer = parquet_metadata(run)
    column = footer.schema.to_arrow_schema().get_field_index(BUCKET)
    found: RowGroups = defaultdict(list)
    for i in range(footer.num_row_groups):
        found[int(footer.row_group(i).column(column).statistics.min)].append(i)
    return dict(found)


def old_resolve_bucket(pieces: list[tuple[Location, list[int]]], resolve: Resolve) -> None:
    """Old reduce task: one bucket's row groups from every run (each run's footer parsed)."""
    parts = [parquet_file(run).read_row_groups(groups) for run, groups in pieces]
    resolve(pa.concat_tables(parts, promote_options="permissive"))


def old_index(payloads: list[bytes]) -> dict[int, list[tuple[Location, list[int]]]]:
    """Old driver: every map task's run index, turned into bucket -> (run, row groups)."""
    by_bucket: dict[int, list[tuple[Location, list[int]]]] = defaultdict(list)
    for payload in payloads:
        for run, row_groups in pickle.loads(payload):
            for bucket, indices in row_groups.items():
                by_bucket[bucket].append((run, indices))
    return by_bucket


def new_index(payloads: list[bytes], buckets: int, width: int) -> tuple[list[float], list[int]]:
    """New driver: per-bucket bytes summed, then each range's largest bucket and the ranges
    that received rows (what shuffle_with_tasks schedules reducers from)."""
    received = np.zeros(buckets, np.float64)
    for payload in payloads:
        received += pickle.loads(payload)
    starts = range(0, buckets, width)
    largest = [float(received[s : s + width].max()) for s in starts]
    return largest, [i for i, s in enumerate(starts) if received[s : s + width].any()]


# --- the measurement ---


def no_output(bucket: pa.Table) -> pa.Table:
    """A resolve that writes nothing: only the shuffle's reads are measured."""
    return bucket.slice(0, 0)


def traced(fn: Any, *args: Any) -> tuple[Any, int]:
    """`fn(*args)` and the peak bytes it allocated (tracemalloc)."""
    tracemalloc.start()
    try:
        result = fn(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def make_sources(folder: Path, files: int, rows: int) -> tuple[list[str], int]:
    """`files` Parquet files of shuffle keys (one run each); their paths and Arrow bytes."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    paths, nbytes = [], 0
    for shard in range(files):
        table = pa.table(
            {
                "_key": rng.integers(0, 2**62, rows),
                BUCKET: rng.integers(0, 2**31, rows),
                "_shard": pa.array(np.full(rows, shard, np.int32)),
                "_row": np.arange(rows, dtype=np.int64),
                "id": [f"{shard}:{r}" for r in range(rows)],
            }
        )
        path = folder / f"part-{shard:05d}.parquet"
        pq.write_table(table, path)
        paths.append(str(path))
        nbytes += table.nbytes
    return paths, nbytes


def folder_bytes(fs: pafs.FileSystem, folder: str) -> tuple[int, int]:
    """(files, bytes) under a folder, recursively."""
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    files = [i for i in infos if i.type == pafs.FileType.File]
    return len(files), sum(i.size for i in files)


def sample(items: list[int], count: int) -> list[int]:
    """`count` items spread evenly over `items`."""
    picks = np.linspace(0, len(items) - 1, min(count, len(items))).round().astype(int)
    return [items[i] for i in sorted(set(picks))]


class Measure:
    """Runs both layouts over the first `runs` source files; returns one table row each."""

    def __init__(self, args: argparse.Namespace, work: Path, sources: list[str]):
        self.args, self.work, self.sources = args, work, sources
        self.fs, self.counts = counting(pafs.LocalFileSystem())
        self.tasks = 2 * args.cpus
        self.width = ray_shuffle.range_width(args.buckets, ray_shuffle.range_count(args.cpus))
        self.distinct: list[tuple[Path, RowGroups]] | None = None

    def groups(self, runs: int) -> list[list[Source]]:
        files = [Location(self.fs, p) for p in self.sources[:runs]]
        return [[Source(files[i :: self.tasks], COLUMNS)] for i in range(self.tasks)]

    def reducers(self, jobs: list[Any], run_one: Any) -> dict[str, float]:
        """Mean storage reads of the sampled reduce jobs."""
        read, opened, seconds = [], [], []
        for job in sample(list(range(len(jobs))), self.args.sample):
            self.counts.reset()
            t0 = time.perf_counter()
            run_one(jobs[job])
            seconds.append(time.perf_counter() - t0)
            read.append(sum(self.counts.bytes_read.values()))
            opened.append(sum(self.counts.opened.values()))
        return {"read": np.mean(read), "opened": np.mean(opened), "s": np.mean(seconds)}

    def after(self, runs: int) -> dict[str, Any]:
        scratch = Location(self.fs, str(self.work / f"after-{runs}"))
        t0 = time.perf_counter()
        results = [
            ray_shuffle.write_ranges(g, self.args.buckets, scratch, i, self.width)
            for i, g in enumerate(self.groups(runs))
        ]
        map_s = time.perf_counter() - t0
        payloads = [pickle.dumps(r) for r in results]
        (_, filled), peak = traced(new_index, payloads, self.args.buckets, self.width)
        files, written = folder_bytes(self.fs, scratch.path)
        dest = Location(self.fs, str(self.work / f"after-{runs}-out"))
        folders = [ray_shuffle.range_folder(scratch, i) for i in filled]
        mean = self.reducers(folders, lambda f: ray_shuffle.resolve_range(f, no_output, dest))
        shutil.rmtree(scratch.path)
        return self.row("after", runs, len(filled), files, written, map_s, payloads, peak, mean)

    def before(self, runs: int) -> dict[str, Any]:
        folder = self.work / f"before-{runs}"
        folder.mkdir()
        if self.distinct is None:  # written once, for real, by the old map task
            first = [Location(self.fs, p) for p in self.sources[: self.args.distinct_old]]
            scratch = Location(self.fs, str(self.work / "before-distinct"))
            t0 = time.perf_counter()
            written = old_write_runs([Source(first, COLUMNS)], self.args.buckets, scratch, 0)
            self.old_run_s = (time.perf_counter() - t0) / len(written)
            self.distinct = [(Path(r.path), g) for r, g in written]
        per_task: list[list[tuple[Location, RowGroups]]] = [[] for _ in range(self.tasks)]
        for run in range(runs):  # run `run` comes from map task run % tasks, as files[i::tasks]
            path, groups = self.distinct[run % len(self.distinct)]
            link = folder / f"run-{run % self.tasks:05d}-{run // self.tasks:05d}.parquet"
            os.link(path, link)
            per_task[run % self.tasks].append(
                (Location(pafs.LocalFileSystem(), str(link)), copy.deepcopy(groups))
            )
        payloads = [pickle.dumps(t) for t in per_task if t]
        by_bucket, peak = traced(old_index, payloads)
        files, written = folder_bytes(self.fs, str(folder))
        jobs = [
            [(Location(self.fs, run.path), groups) for run, groups in by_bucket[b]]
            for b in sorted(by_bucket)
        ]
        mean = self.reducers(jobs, lambda pieces: old_resolve_bucket(pieces, no_output))
        map_s = self.old_run_s * runs
        shutil.rmtree(folder)
        return self.row("before", runs, len(jobs), files, written, map_s, payloads, peak, mean)

    def row(
        self,
        side: str,
        runs: int,
        reducers: int,
        files: int,
        written: int,
        map_s: float,
        payloads: list[bytes],
        peak: int,
        mean: dict[str, float],
    ) -> dict[str, Any]:
        read = mean["read"] * reducers
        return {
            "side": side,
            "runs": runs,
            "files": files,
            "reducers": reducers,
            "opens/reducer": mean["opened"],
            "MB read/reducer": mean["read"] / 1e6,
            "read/written": read / written,
            "read/shuffled": read / (self.args.rows_per_run * runs * self.row_bytes),
            "map s/run": map_s / runs,
            "reduce s": mean["s"] * reducers,
            "driver payload MB": sum(map(len, payloads)) / 1e6,
            "driver index MB": peak / 1e6,
        }


def print_table(rows: list[dict[str, Any]]) -> None:
    """The measured rows, then the ratios that matter."""
    keys = list(rows[0])
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    by = {(r["side"], r["runs"]): r for r in rows}
    sizes = sorted({r["runs"] for r in rows})
    lo, hi = sizes[0], sizes[-1]
    print(f"\nratios, {hi} runs over {lo} runs (flat = 1.0):")
    for side in ("before", "after"):
        a, b = by[(side, lo)], by[(side, hi)]
        print(
            f"  {side}: read/shuffled {b['read/shuffled'] / a['read/shuffled']:.2f}x, "
            f"driver index {b['driver index MB'] / a['driver index MB']:.2f}x, "
            f"driver payload {b['driver payload MB'] / a['driver payload MB']:.2f}x"
        )
    print("before over after, same runs:")
    for runs in sizes:
        a, b = by[("after", runs)], by[("before", runs)]
        opens = b["opens/reducer"] * b["reducers"] / (a["opens/reducer"] * a["reducers"])
        print(
            f"  {runs} runs: storage read {b['read/shuffled'] / a['read/shuffled']:.0f}x, "
            f"files opened {opens:.0f}x, "
            f"driver index {b['driver index MB'] / a['driver index MB']:.0f}x, "
            f"map s/run {b['map s/run'] / a['map s/run']:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--buckets", type=int, default=4096)
    parser.add_argument("--rows-per-run", type=int, default=8192)
    parser.add_argument("--cpus", type=int, default=16, help="simulated cluster size")
    parser.add_argument("--distinct-old", type=int, default=8)
    parser.add_argument("--sample", type=int, default=4, help="reducers measured per side")
    args = parser.parse_args()
    ray_shuffle.RUN_BYTES = 1  # every source file (one batch) is one run
    work = Path(tempfile.mkdtemp(prefix="tamis-bench-shuffle-"))
    try:
        sources, nbytes = make_sources(work / "src", max(args.runs), args.rows_per_run)
        measure = Measure(args, work, sources)
        measure.row_bytes = nbytes / (len(sources) * args.rows_per_run)
        print(
            f"{args.buckets} buckets, {args.rows_per_run} rows per run, simulated {args.cpus} "
            f"CPUs: {measure.tasks} map tasks, {ray_shuffle.range_count(args.cpus)} ranges of "
            f"{measure.width} buckets; {args.sample} reducers sampled per side"
        )
        rows = []
        for runs in sorted(args.runs):
            rows += [measure.before(runs), measure.after(runs)]
            print(f"  {runs} runs: {rows[-2]}\n  {runs} runs: {rows[-1]}", flush=True)
        print_table(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
