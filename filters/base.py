"""Filter base class: a vectorised keep/drop decision with a reason for every dropped row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import REJECT_REASON, REJECTED_BY, as_table, set_column
from pipeline.core.step import Step, StepParams


class FilterParams(StepParams):
    """Parameters every filter takes; subclasses add their thresholds."""


@dataclass(frozen=True)
class Check:
    """One rule's verdict: `failed[i]` is True where row i breaks the rule named by `reason`."""

    failed: np.ndarray
    reason: str


class Filter(Step):
    """Base of keep/drop steps.

    A subclass declares a nested `Params` model and implements `checks(batch)`, an ordered list of
    `Check`s. The first failing check gives a row's reason, prefixed by the step name
    (`gopher_quality:word_count<50`). Filters never load models; `rewrite` may edit kept rows.
    """

    name: ClassVar[str] = "filter"
    Params: ClassVar[type[FilterParams]] = FilterParams
    params: FilterParams

    def checks(self, batch: pa.Table) -> list[Check]:
        """Ordered rule verdicts for every row of `batch`."""
        raise NotImplementedError

    def rewrite(self, kept: pa.Table) -> pa.Table:
        """Edit kept rows (e.g. remove lines); the default keeps them as they are."""
        return kept

    def reasons(self, data: Any) -> pa.Array:
        """Reject reason per row (`<step>:<rule>`), null for rows the filter keeps."""
        batch = as_table(data, self.params.text_column)
        return first_failures(self.name, batch.num_rows, self.checks(batch))

    def split(self, data: Any) -> tuple[pa.Table, pa.Table]:
        """(kept rows after `rewrite`, rejected rows with `reject_reason` and `rejected_by`)."""
        batch = as_table(data, self.params.text_column)
        kept, rejected = split_by_reason(batch, self.reasons(batch), self.name)
        return self.rewrite(kept), rejected

    def __call__(self, data: Any) -> pa.Table:
        """The rows this filter keeps."""
        return self.split(data)[0]


def first_failures(step: str, rows: int, checks: list[Check]) -> pa.Array:
    """Per row, `<step>:<reason>` of the first check it fails, or null."""
    reason = np.full(rows, None, dtype=object)
    undecided = np.ones(rows, dtype=bool)
    for check in checks:
        hit = undecided & np.asarray(check.failed, dtype=bool)
        reason[hit] = f"{step}:{check.reason}"
        undecided &= ~hit
    return pa.array(reason, pa.string())


def split_by_reason(batch: pa.Table, reason: pa.Array, step: str) -> tuple[pa.Table, pa.Table]:
    """(rows with a null reason, the others with `reject_reason` and `rejected_by` = `step`)."""
    dropped = pc.is_valid(reason)
    rejected = batch.filter(dropped)
    rejected = set_column(rejected, REJECT_REASON, reason.filter(dropped))
    rejected = set_column(rejected, REJECTED_BY, pa.array([step] * rejected.num_rows, pa.string()))
    return batch.filter(pc.invert(dropped)), rejected


def threshold_checks(
    values: Any, column: str, low: float | None, high: float | None
) -> list[Check]:
    """Checks for `low <= values <= high` (either bound optional); nulls fail neither."""
    values = pc.fill_null(pc.cast(values, pa.float64()), float("nan")).to_numpy()
    found = []
    if low is not None:
        found.append(Check(values < low, f"{column}<{low:g}"))
    if high is not None:
        found.append(Check(values > high, f"{column}>{high:g}"))
    return found
