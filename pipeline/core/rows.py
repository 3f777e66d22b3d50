"""The row-step contract, implemented once for filters and scorers.

A row step decides about each row on its own: `transform` adds columns (a scorer's scores; a
filter adds none), `checks` returns an ordered list of rule verdicts, the first failing rule
gives a row's reason (`<step>:<rule>`), and `rewrite` may edit the rows kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import REJECT_REASON, REJECT_VALUE, REJECTED_BY, set_column, text_table
from pipeline.core.step import Step


@dataclass(frozen=True)
class Check:
    """One rule's verdict: `failed[i]` is True where row i breaks the rule named by `reason`;
    `values[i]`, when given, is what the rule measured (a rejected row carries it in
    `reject_value`)."""

    failed: np.ndarray
    reason: str
    values: np.ndarray | None = None


class RowStep(Step):
    """Base of steps that decide row by row. Subclasses implement `checks`, and may add
    columns in `transform` and edit kept rows in `rewrite`."""

    def transform(self, batch: pa.Table) -> pa.Table:
        """`batch` with this step's columns added (none by default), rows in the same order."""
        return batch

    def checks(self, batch: pa.Table) -> list[Check]:
        """Ordered rule verdicts for every row of a transformed `batch` (none by default)."""
        return []

    def rewrite(self, kept: pa.Table) -> pa.Table:
        """Edit kept rows (e.g. remove lines); the default keeps them as they are."""
        return kept

    def may_change(self, column: str) -> bool:
        """A row step changes a column only in `rewrite`, or by declaring it an output."""
        return type(self).rewrite is not RowStep.rewrite or column in self.output_columns()

    def reasons(self, data: Any) -> pa.Array:
        """Reject reason per row (`<step>:<rule>`, or `invalid:<why>` for a row without usable
        text: null, empty, not a string), null for rows the step keeps."""
        batch, invalid = text_table(data, self.text_input(), self.requires_records)
        usable = pc.is_null(invalid)
        good = self.transform(batch.filter(usable))
        found = first_failures(self.name, good.num_rows, self.checks(good))
        if invalid.null_count == len(invalid):
            return found
        found_all = np.array(invalid.to_pylist(), dtype=object)
        found_all[np.asarray(usable)] = np.array(found.to_pylist(), dtype=object)
        return pa.array(found_all, pa.string())

    def split(self, data: Any) -> tuple[pa.Table, pa.Table]:
        """(kept rows after `rewrite`, rejected rows with `reject_reason` and `rejected_by`);
        both carry the columns `transform` added. A row without usable text is rejected as
        `invalid:<why>`, as a reader would."""
        batch, invalid = text_table(data, self.text_input(), self.requires_records)
        if invalid.null_count != len(invalid):
            usable = pc.is_null(invalid)
            kept, rejected = self.split(batch.filter(usable))
            unusable = batch.filter(pc.invert(usable))
            unusable = set_column(unusable, REJECT_REASON, invalid.filter(pc.invert(usable)))
            unusable = set_column(
                unusable, REJECTED_BY, pa.array([self.name] * unusable.num_rows, pa.string())
            )
            return kept, pa.concat_tables([rejected, unusable], promote_options="permissive")
        batch = self.transform(batch)
        checks = self.checks(batch)
        reasons = first_failures(self.name, batch.num_rows, checks)
        values = failed_values(batch.num_rows, checks)
        kept, rejected = split_by_reason(batch, reasons, self.name, values)
        return self.rewrite(kept), rejected


def first_failures(step: str, rows: int, checks: list[Check]) -> pa.Array:
    """Per row, `<step>:<reason>` of the first check it fails, or null."""
    reason = np.full(rows, None, dtype=object)
    undecided = np.ones(rows, dtype=bool)
    for check in checks:
        hit = undecided & np.asarray(check.failed, dtype=bool)
        reason[hit] = f"{step}:{check.reason}"
        undecided &= ~hit
    return pa.array(reason, pa.string())


def failed_values(rows: int, checks: list[Check]) -> pa.Array:
    """Per row, the value measured by the first check it fails (null when that check gives
    none, or when the row fails none)."""
    value = np.full(rows, np.nan)
    undecided = np.ones(rows, dtype=bool)
    for check in checks:
        hit = undecided & np.asarray(check.failed, dtype=bool)
        if check.values is not None:
            value[hit] = np.asarray(check.values, dtype=float)[hit]
        undecided &= ~hit
    return pa.array(value, pa.float64(), mask=np.isnan(value))


def split_by_reason(
    batch: pa.Table, reason: pa.Array, step: str, values: pa.Array | None = None
) -> tuple[pa.Table, pa.Table]:
    """(rows with a null reason, the others with `reject_reason`, `rejected_by` = `step` and
    `reject_value` = the measured value that failed, when there is one)."""
    dropped = pc.is_valid(reason)
    rejected = batch.filter(dropped)
    rejected = set_column(rejected, REJECT_REASON, reason.filter(dropped))
    rejected = set_column(rejected, REJECTED_BY, pa.array([step] * rejected.num_rows, pa.string()))
    if values is not None:
        rejected = set_column(rejected, REJECT_VALUE, values.filter(dropped))
    return batch.filter(pc.invert(dropped)), rejected


def threshold_checks(
    values: Any, column: str, low: float | None, high: float | None
) -> list[Check]:
    """Checks for `low <= values <= high` (either bound optional); nulls fail neither."""
    values = pc.fill_null(pc.cast(values, pa.float64()), float("nan")).to_numpy()
    found = []
    if low is not None:
        found.append(Check(values < low, f"{column}<{low:g}", values))
    if high is not None:
        found.append(Check(values > high, f"{column}>{high:g}", values))
    return found
