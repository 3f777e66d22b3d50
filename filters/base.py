"""Filter base class: a vectorised keep/drop decision with a reason for every dropped row."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import set_column, text_list
from pipeline.core.rows import Check, RowStep, threshold_checks
from pipeline.core.step import StepKind, StepParams

__all__ = ["Check", "Filter", "FilterParams", "threshold_checks"]


class FilterParams(StepParams):
    """Parameters every filter takes; subclasses add their thresholds."""

    stats: bool = Field(
        False,
        description="Keep every statistic the rules measure as a column <step>_<stat> (filters "
        "that measure some), so thresholds can be changed with --reuse-scores.",
    )


class Filter(RowStep):
    """Base of keep/drop steps.

    A subclass declares a nested `Params` model and implements `checks(batch)`, an ordered list of
    `Check`s. The first failing check gives a row's reason, prefixed by the step name
    (`gopher_quality:word_count<50`). Filters never load models; `rewrite` may edit kept rows.

    A filter whose rules compare statistics lists them in `stat_fields` and measures them in
    `measure_batch`; its checks read `statistics(batch)`, which takes the statistics from the
    batch's columns when an earlier run kept them (`stats: true`, reused), and every parameter
    but its `decision_params` (the thresholds) keys that reuse.
    """

    name: ClassVar[str] = "filter"
    kind = StepKind.ROW
    Params: ClassVar[type[FilterParams]] = FilterParams
    params: FilterParams
    stat_fields: ClassVar[tuple[str, ...]] = ()
    decision_params: ClassVar[frozenset[str]] = frozenset({"stats"})

    def checks(self, batch: pa.Table) -> list[Check]:
        """Ordered rule verdicts for every row of `batch`."""
        raise NotImplementedError

    def measure_batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Every statistic of `stat_fields` for each text (filters that measure some)."""
        raise NotImplementedError

    def stat_names(self) -> tuple[str, ...]:
        """The statistics this instance measures (the declared `stat_fields`)."""
        return self.stat_fields

    def statistics(self, batch: pa.Table) -> dict[str, np.ndarray]:
        """The statistics of each row: from the batch's columns when present, else measured."""
        names = self.stat_names()
        columns = [self._column(f) for f in names]
        if columns and all(c in batch.column_names for c in columns):
            found = [batch[c].to_numpy(zero_copy_only=False).astype(float) for c in columns]
            if not any(np.isnan(v).any() for v in found):
                return dict(zip(names, found, strict=True))
        return self.measure_batch(text_list(batch, self.params.text_column))

    def transform(self, batch: pa.Table) -> pa.Table:
        """With `stats: true`, the batch with a column per statistic."""
        if not self.params.stats or not self.stat_names():
            return batch
        for field, values in self.statistics(batch).items():
            batch = set_column(batch, self._column(field), pa.array(values, pa.float64()))
        return batch

    def output_columns(self) -> dict[str, pa.DataType]:
        if not self.params.stats:
            return {}
        return {self._column(f): pa.float64() for f in self.stat_names()}

    def reuse_key(self) -> str | None:
        """With `stats: true`, a hash of everything but the thresholds: what the statistics
        depend on."""
        if not self.params.stats or not self.stat_names():
            return None
        params = self.params.model_dump(mode="json", exclude=set(self.decision_params))
        key = {"step": self.name, "version": self.version, "params": params}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]

    def _column(self, field: str) -> str:
        return f"{self.name}_{field}"

    def __call__(self, data: Any) -> pa.Table:
        """The rows this filter keeps."""
        return self.split(data)[0]
