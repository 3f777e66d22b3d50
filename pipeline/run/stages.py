"""A recipe as stages, and the row work of one stage on one shard, shared by every runner.

Global steps cut the step list into stages. Stage k first rejects the rows that its global
steps decided against (duplicates, rows under a percentile cut), then runs its row steps, then
adds the keys of the next stage's global steps. Global steps with no row step between them share
a stage: the stage before computes all their keys, and each decides in turn on the keys of the
rows the ones before it keep (pipeline/global_steps/survivors.py). Each shard's output of a
stage is a set of pieces plus a `.done.json` marker (pipeline/run/commit.py), so a rerun redoes
only shards without a marker.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import ERROR, INTERNAL, REJECT_REASON, REJECTED_BY, ROW, SHARD
from pipeline.core.errors import RunError, TamisError, first_line
from pipeline.core.step import Step, StepKind
from pipeline.global_steps.base import GlobalStep
from pipeline.global_steps.survivors import can_share_stage
from pipeline.global_steps.thresholds import PercentileCut
from pipeline.io.layout import RunLayout
from pipeline.io.readers import InputShard, ReadOptions, read_shard
from pipeline.io.storage import parquet_file
from pipeline.run.deferred_columns import InputColumns, columns_left_out
from pipeline.run.reuse import ScoreReuse

SECONDS_META = b"tamis.seconds"
MAX_ERROR_SHARE = 0.5  # of a chunk's rows a step may fail on before the run stops


@dataclass
class Stage:
    """Row steps between two global steps."""

    index: int
    steps: list[Any]
    applies: list[GlobalStep] = field(default_factory=list)  # decisions applied first, in order
    keys_for: list[GlobalStep] = field(default_factory=list)  # keys added to the survivors

    @property
    def is_last(self) -> bool:
        return not self.keys_for

    def describe(self) -> str:
        names = [g.name for g in self.applies] + [s.name for s in self.steps]
        return " -> ".join(names) or "read"

    def accounted_steps(self) -> list[Step]:
        """The steps whose rejections this stage counts: the global steps it applies, then its
        row steps."""
        return [*self.applies, *self.steps]


def build_stages(steps: list[Step]) -> list[Stage]:
    """Cut the step list at each global step; a scorer with `keep_top` / `keep_bottom` is
    followed by the percentile cut it implies. A global step right after another (no row
    step between) joins its stage when it can decide on keys alone."""
    stages = [Stage(0, [])]

    def cut(step: GlobalStep) -> None:
        last = stages[-1]
        shared = last.applies and all(can_share_stage(g, step) for g in last.applies)
        if shared and not last.steps:
            stages[-2].keys_for.append(step)
            last.applies.append(step)
            return
        last.keys_for.append(step)
        stages.append(Stage(len(stages), [], applies=[step]))

    for step in steps:
        if step.kind is StepKind.GLOBAL:
            assert isinstance(step, GlobalStep), f"{step.name} declares kind global"
            cut(step)
            continue
        stages[-1].steps.append(step)
        percentile = PercentileCut.for_step(step)
        if percentile is not None:
            cut(percentile)
    return stages


@dataclass
class StageContext:
    """Everything a worker needs to process shards of one stage (picklable)."""

    layout: RunLayout
    stage: Stage
    n_stages: int
    read: ReadOptions
    reuse: ScoreReuse | None = None  # without its map of shards (ScoreReuse.for_workers)
    private_columns: tuple[str, ...] = INTERNAL  # bookkeeping never written to the final files
    output_format: str = "keep"  # instruction records: the kind kept records are written in
    step_columns: dict[str, pa.DataType] = field(default_factory=dict)  # in every output file
    tokenizer: str | None = None  # counts the tokens of the output files (pipeline/run/tokens.py)
    attempt: str | None = None  # the run attempt (its lock's id): fences older attempts' tasks
    # input columns kept pieces may leave out, read again by the next stage (deferred_columns.py)
    deferred_columns: tuple[str, ...] = ()


def stage_chunks(ctx: StageContext, shard: InputShard) -> Iterator[pa.Table]:
    """The rows entering stage k for one shard; writes the shard's read marker when done."""
    layout, stage = ctx.layout, ctx.stage
    # The runner clears leftovers of an interrupted attempt before the stage starts (never here:
    # a retried task must not delete pieces that other tasks already wrote).
    layout.shard_dir(stage.index, shard.index).mkdir()
    rows = 0
    if stage.index == 0:
        source: Iterator[pa.Table] = read_shard(shard, ctx.read, shard.limit)
        earlier = ctx.reuse.attach_for(shard.reuse_from, ctx.read.id_column) if ctx.reuse else None
        if earlier is not None:
            source = (ScoreReuse.attach(c, earlier, ctx.read.id_column) for c in source)
    else:
        source = _previous_survivors(ctx, shard)
    decisions = [
        (step, step.load_decisions(layout.decisions(stage.index, j), shard.index))
        for j, step in enumerate(stage.applies)
    ]
    for chunk in source:
        rows += chunk.num_rows
        for step, decided in decisions:
            chunk = step.apply_decisions(chunk, decided)
        yield chunk
    layout.read_marker(stage.index, shard.index, ctx.attempt).write_json(
        {"rows": rows, "node": socket.gethostname(), "pid": os.getpid()}
    )


