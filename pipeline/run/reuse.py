"""Reuse scores from an earlier run, to change thresholds without running the models again.

Kept and rejected rows keep their score columns, so a rerun of the same recipe with other
thresholds can take them by id from the earlier output; scorers then skip rows already scored.
Scores are reused only from a step of the same name whose reuse key is equal: its version,
every parameter that can change a score (all but those it declares decision-only) and the
content hash of its model (see `Scorer.reuse_key`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from pipeline.core.columns import set_column
from pipeline.core.errors import ManifestError
from pipeline.core.step import Step
from pipeline.io.layout import RunLayout
from pipeline.io.readers import InputShard
from pipeline.io.storage import Location, parquet_schema, read_table, redacted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreReuse:
    """Which columns to take from which earlier output shard."""

    old: Location
    columns: tuple[str, ...]
    types: dict[str, pa.DataType] = field(default_factory=dict)
    shards: dict[int, int] = field(default_factory=dict)  # new shard index -> earlier index

    def for_workers(self) -> ScoreReuse:
        """This reuse without its map of shards (each shard carries its own earlier index,
        `InputShard.reuse_from`), so that what every task is given stays small."""
        return replace(self, shards={})

    def attach_for(
        self, earlier: int | None, id_column: str
    ) -> tuple[dict[str, int], pa.Table] | None:
        """(id -> row, score table) of the earlier output's shard `earlier`, or None."""
        if earlier is None or not self.columns:
            return None
        layout, tables = RunLayout(self.old), []
        for path in (layout.kept(earlier), layout.rejected(earlier)):
            names = parquet_schema(path).names
            if id_column not in names:  # an empty shard's file has no columns
                continue
            table = read_table(path, columns=[id_column, *(c for c in self.columns if c in names)])
            for column in self.columns:
                if column not in table.column_names:
                    table = table.append_column(
                        column, pa.nulls(table.num_rows, self.types[column])
                    )
            tables.append(table.select([id_column, *self.columns]))
        if not tables:
            return None
        scores = pa.concat_tables(tables, promote_options="permissive")
        index = {i: n for n, i in enumerate(scores[id_column].to_pylist())}
        if len(index) != scores.num_rows:
            raise ManifestError(
                f"{self.old}: ids repeat within shard {earlier}, so scores cannot be "
                f"matched by {id_column!r}; rerun without --reuse-scores"
            )
        return index, scores

    @staticmethod
    def attach(
        chunk: pa.Table, loaded: tuple[dict[str, int], pa.Table], id_column: str
    ) -> pa.Table:
        """`chunk` with the earlier scores of its rows (null where there were none)."""
        index, scores = loaded
        rows = pa.array([index.get(i) for i in chunk[id_column].to_pylist()], pa.int64())
        for column in scores.column_names[1:]:
            chunk = set_column(chunk, column, scores[column].take(rows))
        return chunk


def plan_reuse(old: Location, steps: list[Step], shards: list[InputShard]) -> ScoreReuse:
    """The columns `steps` may take from the output folder `old`: those of each step whose
    reuse key (step, version, every score-changing parameter, model file) matches the key
    the earlier run recorded."""
    manifest_path = RunLayout(old).manifest
    if not manifest_path.exists():
        raise ManifestError(f"{old} holds no finished run (no manifest.json) to reuse scores from")
    manifest = manifest_path.read_json()
    earlier = {s["step"]: s for s in manifest["steps"]}
    types: dict[str, pa.DataType] = {}
    for step in steps:
        if _same_scores(step, earlier.get(step.name, {}), old):
            types |= step.output_columns()
    by_input = {s["input"]: s["index"] for s in manifest["shards"]}
    mapping = {s.index: by_input[redacted(s.path)] for s in shards if redacted(s.path) in by_input}
    return ScoreReuse(old, tuple(types), types, mapping)


def _same_scores(step: Step, earlier: dict[str, Any], old: Location) -> bool:
    """True when `step` would compute the scores the earlier run's step recorded: same reuse
    key, and the same model file where the model is on this machine. A model no longer here is
    taken on its name (the key holds the model setting), with a warning."""
    key = step.reuse_key()
    if key is None or earlier.get("reuse_key") != key:
        return False
    digest = step.model_digest()
    if digest is None:
        if earlier.get("model_digest") is not None:
            log.warning(
                "%s: its model is not on this machine; reusing its scores from %s on the "
                "strength of the model's name",
                step.name,
                old,
            )
        return True
    return bool(earlier.get("model_digest") == digest)
