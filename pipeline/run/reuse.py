"""Reuse scores from an earlier run, to change thresholds without running the models again.

Kept and rejected rows keep their score columns, so a rerun of the same recipe with other
thresholds can take them by id from the earlier output; scorers then skip rows already scored.
Scores are reused only from a step of the same name whose score-changing parameters (model,
text column, …) are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pipeline.core.columns import set_column
from pipeline.core.errors import ManifestError
from pipeline.io.layout import RunLayout
from pipeline.io.readers import InputShard
from pipeline.io.storage import Location, parquet_schema, read_table, redacted


@dataclass(frozen=True)
class ScoreReuse:
    """Which columns to take from which earlier output shard."""

    old: Location
    columns: tuple[str, ...]
    types: dict[str, pa.DataType] = field(default_factory=dict)
    shards: dict[int, int] = field(default_factory=dict)  # new shard index -> earlier index

    def attach_for(self, shard: int, id_column: str) -> tuple[dict[str, int], pa.Table] | None:
        """(id -> row, score table) of the earlier output for one shard, or None."""
        if shard not in self.shards or not self.columns:
            return None
        layout, tables = RunLayout(self.old), []
        for path in (layout.kept(self.shards[shard]), layout.rejected(self.shards[shard])):
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
                f"{self.old}: ids repeat within shard {self.shards[shard]}, so scores cannot be "
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


def plan_reuse(old: Location, steps: list[Any], shards: list[InputShard]) -> ScoreReuse:
    """The score columns `steps` may take from the output folder `old`."""
    from scorers.base import Scorer

    manifest_path = RunLayout(old).manifest
    if not manifest_path.exists():
        raise ManifestError(f"{old} holds no finished run (no manifest.json) to reuse scores from")
    manifest = manifest_path.read_json()
    earlier = {s["step"]: s.get("params", {}) for s in manifest["steps"]}
    types: dict[str, pa.DataType] = {}
    for step in steps:
        if not isinstance(step, Scorer) or step.name not in earlier:
            continue
        now = step.params.model_dump()
        if all(earlier[step.name].get(k) == now.get(k) for k in step.score_params):
            types |= {c: step.outputs[c] for c in step.produced_columns()}
    by_input = {s["input"]: s["index"] for s in manifest["shards"]}
    mapping = {s.index: by_input[redacted(s.path)] for s in shards if redacted(s.path) in by_input}
    return ScoreReuse(old, tuple(types), types, mapping)
