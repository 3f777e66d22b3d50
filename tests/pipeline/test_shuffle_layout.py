"""The Ray shuffle's layout: a reducer reads only its bucket range's files, and the buckets it
writes equal the local on-disk shuffle's."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from benchmarks.bench_shuffle import counting
from pipeline.dedup.base import keep_first_per_key, with_hash_key
from pipeline.global_steps import ray_shuffle
from pipeline.global_steps.disk_shuffle import shuffle_on_disk
from pipeline.global_steps.ray_shuffle import range_folder, range_width, resolve_range
from pipeline.global_steps.shuffle import Source, parquet_files
from pipeline.io.storage import Location, read_table, write_parquet

BUCKETS = 32
COLUMNS = ["_key", "_bucket", "_shard", "_row", "id"]


def key_files(root: Location, files: int = 6, rows: int = 400) -> list[Location]:
    """Parquet files of exact-dedup keys over texts that repeat across files."""
    rng = random.Random(3)
    paths = []
    for shard in range(files):
        texts = [f"text {rng.randrange(300)}" for _ in range(rows)]
        table = pa.table(
            {
                "_shard": pa.array([shard] * rows, pa.int32()),
                "_row": pa.array(range(rows), pa.int64()),
                "id": [f"{shard}-{r}" for r in range(rows)],
            }
        )
        path = root / "keys" / f"part-{shard}.parquet"
        write_parquet(with_hash_key(table, pa.array(texts), "_key"), path)
        paths.append(path)
    return paths


def resolve(bucket: pa.Table) -> pa.Table:
    """Exact dedup's resolve: later copies of a key, with the first one's id."""
    return keep_first_per_key(bucket, "_key", "id")


def bucket_outputs(folder: Location) -> dict[str, pa.Table]:
    """Each bucket file a shuffle wrote, by name."""
    return {p.name: read_table(p) for p in parquet_files(folder)}


def test_reducer_reads_only_its_range_and_matches_the_local_shuffle(tmp_path, monkeypatch):
    fs, counts = counting(pafs.LocalFileSystem())
    root = Location(fs, str(tmp_path))
    files = key_files(root)
    shuffle_on_disk([Source(files, COLUMNS)], resolve, root / "local", BUCKETS)

    monkeypatch.setattr(ray_shuffle, "RUN_BYTES", 4096)  # several runs per map task
    scratch, width = root / "ray.runs", range_width(BUCKETS, 4)
    received = sum(
        ray_shuffle.write_ranges([Source(files[i::2], COLUMNS)], BUCKETS, scratch, i, width)
        for i in range(2)
    )
    assert received.shape == (BUCKETS,) and received.all()
    for index in range(BUCKETS // width):
        folder = range_folder(scratch, index)
        counts.reset()
        resolve_range(folder, resolve, root / "ray")
        assert set(counts.opened) == {p.path for p in folder.glob("*.parquet")}
        assert len(counts.opened) == 2  # one file per map task, each opened once
        # Each file read once: its rows and a footer of one row group per run.
        assert sum(counts.bytes_read.values()) <= sum(
            fs.get_file_info(p).size for p in counts.opened
        )

    local, ray = bucket_outputs(root / "local"), bucket_outputs(root / "ray")
    assert local.keys() == ray.keys() and len(local) > BUCKETS // 2
    for name, table in local.items():
        assert ray[name].equals(table)


@pytest.mark.slow
def test_ray_shuffle_retries_a_storage_error_and_matches_the_local_shuffle(tmp_path, ray_session):
    root = Location.of(tmp_path)
    files = key_files(root)
    shuffle_on_disk([Source(files, COLUMNS)], resolve, root / "local", BUCKETS)
    flags = tmp_path / "failed"
    flags.mkdir()

    def flaky(bucket: pa.Table) -> pa.Table:
        """Fails once on every 8th bucket with a storage-like error, then resolves."""
        index = bucket["_bucket"][0].as_py()
        flag = flags / str(index)
        if index % 8 == 0 and not flag.exists():
            flag.touch()
            raise OSError("503 Slow Down (injected)")
        return keep_first_per_key(bucket, "_key", "id")  # not `resolve`: this module is
        # not importable on Ray's workers, and the closure travels by value

    dest = root / "ray"
    stats = ray_shuffle.shuffle_with_tasks(
        ray_session, [Source(files, COLUMNS)], flaky, dest, BUCKETS, tasks=3
    )
    assert stats == {"ranges": 8, "reduce_tasks": 8}  # 2 CPUs: 8 ranges of 4 buckets
    assert len(list(flags.iterdir())) == BUCKETS // 8  # each failed once, then resolved
    assert bucket_outputs(root / "local").keys() == bucket_outputs(dest).keys()
    for name, table in bucket_outputs(root / "local").items():
        assert bucket_outputs(dest)[name].equals(table)
    assert not (root / "ray.runs").exists()
