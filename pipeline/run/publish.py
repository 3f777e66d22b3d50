"""The last stage when it only applies decisions: the rows the decisions keep go from the
previous stage's pieces straight into the final kept file, with no pieces of their own in
between (a stage of pieces would write every kept row twice and read it twice)."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import REJECT_ONLY, REJECT_REASON, REJECT_TYPES, ROW
from pipeline.io.layout import piece_name
from pipeline.io.readers import InputShard
from pipeline.io.records import convert
from pipeline.io.storage import (
    Location,
    merge_parquet,
    merged_schema,
    parquet_schema,
    write_parquet,
    write_tables,
)
from pipeline.run.commit import (
    NODE_META,
    check_attempt,
    check_counts,
    columns_without_rows,
    reason_counts,
    write_marker,
)
from pipeline.run.stages import Stage, StageContext, stage_chunks


def publishes_only(stage: Stage) -> bool:
    """Whether a stage is the last and runs no row step: it only applies decisions."""
    return stage.is_last and not stage.steps and bool(stage.applies)


def publish_shard(ctx: StageContext, shard: InputShard) -> int:
    """Apply the stage's decisions to one shard's surviving rows while writing its final
    files; write its marker like a commit (pipeline/run/commit.py). Returns the rows read."""
    layout, stage, attempt = ctx.layout, ctx.stage, ctx.attempt
    check_attempt(ctx)
    earlier = [layout.committed_pieces(k, shard.index) for k in range(stage.index)]
    previous_kept = earlier[-1][0]
    write = None if ctx.output_format == "keep" else partial(convert, target=ctx.output_format)
    drop = (*ctx.private_columns, *REJECT_ONLY)
    empty = None if previous_kept else columns_without_rows(ctx, shard, earlier)
    schema = merged_schema(
        [parquet_schema(p) for p in previous_kept], drop, write, empty, ctx.step_columns
    )
    rejected_pieces: list[Location] = []
    folder = layout.shard_dir(stage.index, shard.index)
    rows = _kept_rows(stage_chunks(ctx, shard), folder, attempt, rejected_pieces)
    kept = write_tables(rows, layout.kept(shard.index), schema, write)
    read = layout.read_marker(stage.index, shard.index, attempt).read_json()
    all_rejected = [p for _, rejected in earlier for p in rejected] + rejected_pieces
    merge_parquet(
        all_rejected,
        layout.rejected(shard.index),
        drop=ctx.private_columns,
        empty_schema=None if all_rejected else columns_without_rows(ctx, shard, earlier),
        ensure=ctx.step_columns | REJECT_TYPES,
    )
    reasons = reason_counts(rejected_pieces)
    check_counts(ctx, shard, read["rows"], kept, reasons)
    by_node = Counter({read["node"]: read["rows"]} if read["rows"] else {})
    write_marker(ctx, shard, read, kept, reasons, Counter(), by_node, [], rejected_pieces)
    return read["rows"]


def _kept_rows(
    chunks: Iterator[pa.Table], folder: Location, attempt: str | None, pieces: list[Location]
) -> Iterator[pa.Table]:
    """The kept rows of each chunk; the rejected ones are written as pieces in `folder` on
    the way and added to `pieces`."""
    node = {NODE_META: socket.gethostname().encode()}
    for chunk in chunks:
        live = pc.is_null(chunk[REJECT_REASON])
        rejected = chunk.filter(pc.invert(live))
        if rejected.num_rows:
            piece = folder / piece_name("rejected", rejected[ROW][0].as_py(), attempt)
            write_parquet(rejected.replace_schema_metadata(node), piece)
            pieces.append(piece)
        kept = chunk.filter(live)
        yield kept.drop_columns([c for c in REJECT_ONLY if c in kept.column_names])
