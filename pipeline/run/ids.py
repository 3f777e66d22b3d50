"""Every row's id is unique over the whole input: a global check, by a shuffle of ids alone.

Ids name rows in `duplicate_of`, `similar_to`, `tamis clusters OUT ID` and score reuse; two
rows with one id make all of these ambiguous. After the first stage, the ids of every row (kept
and rejected) are grouped by a hash, each group counted on a worker, and only the count of
repeated ids and a few examples reach the driver. `input.id_policy: file_row` makes ids from
file and row instead (the input's ids kept in `source_<id column>`), which are unique.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import SchemaError
from pipeline.core.executor import Executor
from pipeline.dedup.base import bucket_count, with_hash_key
from pipeline.global_steps.shuffle import Source, parquet_files
from pipeline.io.storage import read_table
from pipeline.run.markers import committed_sources
from pipeline.run.plan import RunPlan

KEY = "_id_key"
ROWS_PER_BUCKET = 2_000_000  # ids are small: a bucket of this many is a few hundred MB


def check_unique_ids(executor: Executor, plan: RunPlan) -> None:
    """Raise a SchemaError naming repeated ids, unless ids are made from file and row. Runs
    once: its marker lets a resumed run skip it."""
    if plan.read.id_policy == "file_row":
        return
    layout, column = plan.layout, plan.read.id_column
    done = layout.work / "stage-0" / "ids.done.json"
    if done.exists():
        return
    sources, rows = committed_sources(layout, 0, plan.shards, rejected=True)
    dest = layout.work / "stage-0" / "ids"
    dest.remove()
    dest.mkdir()
    prepare = partial(_keyed, column=column)
    resolve = partial(_repeated, column=column)
    buckets = bucket_count(rows, ROWS_PER_BUCKET)
    executor.shuffle([Source(sources, [column], prepare)], resolve, dest, buckets)
    files = parquet_files(dest)
    ids, extra = executor.summarise(files, ["copies"], _totals, 2)
    if ids:
        examples = read_table(files[0]).sort_by([("copies", "descending"), (column, "ascending")])
        shown = ", ".join(f"{r[column]!r} ({r['copies']} rows)" for r in examples.to_pylist()[:3])
        raise SchemaError(
            f"{plan.recipe.input.path}: {ids} ids repeat ({shown}, ...; {extra} extra rows): "
            "rows need unique ids; fix input.id_column, or set input.id_policy: file_row to "
            "make ids from file and row"
        )
    dest.remove()
    done.write_json({"rows": rows, "repeated_ids": 0})


def _keyed(batch: pa.Table, column: str) -> pa.Table:
    return with_hash_key(batch, batch[column], KEY)


def _repeated(bucket: pa.Table, column: str) -> pa.Table:
    """Ids that occur more than once in a bucket, with their counts."""
    counts = bucket.group_by(column).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts["count_all"], 1))
    return repeated.rename_columns([column, "copies"])


def _totals(batch: pa.Table) -> np.ndarray:
    copies = batch["copies"].to_numpy()
    return np.array([len(copies), int(copies.sum() - len(copies))], np.int64)
