"""A decision that fails in a late pass resumes from its checkpointed passes (MinHash's band
pass and verification, exact dedup's hot keys, semantic dedup's k-means centroids, a percentile
cut's first histogram) and decides exactly as an uninterrupted decision."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.columns import ROW, SHARD
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.fuzzy import MinHashDedup
from pipeline.dedup.semantic import SemanticDedup
from pipeline.global_steps.shuffle import parquet_files
from pipeline.global_steps.thresholds import PercentileCut
from pipeline.io.storage import Location, read_table, write_parquet
from pipeline.run.local_executor import LocalExecutor
from tests.pipeline.test_hot_keys import planted


class Recording(LocalExecutor):
    """The local executor, noting each shuffle's destination and each summary pass; fails the
    first shuffle into a folder named `fail_at` (or the summary pass numbered `fail_at`, from
    1) with a storage error, as a crashed attempt would stop there."""

    def __init__(self, fail_at: str | int | None = None) -> None:
        super().__init__()
        self.fail_at, self.shuffled, self.summaries = fail_at, [], 0

    def shuffle(self, sources: Any, resolve: Any, dest: Location, buckets: int) -> None:
        self.shuffled.append(dest.name)
        if dest.name == self.fail_at:
            self.fail_at = None
            raise OSError(f"storage error writing {dest.path}")
        super().shuffle(sources, resolve, dest, buckets)

    def summarise(self, files: Any, columns: Any, fn: Any, size: int) -> Any:
        self.summaries += 1
        if self.summaries == self.fail_at:
            self.fail_at = None
            raise OSError("storage error reading a summary pass's files")
        return super().summarise(files, columns, fn, size)


def decide(step: Any, keys: Location, folder: Location, executor: Recording):
    """The step's decision over one keys file into `folder`/decisions; its duplicates."""
    dest = folder / "decisions"
    dest.remove()  # as the runner does: only the work folder beside it outlives an attempt
    dest.mkdir()
    stats = step.decide(executor, [keys], dest, parquet_rows(keys))
    table = pa.concat_tables([read_table(f) for f in parquet_files(dest)])
    return stats, table.sort_by([(SHARD, "ascending"), (ROW, "ascending")])


def crash(step: Any, keys: Location, folder: Location, fail_at: str | int) -> Recording:
    """An attempt at the decision that stops with a storage error at `fail_at`."""
    executor = Recording(fail_at=fail_at)
    try:
        decide(step, keys, folder, executor)
    except OSError:
        return executor
    raise AssertionError("the injected storage error did not stop the decision")


def keys_file(step: Any, table: pa.Table, tmp_path: Any) -> Location:
    """`table` (one shard) with the step's keys, as a keys file."""
    table = table.append_column(SHARD, pa.array(np.zeros(table.num_rows, np.int32)))
    table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    keys = Location.of(str(tmp_path / "keys.parquet"))
    write_parquet(step.keys(table), keys)
    return keys


def parquet_rows(path: Location) -> int:
    return read_table(path).num_rows


def test_a_failed_decision_resumes_after_its_finished_passes(tmp_path):
    step = MinHashDedup(num_perm=32, verify=True)
    table = planted(400, seed=3)
    table = table.append_column(SHARD, pa.array(np.zeros(table.num_rows, np.int32)))
    table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    keys = Location.of(str(tmp_path / "keys.parquet"))
    write_parquet(step.keys(table), keys)

    clean_stats, clean = decide(step, keys, Location.of(str(tmp_path / "clean")), Recording())
    assert clean.num_rows > 50 and clean_stats["verified_pairs"] > 0

    crashed = Location.of(str(tmp_path / "crashed"))
    first = Recording(fail_at="decisions")  # the last pass: after components
    try:
        decide(step, keys, crashed, first)
    except OSError:
        pass
    else:
        raise AssertionError("the injected storage error did not stop the decision")
    assert {"candidates", "verified"} <= set(first.shuffled)

    again = Recording()
    stats, resumed = decide(step, keys, crashed, again)
    assert "candidates" not in again.shuffled and "verified" not in again.shuffled
    assert "decisions" in again.shuffled
    assert resumed.equals(clean)
    assert stats == {**clean_stats, "resumed_passes": ["band pass", "verification"]}
    # A changed parameter is another decision: nothing is taken from the earlier attempt.
    left = Location.of(str(tmp_path / "left"))
    try:
        decide(step, keys, left, Recording(fail_at="decisions"))
    except OSError:
        pass
    other, redo = MinHashDedup(num_perm=32, verify=True, threshold=0.7), Recording()
    decide(other, keys, left, redo)
    assert "candidates" in redo.shuffled and "verified" in redo.shuffled


