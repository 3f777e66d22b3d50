"""A dedup decision's by-shard index: each shard's reader opens one part file, which holds only
the shards that map to it, and finds exactly the duplicates a scan of every bucket file finds."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.columns import DUPLICATE_OF, ROW, SHARD
from pipeline.dedup.report import MEMBER
from pipeline.global_steps.by_shard import (
    DUPLICATES,
    index_by_shard,
    index_folder,
    index_parts,
    load_shard,
)
from pipeline.global_steps.shuffle import parquet_files
from pipeline.io.storage import Location
from pipeline.run.local_executor import LocalExecutor
from tests.conftest import write_parquet
from tests.pipeline.test_exact_dedup import dedup_run


def bucket_files(folder, shards: int, buckets: int) -> pa.Table:
    """Decision files as the resolve phase writes them: every bucket holds rows of every
    shard. Returns all their rows."""
    folder.mkdir(parents=True)
    rows = []
    for b in range(buckets):
        part = [(s, b * 100 + r, f"kept-{s}-{r}") for s in range(shards) for r in range(b + 1)]
        table = pa.table(
            {
                SHARD: pa.array([p[0] for p in part], pa.int32()),
                ROW: pa.array([p[1] for p in part], pa.int64()),
                DUPLICATE_OF: [p[2] for p in part],
                MEMBER: [f"m{p[0]}-{p[1]}" for p in part],
            }
        )
        pq.write_table(table, folder / f"bucket-{b:05d}.parquet")
        rows.append(table)
    return pa.concat_tables(rows)


def test_each_shard_reads_one_part_holding_only_its_own_shards(tmp_path):
    every = bucket_files(tmp_path / "decisions", shards=10, buckets=3)
    decisions = Location.of(str(tmp_path / "decisions"))
    index = index_folder(decisions)
    index_by_shard(LocalExecutor(), parquet_files(decisions), index, DUPLICATES, parts=4)
    parts = sorted((tmp_path / "decisions.by-shard").glob("bucket-*.parquet"))
    assert len(parts) == 4
    for part in parts:
        shards = set(pq.read_table(part)[SHARD].to_pylist())
        assert {s % 4 for s in shards} == {int(part.stem.split("-")[1])}
    for shard in range(10):
        want = every.filter(pc.equal(every[SHARD], shard)).select([ROW, DUPLICATE_OF])
        assert load_shard(index, shard).sort_by(ROW).equals(want.sort_by(ROW))
    assert load_shard(index, 11).num_rows == 0  # a shard without duplicates


def test_without_an_index_the_caller_scans_and_a_run_builds_one(tmp_path):
    bucket_files(tmp_path / "old", shards=2, buckets=2)
    assert load_shard(index_folder(Location.of(str(tmp_path / "old"))), 0) is None
    for name in ("a", "b", "c"):
        write_parquet(
            tmp_path / "in" / f"{name}.parquet", id=[f"{name}0", f"{name}1"], text=["x", name]
        )
    rejected = dedup_run(tmp_path, "out", rows_per_bucket=2)
    assert sorted(rejected["id"].to_pylist()) == ["b0", "c0"]
    index = index_folder(Location.of(str(tmp_path / "out" / "_work" / "stage-1" / "decisions")))
    assert (index / "parts.json").read_json() == {"parts": 1, "columns": DUPLICATES}


def test_parts_follow_the_duplicates_up_to_one_per_source_file():
    assert index_parts(0, 50) == 1
    assert index_parts(150_000, 50) == 1
    assert index_parts(1_000_000, 50) == 5
    assert index_parts(10**9, 50) == 50
