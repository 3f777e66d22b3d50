"""A recipe as stages, and the per-shard work of one stage, shared by every runner.

Global steps cut the step list into stages. Stage k first rejects the rows that global step k
decided against (duplicates, rows under a percentile cut), then runs its row steps, then adds
the keys of the next global step.
Each shard's output of a stage is a set of pieces plus a `.done.json` marker, so a rerun
redoes only shards without a marker.
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

from pipeline.core.columns import DUPLICATE_OF, INTERNAL, REJECT_REASON, REJECTED_BY, ROW, SHARD
from pipeline.global_steps.base import GlobalStep
from pipeline.global_steps.thresholds import PercentileCut
from pipeline.io.layout import RunLayout
from pipeline.io.readers import InputShard, ReadOptions, read_shard
from pipeline.io.storage import (
    Location,
    merge_parquet,
    parquet_file,
    parquet_metadata,
    parquet_rows,
    read_table,
    write_parquet,
)
from pipeline.run.reuse import ScoreReuse
from scorers.base import Scorer

SECONDS_META = b"tamis.seconds"
NODE_META = b"tamis.node"  # the host that wrote a piece


@dataclass
class Stage:
    """Row steps between two global steps."""

    index: int
    steps: list[Any]
    applies: GlobalStep | None = None  # its decisions are applied first
    keys_for: GlobalStep | None = None  # its keys are added to the survivors

    @property
    def is_last(self) -> bool:
        return self.keys_for is None

    def describe(self) -> str:
        names = ([self.applies.name] if self.applies else []) + [s.name for s in self.steps]
        return " -> ".join(names) or "read"


def build_stages(steps: list[Any]) -> list[Stage]:
    """Cut the step list at each global step; a scorer with `keep_top` / `keep_bottom` is
    followed by the percentile cut it implies."""
    stages = [Stage(0, [])]

    def cut(step: GlobalStep) -> None:
        stages[-1].keys_for = step
        stages.append(Stage(len(stages), [], applies=step))

    for step in steps:
        if isinstance(step, GlobalStep):
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
    limits: dict[int, int | None] = field(default_factory=dict)
    reuse: ScoreReuse | None = None
    private_columns: tuple[str, ...] = INTERNAL  # bookkeeping never written to the final files


def stage_chunks(ctx: StageContext, shard: InputShard) -> Iterator[pa.Table]:
    """The rows entering stage k for one shard; writes the shard's read marker when done."""
    layout, stage = ctx.layout, ctx.stage
    # The runner clears leftovers of an interrupted attempt before the stage starts (never here:
    # a retried task must not delete pieces that other tasks already wrote).
    layout.shard_dir(stage.index, shard.index).mkdir()
    rows = 0
    if stage.index == 0:
        source: Iterator[pa.Table] = read_shard(shard, ctx.read, ctx.limits.get(shard.index))
        earlier = ctx.reuse.attach_for(shard.index, ctx.read.id_column) if ctx.reuse else None
        if earlier is not None:
            source = (ScoreReuse.attach(c, earlier, ctx.read.id_column) for c in source)
    else:
        source = _previous_survivors(layout, stage.index - 1, shard.index)
    step = stage.applies
    decisions = step.load_decisions(layout.decisions(stage.index), shard.index) if step else None
    for chunk in source:
        rows += chunk.num_rows
        yield step.apply_decisions(chunk, decisions) if step else chunk
    layout.read_marker(stage.index, shard.index).write_json(
        {"rows": rows, "node": socket.gethostname(), "pid": os.getpid()}
    )


def _previous_survivors(layout: RunLayout, stage: int, shard: int) -> Iterator[pa.Table]:
    """Kept pieces of the previous stage, batch by batch, with reason columns reset."""
    for piece in layout.kept_pieces(stage, shard):
        for batch in parquet_file(piece).iter_batches():
            # Drop the piece's timing metadata, which every batch would otherwise carry again.
            table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
            table = table.append_column(REJECT_REASON, pa.nulls(table.num_rows, pa.string()))
            yield table.append_column(REJECTED_BY, pa.nulls(table.num_rows, pa.string()))


def process_chunk(chunk: pa.Table, stage: Stage) -> pa.Table:
    """Run all of a stage's steps on a chunk, then add the next global step's keys."""
    return apply_steps(chunk, stage.steps, stage.keys_for)


def apply_steps(table: pa.Table, steps: list[Any], keys_for: GlobalStep | None = None) -> pa.Table:
    """Run `steps` on the live rows of `table` (rejected rows keep their reasons), then add the
    keys of `keys_for` to the rows still live. Seconds per step accumulate in the schema metadata.
    """
    seconds: Counter[str] = Counter(
        json.loads((table.schema.metadata or {}).get(SECONDS_META, b"{}"))
    )
    live_mask = pc.is_null(table[REJECT_REASON])
    done = [table.filter(pc.invert(live_mask))]
    live = table.filter(live_mask).drop_columns([REJECT_REASON, REJECTED_BY])
    for step in steps:
        start = time.perf_counter()
        live, rejected = step.split(live)
        seconds[step.name] += time.perf_counter() - start
        done.append(rejected)
    if keys_for is not None and live.num_rows:
        start = time.perf_counter()
        live = keys_for.keys(live)
        seconds[f"{keys_for.name}:keys"] += time.perf_counter() - start
    out = pa.concat_tables([live, *done], promote_options="permissive")
    out = out.sort_by([(SHARD, "ascending"), (ROW, "ascending")])  # input order, for any slicing
    return out.replace_schema_metadata({SECONDS_META: json.dumps(seconds).encode()})