def test_exact_dedup_resumes_after_its_hot_keys_pass(tmp_path):
    step = ExactDedup(rows_per_bucket=40)  # the planted copies are hot keys
    keys = keys_file(step, planted(400, seed=5), tmp_path)
    clean_stats, clean = decide(step, keys, Location.of(str(tmp_path / "clean")), Recording())
    assert clean_stats["hot_keys"] >= 1 and clean.num_rows > 100

    crashed = Location.of(str(tmp_path / "crashed"))
    first = crash(step, keys, crashed, fail_at="decisions")
    assert "hot-keys" in first.shuffled and first.summaries >= 1
    again = Recording()
    stats, resumed = decide(step, keys, crashed, again)
    assert again.shuffled[0] == "decisions" and "hot-keys" not in again.shuffled
    assert resumed.equals(clean)
    assert stats == {**clean_stats, "resumed_passes": ["hot keys"]}
    assert not (crashed / "decisions.work").exists()  # removed once decided


def unit_rows(rows: int, seed: int) -> pa.Table:
    """Random unit embeddings, every fourth row a copy of the row before it."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(rows, 16)).astype(np.float32)
    vectors[3::4] = vectors[2::4][: len(vectors[3::4])]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 16)
    return pa.table(
        {"id": [f"r{i}" for i in range(rows)], "embedding": column.cast(pa.list_(pa.float32()))}
    )


def test_semantic_dedup_resumes_after_its_k_means(tmp_path):
    step = SemanticDedup(clusters=6, rows_per_bucket=100)
    keys = keys_file(step, unit_rows(600, seed=1), tmp_path)
    clean_stats, clean = decide(step, keys, Location.of(str(tmp_path / "clean")), Recording())
    assert clean.num_rows == 150  # exactly the copies

    crashed = Location.of(str(tmp_path / "crashed"))
    first = crash(step, keys, crashed, fail_at="decisions")
    assert first.shuffled[0] == "sample"
    again = Recording()
    stats, resumed = decide(step, keys, crashed, again)
    assert "sample" not in again.shuffled
    assert resumed.equals(clean)
    assert stats == {**clean_stats, "resumed_passes": ["k-means"]}
    # Another seed is another decision: its k-means runs again.
    other = Recording()
    decide(SemanticDedup(clusters=6, rows_per_bucket=100, seed=1), keys, crashed, other)
    assert other.shuffled[0] == "sample"


def test_a_percentile_cut_resumes_at_its_second_histogram(tmp_path):
    cut = PercentileCut("quality", "quality_score", 0.3, top=True)
    scores = np.random.default_rng(2).random(1000).astype(np.float32)
    keys = Location.of(str(tmp_path / "keys.parquet"))
    write_parquet(pa.table({"quality_score": scores}), keys)
    folder = Location.of(str(tmp_path / "run"))
    crash(cut, keys, folder, fail_at=2)  # after the first histogram, in the second
    again = Recording()
    dest = folder / "decisions"
    dest.remove()
    dest.mkdir()
    stats = cut.decide(again, [keys], dest, 1000)
    assert again.summaries == 1 and stats["resumed_passes"] == ["high bins"]
    assert stats["cutoff"] == float(np.sort(scores)[-300])
