"""Global steps that share a stage: the second decides on keys, not rows.

When no row step stands between two global steps, the stage before computes both steps' keys,
and one stage applies both decisions (pipeline/run/stages.py). The second step must decide
over the rows the first one keeps: `surviving_keys` copies only the columns it decides on
(hashes, signatures, embeddings, ids) of those rows, with one shuffle pass, and the step
decides on that copy. No text moves, and no stage rewrites every row between the two.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import REJECT_REASON, REJECTED_BY, ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.global_steps.base import BUCKET, GlobalStep
from pipeline.global_steps.shuffle import Source, bucket_of, order_key, parquet_files
from pipeline.io.storage import Location, parquet_rows

ROWS_PER_FILE = 1_000_000  # rows of keys per output file (and per reduce task) at most


def can_share_stage(earlier: GlobalStep, later: GlobalStep) -> bool:
    """Whether `later` can decide on keys computed beside `earlier`'s: it names the columns it
    decides on, none of them is `_bucket` (each step's own hash) and its keys overwrite
    nothing `earlier` decides on."""
    wanted, before = later.decide_columns(), earlier.decide_columns()
    if wanted is None or before is None or BUCKET in wanted:
        return False
    return not set(later.key_columns) & set(before)


def surviving_keys(
    executor: Executor,
    step: GlobalStep,
    earlier: list[tuple[GlobalStep, Location]],
    sources: list[Location],
    rows: int,
    dest: Location,
) -> tuple[list[Location], int]:
    """The columns `step` decides on, of the `rows` rows of `sources` that every
    `(step, decisions folder)` of `earlier` keeps, written under `dest`; returns the files
    written and their rows."""
    wanted = step.decide_columns()
    assert wanted is not None, f"{step.name} does not name the columns it decides on"
    needed = [c for g, _ in earlier for c in g.decide_columns() or []]
    columns = list(dict.fromkeys([*wanted, SHARD, ROW, *needed]))
    buckets = max(1, -(-rows // ROWS_PER_FILE))
    kept = list(dict.fromkeys([*wanted, SHARD, ROW]))
    source = Source(sources, columns, KeepSurvivors(earlier, kept))
    executor.shuffle([source], _in_order, dest, buckets)
    files = parquet_files(dest)
    return files, parquet_rows(files)


class KeepSurvivors:
    """A shuffle's `prepare`: a batch's rows that the earlier decisions keep (the wanted
    columns), spread over buckets by input order. Each task gets its own copy, which holds
    the decisions of the last shard it saw (a shard's pieces come one after another)."""

    def __init__(self, earlier: list[tuple[GlobalStep, Location]], wanted: list[str]):
        self.earlier, self.wanted = earlier, wanted
        self.shard: int | None = None
        self.loaded: list[object] = []

    def __call__(self, batch: pa.Table) -> pa.Table:
        kept = [self._survivors(batch, shard) for shard in pc.unique(batch[SHARD]).to_pylist()]
        table = pa.concat_tables(kept) if kept else batch.select(self.wanted)
        return table.append_column(BUCKET, bucket_of(order_key(table).to_numpy()))

    def _survivors(self, batch: pa.Table, shard: int) -> pa.Table:
        if shard != self.shard:
            self.loaded = [step.load_decisions(folder, shard) for step, folder in self.earlier]
            self.shard = shard
        rows = batch.filter(pc.equal(batch[SHARD], shard))
        rows = rows.append_column(REJECT_REASON, pa.nulls(rows.num_rows, pa.string()))
        rows = rows.append_column(REJECTED_BY, pa.nulls(rows.num_rows, pa.string()))
        for (step, _), decisions in zip(self.earlier, self.loaded, strict=True):
            rows = step.apply_decisions(rows, decisions)
        return rows.filter(pc.is_null(rows[REJECT_REASON])).select(self.wanted)


def _in_order(bucket: pa.Table) -> pa.Table:
    """A bucket's keys in input order, without the bucket hash."""
    return bucket.drop_columns([BUCKET]).sort_by([(SHARD, "ascending"), (ROW, "ascending")])
