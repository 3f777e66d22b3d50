"""A MinHash decision that fails in a late pass resumes from its checkpointed band pass and
verification, and decides exactly as an uninterrupted decision."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.columns import ROW, SHARD
from pipeline.dedup.fuzzy import MinHashDedup
from pipeline.global_steps.shuffle import parquet_files
from pipeline.io.storage import Location, read_table, write_parquet
from pipeline.run.local_executor import LocalExecutor
from tests.pipeline.test_hot_keys import planted


class Recording(LocalExecutor):
    """The local executor, noting each shuffle's destination; fails the first shuffle into a
    folder named `fail_at` with a storage error, as a crashed attempt would stop there."""

    def __init__(self, fail_at: str | None = None) -> None:
        super().__init__()
        self.fail_at, self.shuffled = fail_at, []

    def shuffle(self, sources: Any, resolve: Any, dest: Location, buckets: int) -> None:
        self.shuffled.append(dest.name)
        if dest.name == self.fail_at:
            self.fail_at = None
            raise OSError(f"storage error writing {dest.path}")
        super().shuffle(sources, resolve, dest, buckets)


def decide(step: MinHashDedup, keys: Location, folder: Location, executor: Recording):
    """The step's decision over one keys file into `folder`/decisions; its duplicates."""
    dest = folder / "decisions"
    dest.mkdir()
    stats = step.decide(executor, [keys], dest, parquet_rows(keys))
    table = pa.concat_tables([read_table(f) for f in parquet_files(dest)])
    return stats, table.sort_by([(SHARD, "ascending"), (ROW, "ascending")])


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
