"""Scorer base class: a small model that adds score columns, loaded once per worker."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from filters.base import Check, first_failures, split_by_reason
from pipeline.core.columns import as_table, set_column
from pipeline.core.errors import MissingDependencyError
from pipeline.core.step import Step, StepParams


@dataclass(frozen=True)
class Resources:
    """What one scorer worker needs; the Ray runner turns it into actor options."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float = 0.0

    def __post_init__(self) -> None:
        if min(self.cpus, self.gpus, self.memory_gb) < 0:
            raise ValueError(f"resources must not be negative: {self}")


class ScorerParams(StepParams):
    """Parameters every scorer takes."""

    batch_size: int | None = Field(
        None, gt=0, description="Rows per model call (default: the scorer's)."
    )
    actors: int | None = Field(
        None, ge=1, description="Ray actor pool size (default: fits the CPUs)."
    )
    keep_top: float | None = Field(
        None, gt=0, le=1, description="Keep this fraction with the highest score, over all rows."
    )
    keep_bottom: float | None = Field(
        None, gt=0, le=1, description="Keep this fraction with the lowest score, over all rows."
    )

    @model_validator(mode="after")
    def _one_fraction(self) -> ScorerParams:
        if self.keep_top is not None and self.keep_bottom is not None:
            raise ValueError("set keep_top or keep_bottom, not both")
        return self


class Scorer(Step):
    """Base of model steps. Subclasses declare `requires`, `resources`, `batch_size` and `outputs`,
    load their model in `setup()` and add the declared columns in `score(batch)`. `checks(scored)`
    turns scores into keep/drop decisions (none by default), so a scorer step can also filter.
    """

    requires: ClassVar[tuple[tuple[str, str], ...]] = ()  # (module, pip requirement)
    resources: ClassVar[Resources] = Resources()
    batch_size: ClassVar[int] = 1024
    outputs: ClassVar[dict[str, pa.DataType]] = {}
    score_column: ClassVar[str] = ""  # the column keep_top / keep_bottom rank by
    # Parameters that change the scores themselves (not the decisions): reused scores must match.
    score_params: ClassVar[tuple[str, ...]] = ("text_column",)
    Params: ClassVar[type[ScorerParams]] = ScorerParams
    params: ScorerParams

    def setup(self) -> None:
        """Load the model; runs once per worker, before the first `score`."""

    def score(self, batch: pa.Table) -> pa.Table:
        """`batch` with the declared output columns added, rows in the same order."""
        raise NotImplementedError

    def checks(self, scored: pa.Table) -> list[Check]:
        """Keep/drop rules on the scores; the first failing check gives a row's reason."""
        return []

    def ready(self) -> None:
        """Check dependencies and run `setup()` once."""
        if getattr(self, "_ready", False):
            return
        for module, requirement in self.requires:
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(
                    f"step {self.name} needs the {module!r} module: pip install '{requirement}'"
                )
        self.setup()
        self._ready = True

    def produced_columns(self) -> list[str]:
        """The output columns this instance adds (some are optional, e.g. KenLM buckets)."""
        return list(self.outputs)

    def __call__(self, data: Any) -> pa.Table:
        """Score a Table, DataFrame or list of strings, in model batches; adds the output columns.

        Rows that already carry every output column (scores reused from an earlier run) are
        not scored again; the model loads only if some row needs it.
        """
        batch = as_table(data, self.params.text_column)
        columns = self.produced_columns()
        if not columns or not all(c in batch.column_names for c in columns):
            return self._score_in_batches(batch)
        missing = (
            pc.or_kleene(*[pc.is_null(batch[c]) for c in columns])
            if len(columns) > 1
            else pc.is_null(batch[columns[0]])
        )
        missing = pc.fill_null(missing, True)
        if not pc.any(missing).as_py():
            return batch
        fresh = self._score_in_batches(batch.filter(missing))
        mask = missing.combine_chunks() if isinstance(missing, pa.ChunkedArray) else missing
        for column in columns:
            merged = pc.replace_with_mask(
                batch[column].combine_chunks(), mask, fresh[column].combine_chunks()
            )
            batch = set_column(batch, column, merged)
        return batch

    def _score_in_batches(self, batch: pa.Table) -> pa.Table:
        """`score` over slices of the model batch size."""
        self.ready()
        size = self.params.batch_size or self.batch_size
        if batch.num_rows <= size:
            return self.score(batch)
        return pa.concat_tables(
            [self.score(batch.slice(i, size)) for i in range(0, batch.num_rows, size)]
        )

    def reasons(self, data: Any) -> pa.Array:
        """Reject reason per row (`<step>:<rule>`) from the scores, null for rows kept."""
        scored = self(data)
        return first_failures(self.name, scored.num_rows, self.checks(scored))

    def split(self, data: Any) -> tuple[pa.Table, pa.Table]:
        """(kept rows, rejected rows); both keep their scores."""
        scored = self(data)
        reasons = first_failures(self.name, scored.num_rows, self.checks(scored))
        return split_by_reason(scored, reasons, self.name)

    def __getstate__(self) -> dict[str, Any]:
        # Ship parameters only: a loaded model is rebuilt by `setup()` on the worker.
        return {"params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.params = state["params"]
