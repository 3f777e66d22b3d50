"""A run's plan: the steps and stages of a recipe, its input shards, row limits, the output
layout and the scores to reuse, all worked out on the driver before any row is read."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.columns import INTERNAL, INVALID_RECORD, MESSAGES, RECORD_FIELDS
from pipeline.core.errors import ManifestError, RecipeError, SchemaError
from pipeline.core.recipe import Recipe, build_steps
from pipeline.core.step import Step
from pipeline.global_steps.base import BUCKET
from pipeline.io.layout import RunLayout
from pipeline.io.readers import (
    InputShard,
    ReadOptions,
    discover,
    open_input,
    peek_columns,
    read_shard,
    record_mode,
)
from pipeline.io.records import RECORD_COLUMNS
from pipeline.io.storage import Location, redacted
from pipeline.run.reuse import ScoreReuse, plan_reuse
from pipeline.run.stages import Stage, build_stages

PEEK_OBJECTS = 1000  # JSON records whose keys stand for a file's columns
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """What a run does, where it reads and writes, decided once on the driver."""

    recipe: Recipe
    steps: list[Step]
    stages: list[Stage]
    shards: list[InputShard]  # each with its own row limit and earlier index (reuse)
    read: ReadOptions
    limit: int | None
    layout: RunLayout
    reuse: ScoreReuse | None
    private_columns: tuple[str, ...]  # bookkeeping and key columns never written out
    skipped_files: list[str]  # files in the input folders that no reader takes
    input_columns: list[str] = field(default_factory=list)  # the first Parquet file's columns

    def step_columns(self) -> dict[str, pa.DataType]:
        """The columns the steps add to rows, by type, as written out."""
        return {
            name: kind
            for step in self.steps
            for name, kind in step.output_columns().items()
            if name not in self.private_columns
        }


def plan_run(
    recipe: Recipe, limit: int | None = None, reuse_scores: str | Path | Location | None = None
) -> RunPlan:
    """The plan of a run of `recipe`, checked before anything is written: every step's Python
    dependencies and models, the input files, the columns the steps read, and that the output
    is neither inside the input nor holding it."""
    if limit is not None and limit < 1:
        raise RecipeError(f"limit: expected 1 row or more, got {limit}")
    for step in build_steps(recipe):
        step.check_requirements()
    _check_places(recipe.input.path, recipe.output.path)
    skipped: list[str] = []
    shards = discover(recipe.input.path, recipe.input.format, skipped)
    if skipped:
        log.warning(
            "%d file(s) under %s are of no input format tamis reads and are skipped: %s%s",
            len(skipped),
            redacted(recipe.input.path),
            ", ".join(redacted(s) for s in skipped[:5]),
            ", ..." if len(skipped) > 5 else "",
        )
    spec = recipe.input
    records = record_mode(shards[0], spec.records, spec.text_column)
    steps = build_steps(recipe, None if records == "text" else RECORD_FIELDS["conversation"])
    _check_fields(steps, records)
    _check_columns(steps, shards[0], records, spec.id_column)
    stages = build_stages(steps)
    read = ReadOptions(
        spec.text_column,
        spec.id_column,
        spec.max_text_chars,
        spec.chunk_rows,
        records,
        spec.max_invalid_fraction,
        spec.id_policy,
    )
    limits = row_limits(shards, limit, read)
    shards = [replace(s, limit=limits[s.index]) for s in shards]
    if limit is not None:
        shards = [s for s in shards if (s.limit or 0) > 0]
    layout = RunLayout.at(recipe.output.path)
    reuse = plan_reuse(Location.of(reuse_scores), steps, shards) if reuse_scores else None
    if reuse is not None:
        shards = [replace(s, reuse_from=reuse.shards.get(s.index)) for s in shards]
    if reuse is not None and reuse.old.same_place(layout.root):
        raise ManifestError("--reuse-scores must name another run's output folder than --output")
    for step in steps:  # a model whose scores are all taken from an earlier run may be gone
        if not (reuse and set(step.output_columns()) <= set(reuse.columns)):
            step.check_models()
    keys = {c for stage in stages for step in stage.keys_for for c in step.key_columns}
    record_columns = () if records == "text" else (MESSAGES, *RECORD_FIELDS.values())
    private = (*INTERNAL, BUCKET, *sorted(keys), *record_columns)
    columns = peek_columns(shards[0]) if shards[0].format == "parquet" else []
    return RunPlan(
        recipe, steps, stages, shards, read, limit, layout, reuse, private, skipped, columns
    )


def _check_places(inputs: str, output: str) -> None:
    """Refuse an output inside the input (a rerun would read the last run's files as input)
    or an input inside the output (a run would overwrite what it reads)."""
    found, out = Location.of(_folder_of(inputs)), Location.of(output)
    if type(found.fs) is not type(out.fs):
        return
    a, b = found.path.rstrip("/") + "/", out.path.rstrip("/") + "/"
    if a.startswith(b) or b.startswith(a):
        where = "inside the input" if b.startswith(a) else "around the input"
        raise RecipeError(
            f"the output {redacted(str(out))} is {where} {redacted(inputs)}: a run would read "
            "its own files; choose an output folder elsewhere"
        )


def _folder_of(path: str) -> str:
    """The fixed folder part of an input path or glob."""
    cut = min((path.index(c) for c in "*?[" if c in path), default=len(path))
    return path[:cut].rsplit("/", 1)[0] if cut < len(path) else path


def _check_columns(steps: list[Step], first: InputShard, records: str, id_column: str) -> None:
    """Each step's input columns are columns of the input (or ones an earlier step adds): checked
    on the first file's schema, or the keys of its JSON records (the first PEEK_OBJECTS, then
    all of them if a column is not there)."""
    if first.format == "warc" and records != "text":
        return
    available = {*peek_columns(first, PEEK_OBJECTS), id_column}
    if records != "text":
        available |= {*RECORD_COLUMNS, INVALID_RECORD}
    every_key = first.format != "jsonl"  # the file's schema, or each key of its records
    for step in steps:
        for wanted in step.input_columns():
            if wanted not in available and not every_key:
                available |= set(peek_columns(first, objects=None))  # a key of later records
                every_key = True
            if wanted not in available:
                setting = "text_column" if wanted == step.text_input() else "settings"
                shown = sorted(c for c in available if c not in RECORD_COLUMNS)
                raise RecipeError(
                    f"step {step.name}: no column {wanted!r} in the input {first.label} nor "
                    f"added by an earlier step (columns: {', '.join(shown)}); set its {setting}"
                )
        available |= set(step.output_columns())


def _check_fields(steps: list[Step], records: str) -> None:
    """A step's `field` setting, or a step of instruction records, needs instruction records."""
    for step in steps:
        if step.requires_records and records == "text":
            raise RecipeError(
                f"step {step.name} reads instruction records, but the input is read as text "
                "(input.records)"
            )
        field = getattr(step.params, "field", None)
        if field is not None and records == "text":
            raise RecipeError(
                f"step {step.name}: field: {field} needs instruction records, but the input is "
                "read as text (input.records)"
            )


def row_limits(
    shards: list[InputShard], limit: int | None, opts: ReadOptions
) -> dict[int, int | None]:
    """Rows to read from each shard so that at most `limit` are read in total, in input order."""
    if limit is None:
        return {s.index: None for s in shards}
    limits: dict[int, int | None] = {}
    left = limit
    for shard in shards:
        limits[shard.index] = left
        if left > 0:
            left -= min(left, count_rows(shard, opts))
    return limits


def parquet_row_count(shard: InputShard) -> int | None:
    """Rows in a shard when cheap to know (Parquet metadata), else None."""
    if shard.format != "parquet":
        return None
    try:
        with open_input(shard.path) as source:
            return pq.read_metadata(source).num_rows
    except (OSError, pa.ArrowException) as err:
        raise SchemaError(f"{shard.path}: cannot read parquet file: {err}") from None


def count_rows(shard: InputShard, opts: ReadOptions) -> int:
    """Rows in a shard, reading it if its metadata does not say (only for --limit)."""
    known = parquet_row_count(shard)
    if known is not None:
        return known
    return sum(chunk.num_rows for chunk in read_shard(shard, opts))
