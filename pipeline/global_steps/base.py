"""Global steps: decisions that need the whole dataset, made in three distributable phases.

1. `keys(batch)` per shard adds what the decision needs to the surviving rows (like a scorer);
2. `decide(executor, sources, dest, rows)` reads those columns from every shard, with the
   executor's on-disk or Ray Data primitives, and writes its decisions under `dest`;
3. the next stage loads one shard's decisions and applies them to each chunk
   (`load_decisions`, `apply_decisions`), rejecting rows with a reason.

Only counts and small tables reach the driver.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.core.columns import REJECT_REASON, REJECTED_BY
from pipeline.core.executor import Executor
from pipeline.core.step import Step, StepKind, StepParams
from pipeline.io.storage import Location

BUCKET = "_bucket"


class GlobalParams(StepParams):
    """Parameters every global step takes."""

    id_column: str = Field("id", description="Column holding document ids.")


class GlobalStep(Step):
    """Base of whole-dataset steps; see the module docstring for the three phases."""

    name: ClassVar[str] = "global"
    kind = StepKind.GLOBAL
    method: ClassVar[str] = "global"
    key_columns: ClassVar[tuple[str, ...]] = ()  # dropped once the decisions are applied
    Params: ClassVar[type[GlobalParams]] = GlobalParams
    params: GlobalParams

    def keys(self, batch: pa.Table) -> pa.Table:
        """`batch` with the columns the decision needs (none beyond what it has by default)."""
        return batch

    def may_change(self, column: str) -> bool:
        """A global step adds keys and rejects rows; it never changes a column."""
        return False

    def decide_columns(self) -> list[str] | None:
        """The columns `decide` reads from its sources (None: unknown, any of them). A step
        that says can be decided on a keys-only copy of the rows earlier decisions keep, and
        so share a stage with the global step before it (pipeline/global_steps/survivors.py)."""
        return None

    def decide(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int
    ) -> dict[str, Any]:
        """Decide over all `rows` in `sources`, write the decisions under `dest`; return stats."""
        raise NotImplementedError

    def load_decisions(self, folder: Location, shard: int) -> Any:
        """What one shard needs from the decisions under `folder`."""
        raise NotImplementedError

    def apply_decisions(self, chunk: pa.Table, decisions: Any) -> pa.Table:
        """`chunk` with the rows decided against marked rejected."""
        raise NotImplementedError


def reject_where(chunk: pa.Table, hit: pa.Array, reason: str | pa.Array, step: str) -> pa.Table:
    """Set `reject_reason` / `rejected_by` where `hit` is true and the row is still live."""
    hit = pc.and_(hit, pc.is_null(chunk[REJECT_REASON]))
    reasons = pc.if_else(hit, reason, chunk[REJECT_REASON])
    by = pc.if_else(hit, step, chunk[REJECTED_BY])
    chunk = chunk.set_column(chunk.column_names.index(REJECT_REASON), REJECT_REASON, reasons)
    return chunk.set_column(chunk.column_names.index(REJECTED_BY), REJECTED_BY, by)
