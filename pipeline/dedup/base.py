"""Global steps: decisions over the whole dataset, made in three distributable phases.

1. `keys(batch)` per shard (like a scorer) adds key columns to the surviving rows;
2. `resolve(bucket)` on all rows whose keys fall in one bucket returns the duplicates;
3. the next stage rejects those rows with `duplicate:<method>` and the id kept.

Runners wire the phases with on-disk buckets (local) or a Ray Data groupby (Ray); only counts
reach the driver.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.columns import (
    DUPLICATE_OF,
    REJECT_REASON,
    REJECTED_BY,
    ROW,
    SHARD,
    as_table,
    set_column,
)
from pipeline.step import Step, StepParams

BUCKET = "_bucket"
ORDER = "_order"


class GlobalParams(StepParams):
    """Parameters every global step takes."""

    id_column: str = Field("id", description="Column holding document ids.")
    rows_per_bucket: int = Field(
        1_000_000, gt=0, description="Rows per resolve bucket; bounds each worker's memory."
    )


class GlobalStep(Step):
    """Base of whole-dataset steps; see the module docstring for the three phases."""

    name: ClassVar[str] = "global"
    method: ClassVar[str] = "global"
    key_columns: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[GlobalParams]] = GlobalParams
    params: GlobalParams

    def keys(self, batch: pa.Table) -> pa.Table:
        """`batch` with the key columns added, plus `_bucket` in [0, 2**31)."""
        raise NotImplementedError

    def resolve(self, bucket: pa.Table) -> pa.Table:
        """Duplicates among the rows of one bucket: (`_shard`, `_row`, `duplicate_of`)."""
        raise NotImplementedError

    def split(self, data: Any) -> tuple[pa.Table, pa.Table]:
        """In-memory use on one table: (kept rows, rejected duplicates with reasons)."""
        table = as_table(data, self.params.text_column)
        if self.params.id_column not in table.column_names:
            table = table.append_column(
                self.params.id_column, pa.array([str(i) for i in range(table.num_rows)])
            )
        work = table.append_column(SHARD, pa.array(np.zeros(table.num_rows, np.int32)))
        work = work.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
        decisions = self.resolve(self.keys(work))
        dropped = np.zeros(table.num_rows, dtype=bool)
        dropped[decisions[ROW].to_numpy()] = True
        kept_of = np.full(table.num_rows, None, dtype=object)
        kept_of[decisions[ROW].to_numpy()] = decisions[DUPLICATE_OF].to_numpy(zero_copy_only=False)
        mask = pa.array(dropped)
        rejected = table.filter(mask)
        rejected = set_column(
            rejected, REJECT_REASON, pa.array([f"duplicate:{self.method}"] * rejected.num_rows)
        )
        rejected = set_column(rejected, REJECTED_BY, pa.array([self.name] * rejected.num_rows))
        rejected = set_column(rejected, DUPLICATE_OF, pa.array(kept_of[dropped], pa.string()))
        return table.filter(pc.invert(mask)), rejected


def order_key(table: pa.Table) -> pa.Array:
    """A single int64 giving input order: shard index, then row within the shard."""
    shard = table[SHARD].to_numpy().astype(np.int64)
    row = table[ROW].to_numpy().astype(np.int64)
    return pa.array((shard << 40) | row)


def keep_first_per_key(bucket: pa.Table, key: str, id_column: str) -> pa.Table:
    """Rows that share `key` with an earlier row (input order), with the id of the first one."""
    if bucket.num_rows == 0:
        return pa.table(
            {
                SHARD: pa.array([], pa.int32()),
                ROW: pa.array([], pa.int64()),
                DUPLICATE_OF: pa.array([], pa.string()),
            }
        )
    rows = bucket.select([key, SHARD, ROW, id_column]).append_column(ORDER, order_key(bucket))
    first = rows.group_by(key).aggregate([(ORDER, "min")]).rename_columns([key, "_first"])
    kept = rows.select([ORDER, id_column]).rename_columns(["_first", DUPLICATE_OF])
    joined = rows.join(first, key).join(kept, "_first")
    dups = joined.filter(pc.not_equal(joined[ORDER], joined["_first"]))
    return dups.select([SHARD, ROW, DUPLICATE_OF]).sort_by(
        [(SHARD, "ascending"), (ROW, "ascending")]
    )
