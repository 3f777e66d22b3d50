"""Filter base class: a vectorised keep/drop decision with a reason for every dropped row."""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from pipeline.core.columns import as_table
from pipeline.core.rows import Check, RowStep, threshold_checks
from pipeline.core.step import StepKind, StepParams

__all__ = ["Check", "Filter", "FilterParams", "threshold_checks"]


class FilterParams(StepParams):
    """Parameters every filter takes; subclasses add their thresholds."""


class Filter(RowStep):
    """Base of keep/drop steps.

    A subclass declares a nested `Params` model and implements `checks(batch)`, an ordered list of
    `Check`s. The first failing check gives a row's reason, prefixed by the step name
    (`gopher_quality:word_count<50`). Filters never load models; `rewrite` may edit kept rows.
    """

    name: ClassVar[str] = "filter"
    kind = StepKind.ROW
    Params: ClassVar[type[FilterParams]] = FilterParams
    params: FilterParams

    def checks(self, batch: pa.Table) -> list[Check]:
        """Ordered rule verdicts for every row of `batch`."""
        raise NotImplementedError

    def __call__(self, data: Any) -> pa.Table:
        """The rows this filter keeps."""
        return self.split(as_table(data, self.params.text_column))[0]