def step_groups(steps: list[Any]) -> list[list[Any]]:
    """Consecutive steps that run together: each scorer alone (an actor pool on Ray), the steps
    between scorers in runs (plain tasks)."""
    groups: list[list[Any]] = []
    for step in steps:
        if isinstance(step, Scorer) or not groups or isinstance(groups[-1][0], Scorer):
            groups.append([step])
        else:
            groups[-1].append(step)
    return groups


def write_pieces(table: pa.Table, layout: RunLayout, stage: int) -> list[tuple[int, int]]:
    """Write a processed table as kept/rejected pieces per shard; returns (shard, rows) pairs."""
    seconds = (table.schema.metadata or {}).get(SECONDS_META, b"{}")
    table = table.replace_schema_metadata(None)
    node = socket.gethostname().encode()
    written = []
    for shard in pc.unique(table[SHARD]).to_pylist():
        part = table.filter(pc.equal(table[SHARD], shard)).sort_by([(ROW, "ascending")])
        first = part[ROW][0].as_py()
        folder = layout.shard_dir(stage, shard)
        kept_mask = pc.is_null(part[REJECT_REASON])
        kept = part.filter(kept_mask)
        kept = kept.drop_columns(
            [c for c in (REJECT_REASON, REJECTED_BY, DUPLICATE_OF) if c in kept.column_names]
        )
        rejected = part.filter(pc.invert(kept_mask))
        # Each piece is named by its own first row, so pieces merge back in input order.
        kept_first = kept[ROW][0].as_py() if kept.num_rows else first
        rejected_first = rejected[ROW][0].as_py() if rejected.num_rows else first
        write_parquet(
            kept.replace_schema_metadata({SECONDS_META: seconds, NODE_META: node}),
            folder / f"kept-{kept_first:012d}.parquet",
        )
        write_parquet(
            rejected.replace_schema_metadata({NODE_META: node}),
            folder / f"rejected-{rejected_first:012d}.parquet",
        )
        seconds = b"{}"  # count a chunk's timings once
        written.append((shard, part.num_rows))
    return written


def commit_shard(ctx: StageContext, shard: InputShard) -> dict[str, Any]:
    """Check a shard's pieces are complete, publish final files if last stage, write its marker:
    counts, timings, the node that read the shard (`node`, `pid`) and the rows each node wrote
    (`rows_by_node`)."""
    layout, stage = ctx.layout, ctx.stage
    read = layout.read_marker(stage.index, shard.index).read_json()
    rows_in = read["rows"]
    kept_pieces = layout.kept_pieces(stage.index, shard.index)
    rejected_pieces = layout.rejected_pieces(stage.index, shard.index)
    kept = parquet_rows(kept_pieces)
    reasons = _reason_counts(rejected_pieces)
    rejected = sum(reasons.values())
    if kept + rejected != rows_in:
        raise RuntimeError(
            f"shard {shard.path}, stage {stage.index}: {rows_in} rows in "
            f"but {kept} kept + {rejected} rejected"
        )
    seconds: Counter[str] = Counter()
    by_node: Counter[str] = Counter()
    for piece in kept_pieces + rejected_pieces:
        footer = parquet_metadata(piece)
        meta = footer.metadata or {}
        seconds.update(json.loads(meta.get(SECONDS_META, b"{}")))
        by_node[meta.get(NODE_META, b"?").decode()] += footer.num_rows
    if stage.is_last:
        merge_parquet(kept_pieces, layout.kept(shard.index), drop=ctx.private_columns)
        all_rejected = [
            p for k in range(ctx.n_stages) for p in layout.rejected_pieces(k, shard.index)
        ]
        merge_parquet(all_rejected, layout.rejected(shard.index), drop=ctx.private_columns)
    stats = {
        "shard": shard.index,
        "path": shard.path,
        "rows_in": rows_in,
        "kept": kept,
        "rejected": {f"{by}\t{reason}": n for (by, reason), n in sorted(reasons.items())},
        "seconds": dict(seconds),
        "node": read.get("node", socket.gethostname()),
        "pid": read.get("pid", os.getpid()),
        "rows_by_node": dict(sorted(by_node.items())),
        "committed_on": socket.gethostname(),
    }
    layout.done(stage.index, shard.index).write_json(stats)
    return stats


def _reason_counts(pieces: list[Location]) -> Counter[tuple[str, str]]:
    """Rejected rows per (step, reason) across pieces."""
    counts: Counter[tuple[str, str]] = Counter()
    for piece in pieces:
        table = read_table(piece, columns=[REJECTED_BY, REJECT_REASON])
        for row in (
            table.group_by([REJECTED_BY, REJECT_REASON]).aggregate([([], "count_all")]).to_pylist()
        ):
            counts[(row[REJECTED_BY], row[REJECT_REASON])] += row["count_all"]
    return counts
