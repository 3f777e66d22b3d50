"""Scorer base class: a small model that adds score columns, loaded once per worker."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from pipeline.core.batch_progress import model_rows_done
from pipeline.core.columns import set_column, text_table
from pipeline.core.resources import Requirement, Resources
from pipeline.core.rows import RowStep
from pipeline.core.step import StepKind, StepParams
from scorers.models import local_model, looks_like_hub_id, model_digest, resolve_model

__all__ = ["Requirement", "Resources", "Scorer", "ScorerParams"]


class ScorerParams(StepParams):
    """Parameters every scorer takes."""

    batch_size: int | None = Field(
        None, gt=0, description="Rows per model call (default: the scorer's)."
    )
    actors: int | None = Field(
        None, ge=1, description="Ray actor pool size (default: fits the CPUs)."
    )
    gpus: float | None = Field(
        None,
        ge=0,
        description="GPUs per Ray actor, fractions share a GPU (default: the scorer's; "
        "scorers that run on CUDA when they can take one where the cluster has GPUs).",
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


class Scorer(RowStep):
    """Base of model steps. Subclasses declare, as class data, `requires`, `resources`,
    `batch_size` and `outputs` (column -> Arrow type; a name may hold a `{param}`), load their
    model in `setup()` and add the declared columns in `score(batch)`. `checks(scored)` turns
    scores into keep/drop decisions (none by default), so a scorer step can also filter.

    Scores from an earlier run are reused only when every parameter that can change them is the
    same, and the step's version and model file too: list in `decision_params` the parameters
    that only change decisions or speed (thresholds, batch sizes); every other one keys reuse.
    """

    kind = StepKind.MODEL
    batch_size: ClassVar[int] = 1024
    outputs: ClassVar[dict[str, pa.DataType]] = {}
    optional_outputs: ClassVar[dict[str, str]] = {}  # column -> boolean parameter turning it on
    score_column: ClassVar[str] = ""  # the column keep_top / keep_bottom rank by
    decision_params: ClassVar[frozenset[str]] = frozenset(
        {"batch_size", "actors", "gpus", "keep_top", "keep_bottom"}
    )
    Params: ClassVar[type[ScorerParams]] = ScorerParams
    params: ScorerParams

    def setup(self) -> None:
        """Load the model; runs once per worker, before the first `score`."""

    def score(self, batch: pa.Table) -> pa.Table:
        """`batch` with the declared output columns added, rows in the same order."""
        raise NotImplementedError

    def ready(self) -> None:
        """Check dependencies and run `setup()` once."""
        if getattr(self, "_ready", False):
            return
        self.check_requirements()
        self.setup()
        self._ready = True

    def output_columns(self) -> dict[str, pa.DataType]:
        """The columns this instance adds: `outputs` with `{param}` names filled in, less the
        `optional_outputs` whose parameter is off."""
        values = self.params.model_dump()
        return {
            name.format(**values): kind
            for name, kind in self.outputs.items()
            if name not in self.optional_outputs or values[self.optional_outputs[name]]
        }

    def reuse_key(self) -> str:
        """A hash of the step's name, version and every score-changing parameter."""
        params = self.params.model_dump(mode="json", exclude=set(self.decision_params))
        key = {"step": self.name, "version": self.version, "params": params}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]

    def check_models(self) -> None:
        """The `model` parameter names a packaged model, a local file or folder, a trained
        model, or something shaped like a hub id (fetched on the workers, where allowed)."""
        model = getattr(self.params, "model", None)
        if isinstance(model, str) and local_model(model) is None and not looks_like_hub_id(model):
            resolve_model(model)  # raises ModelNotFoundError saying where it looked

    def model_digest(self) -> str | None:
        """The content hash of the file or folder the `model` parameter names, if local."""
        model = getattr(self.params, "model", None)
        return model_digest(model) if isinstance(model, str) else None

    def transform(self, batch: pa.Table) -> pa.Table:
        """`batch` scored (see `__call__`)."""
        return self(batch)

    def __call__(self, data: Any) -> pa.Table:
        """Score a Table, DataFrame or list of strings, in model batches; adds the output columns.

        Rows that already carry every output column (scores reused from an earlier run) are
        not scored again; the model loads only if some row needs it.
        """
        batch, invalid = text_table(data, self.text_input(), self.requires_records)
        if invalid.null_count != len(invalid):  # no model call for rows without usable text
            return self._score_usable(batch, pc.is_null(invalid))
        columns = list(self.output_columns())
        if not columns or not all(c in batch.column_names for c in columns):
            return self._score_in_batches(batch)
        missing = functools.reduce(pc.or_kleene, [pc.is_null(batch[c]) for c in columns])
        missing = pc.fill_null(missing, True)
        if not pc.any(missing).as_py():
            return batch
        fresh = self._score_in_batches(batch.filter(missing))
        # Row i takes the earlier value, or the next fresh one: a take over both, which works
        # for every type (embeddings are lists).
        mask = np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)
        rows = np.where(mask, batch.num_rows + np.cumsum(mask) - 1, np.arange(batch.num_rows))
        for column in columns:
            both = pa.concat_arrays(
                [
                    batch[column].combine_chunks(),
                    fresh[column].combine_chunks().cast(batch[column].type),
                ]
            )
            batch = set_column(batch, column, both.take(pa.array(rows)))
        return batch

    def _score_usable(self, batch: pa.Table, usable: pa.Array) -> pa.Table:
        """`batch` scored where `usable`, its output columns null elsewhere."""
        scored = self(batch.filter(usable))
        rows = np.cumsum(np.asarray(usable)) - 1
        at = pa.array(np.where(np.asarray(usable), rows, -1)).to_numpy()
        take = pa.array(at, mask=at < 0)
        for column, kind in self.output_columns().items():
            values = scored[column].combine_chunks() if scored.num_rows else pa.array([], kind)
            batch = set_column(batch, column, values.take(take))
        return batch

    def _score_in_batches(self, batch: pa.Table) -> pa.Table:
        """`score` over slices of the model batch size, output columns of the declared types."""
        self.ready()
        size = self.params.batch_size or self.batch_size
        if batch.num_rows <= size:
            return self._as_declared(self.score(batch))
        scored = []
        for start in range(0, batch.num_rows, size):
            scored.append(self.score(batch.slice(start, size)))
            model_rows_done(scored[-1].num_rows)
        return self._as_declared(pa.concat_tables(scored))

    def _as_declared(self, batch: pa.Table) -> pa.Table:
        """`batch` with each output column cast to its declared type, so that every file of a
        run has one schema."""
        for column, kind in self.output_columns().items():
            if column in batch.column_names and batch[column].type != kind:
                batch = set_column(batch, column, batch[column].cast(kind))
        return batch

    def __getstate__(self) -> dict[str, Any]:
        # Ship parameters and what `prepare` made: a loaded model is rebuilt by `setup()`.
        return {"params": self.params, "prepared": getattr(self, "prepared", {})}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.params = state["params"]
        self.prepared = state.get("prepared", {})