def _previous_survivors(ctx: StageContext, shard: InputShard) -> Iterator[pa.Table]:
    """Kept pieces the previous stage committed, batch by batch, with reason columns reset and
    the input columns read again from the input where a piece left them out."""
    kept, _ = ctx.layout.committed_pieces(ctx.stage.index - 1, shard.index)
    inputs: InputColumns | None = None
    try:
        for piece in kept:
            parquet = parquet_file(piece)
            left_out = columns_left_out(parquet.schema_arrow, ctx.read.text_column)
            if left_out and (inputs is None or inputs.columns != left_out):
                if inputs is not None:
                    inputs.close()
                inputs = InputColumns(shard, ctx.read, left_out)
            for batch in parquet.iter_batches():
                # Drop the piece's timing metadata, which every batch would otherwise carry again.
                table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
                if left_out:
                    table = inputs.restore(table)
                table = table.append_column(REJECT_REASON, pa.nulls(table.num_rows, pa.string()))
                yield table.append_column(REJECTED_BY, pa.nulls(table.num_rows, pa.string()))
    finally:
        if inputs is not None:
            inputs.close()


def process_chunk(chunk: pa.Table, stage: Stage) -> pa.Table:
    """Run all of a stage's steps on a chunk, then add the next global step's keys."""
    return apply_steps(chunk, stage.steps, stage.keys_for)


def apply_steps(
    table: pa.Table, steps: list[Any], keys_for: list[GlobalStep] | None = None
) -> pa.Table:
    """Run `steps` on the live rows of `table` (rejected rows keep their reasons), then add the
    keys of each step of `keys_for` to the rows still live. Seconds per step accumulate in the
    schema metadata."""
    seconds: Counter[str] = Counter(
        json.loads((table.schema.metadata or {}).get(SECONDS_META, b"{}"))
    )
    live_mask = pc.is_null(table[REJECT_REASON])
    done = [table.filter(pc.invert(live_mask))]
    live = table.filter(live_mask).drop_columns([REJECT_REASON, REJECTED_BY])
    for step in steps:
        start = time.perf_counter()
        live, rejected = split_guarded(step, live)
        seconds[step.name] += time.perf_counter() - start
        done.append(rejected)
    for step in keys_for or []:
        if not live.num_rows:
            break
        start = time.perf_counter()
        live = step.keys(live)
        seconds[f"{step.name}:keys"] += time.perf_counter() - start
    out = pa.concat_tables([live, *done], promote_options="permissive")
    out = out.sort_by([(SHARD, "ascending"), (ROW, "ascending")])  # input order, for any slicing
    return out.replace_schema_metadata({SECONDS_META: json.dumps(seconds).encode()})


def split_guarded(step: Step, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
    """`step.split(batch)`; if the step raises, the batch again row by row: a row it fails on
    is rejected as `error:<step>` (what it raised in `error`) and the others go on. A step that
    fails on more than MAX_ERROR_SHARE of the rows (a bug, a missing column) stops the run."""
    try:
        return step.split(batch)
    except TamisError:
        raise
    except Exception as first:
        kept, rejected, failed = [], [], []
        for row in range(batch.num_rows):
            try:
                one_kept, one_rejected = step.split(batch.slice(row, 1))
            except TamisError:
                raise
            except Exception as err:
                failed.append((row, f"{type(err).__name__}: {first_line(err)}"))
                continue
            kept.append(one_kept)
            rejected.append(one_rejected)
        if len(failed) > MAX_ERROR_SHARE * batch.num_rows or not kept:
            raise RunError(
                f"step {step.name} failed on {len(failed)} of {batch.num_rows} rows: "
                f"{type(first).__name__}: {first_line(first)}"
            ) from first
        bad = batch.take(pa.array([row for row, _ in failed], pa.int64()))
        bad = bad.append_column(REJECT_REASON, pa.array([f"error:{step.name}"] * bad.num_rows))
        bad = bad.append_column(REJECTED_BY, pa.array([step.name] * bad.num_rows))
        bad = bad.append_column(ERROR, pa.array([message for _, message in failed]))
        return (
            pa.concat_tables(kept, promote_options="permissive"),
            pa.concat_tables([*rejected, bad], promote_options="permissive"),
        )


def step_groups(steps: list[Step]) -> list[list[Step]]:
    """Consecutive steps that run together: each model step alone (an actor pool on Ray), the
    row steps between them in runs (plain tasks)."""
    groups: list[list[Step]] = []
    for step in steps:
        alone = step.kind is StepKind.MODEL
        if alone or not groups or groups[-1][0].kind is StepKind.MODEL:
            groups.append([step])
        else:
            groups[-1].append(step)
    return groups
