"""Writing a stage's output for a shard and committing it.

Workers write each processed chunk as kept/rejected pieces in the shard's folder; a commit
checks that the pieces hold every row the stage read for the shard, publishes the final files
after the last stage, and writes the shard's `.done.json` marker, which vouches for it all.
"""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import (
    REJECT_ONLY,
    REJECT_REASON,
    REJECT_TYPES,
    REJECTED_BY,
    ROW,
    SHARD,
)
from pipeline.core.errors import RunError
from pipeline.io.layout import RunLayout, piece_name
from pipeline.io.readers import InputShard, empty_input_schema
from pipeline.io.records import convert
from pipeline.io.storage import (
    Location,
    merge_parquet,
    parquet_metadata,
    parquet_rows,
    parquet_schema,
    read_table,
    write_parquet,
)
from pipeline.run.deferred_columns import leave_out, worth_leaving_out
from pipeline.run.stages import SECONDS_META, StageContext
from pipeline.run.tokens import file_tokens, token_counter

NODE_META = b"tamis.node"  # the host that wrote a piece


def write_pieces(
    table: pa.Table,
    layout: RunLayout,
    stage: int,
    attempt: str | None = None,
    deferred: tuple[str, ...] = (),
) -> list[tuple[int, int]]:
    """Write a processed table as kept/rejected pieces per shard, named by the run attempt
    writing them, the kept ones without the values of the `deferred` input columns when that
    moves fewer bytes (the next stage reads them from the input:
    pipeline/run/deferred_columns.py); returns (shard, rows) pairs."""
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
        kept = kept.drop_columns([c for c in REJECT_ONLY if c in kept.column_names])
        left_out = [c for c in deferred if c in kept.column_names]
        if worth_leaving_out(part, kept, left_out):
            kept = leave_out(kept, left_out)
        rejected = part.filter(pc.invert(kept_mask))
        # Each piece is named by its own first row, so pieces merge back in input order.
        kept_first = kept[ROW][0].as_py() if kept.num_rows else first
        rejected_first = rejected[ROW][0].as_py() if rejected.num_rows else first
        meta = {**(kept.schema.metadata or {}), SECONDS_META: seconds, NODE_META: node}
        write_parquet(
            kept.replace_schema_metadata(meta),
            folder / piece_name("kept", kept_first, attempt),
        )
        write_parquet(
            rejected.replace_schema_metadata({NODE_META: node}),
            folder / piece_name("rejected", rejected_first, attempt),
        )
        seconds = b"{}"  # count a chunk's timings once
        written.append((shard, part.num_rows))
    return written


class StaleAttempt(RunError):
    """A task of an earlier attempt at the run tried to commit; a later attempt owns it now."""


def check_attempt(ctx: StageContext) -> None:
    """Raise StaleAttempt unless the output's lock is held by this task's attempt (a context
    without an attempt is not fenced)."""
    if ctx.attempt is None:
        return
    lock = ctx.layout.lock
    holder = lock.read_json().get("run") if lock.exists() else None
    if holder != ctx.attempt:
        raise StaleAttempt(
            f"{ctx.layout.root}: attempt {ctx.attempt} no longer holds the output "
            f"(now: {holder or 'none'}); its commit is refused"
        )


def commit_shard(ctx: StageContext, shard: InputShard) -> dict[str, Any]:
    """Check a shard's pieces are complete, publish final files if last stage, write its marker:
    counts, timings, the pieces it vouches for (`pieces`, this attempt's only), the node that
    read the shard (`node`, `pid`) and the rows each node wrote (`rows_by_node`). A task of an
    attempt that no longer holds the output cannot commit (StaleAttempt)."""
    layout, stage, attempt = ctx.layout, ctx.stage, ctx.attempt
    check_attempt(ctx)
    read = layout.read_marker(stage.index, shard.index, attempt).read_json()
    rows_in = read["rows"]
    kept_pieces = layout.kept_pieces(stage.index, shard.index, attempt)
    rejected_pieces = layout.rejected_pieces(stage.index, shard.index, attempt)
    kept = parquet_rows(kept_pieces)
    reasons = reason_counts(rejected_pieces)
    check_counts(ctx, shard, rows_in, kept, reasons)
    seconds: Counter[str] = Counter()
    by_node: Counter[str] = Counter()
    for piece in kept_pieces + rejected_pieces:
        footer = parquet_metadata(piece)
        meta = footer.metadata or {}
        seconds.update(json.loads(meta.get(SECONDS_META, b"{}")))
        by_node[meta.get(NODE_META, b"?").decode()] += footer.num_rows
    if stage.is_last:
        write = None if ctx.output_format == "keep" else partial(convert, target=ctx.output_format)
        earlier = [layout.committed_pieces(k, shard.index) for k in range(stage.index)]
        all_rejected = [p for _, rejected in earlier for p in rejected] + rejected_pieces
        # A shard with no rows left (or none at all) still gets files with its columns, or
        # readers of the whole folder would take an empty schema from it.
        empty = (
            None
            if kept_pieces and all_rejected
            else columns_without_rows(ctx, shard, [*earlier, (kept_pieces, rejected_pieces)])
        )
        merge_parquet(
            kept_pieces,
            layout.kept(shard.index),
            drop=(*ctx.private_columns, *REJECT_ONLY),
            transform=write,
            empty_schema=empty,
            ensure=ctx.step_columns,
        )
        merge_parquet(
            all_rejected,
            layout.rejected(shard.index),
            drop=ctx.private_columns,
            empty_schema=empty,
            ensure=ctx.step_columns | REJECT_TYPES,
        )
    return write_marker(
        ctx, shard, read, kept, reasons, seconds, by_node, kept_pieces, rejected_pieces
    )


def check_counts(
    ctx: StageContext, shard: InputShard, rows_in: int, kept: int, reasons: Counter[Any]
) -> None:
    """Raise unless a shard's kept and rejected rows add up to the rows its stage read."""
    rejected = sum(reasons.values())
    if kept + rejected != rows_in:
        raise RuntimeError(
            f"shard {shard.path}, stage {ctx.stage.index}: {rows_in} rows in "
            f"but {kept} kept + {rejected} rejected"
        )


def write_marker(
    ctx: StageContext,
    shard: InputShard,
    read: dict[str, Any],
    kept: int,
    reasons: Counter[tuple[str, str]],
    seconds: Counter[str],
    by_node: Counter[str],
    kept_pieces: list[Location],
    rejected_pieces: list[Location],
) -> dict[str, Any]:
    """Write a shard's `.done.json` for its stage (with the output's tokens after the last
    stage), unless its attempt no longer holds the output; returns what it wrote."""
    stage = ctx.stage
    stats = {
        "shard": shard.index,
        "path": shard.path,
        "rows_in": read["rows"],
        "kept": kept,
        "rejected": {f"{by}\t{reason}": n for (by, reason), n in sorted(reasons.items())},
        "seconds": dict(seconds),
        "node": read.get("node", socket.gethostname()),
        "pid": read.get("pid", os.getpid()),
        "rows_by_node": dict(sorted(by_node.items())),
        "committed_on": socket.gethostname(),
        "attempt": ctx.attempt,
        "pieces": {
            "kept": [p.name for p in kept_pieces],
            "rejected": [p.name for p in rejected_pieces],
        },
    }
    if stage.is_last and ctx.tokenizer:
        stats["tokens"] = output_tokens(ctx, shard)
    check_attempt(ctx)  # again: the work before took time
    ctx.layout.done(stage.index, shard.index).write_json(stats)
    return stats


def output_tokens(ctx: StageContext, shard: InputShard) -> dict[str, Any]:
    """Tokens of a shard's final files: kept, and rejected by each step."""
    tokenizer = token_counter(ctx.tokenizer)
    column = ctx.read.text_column
    kept = file_tokens(ctx.layout.kept(shard.index), column, tokenizer)
    rejected = file_tokens(ctx.layout.rejected(shard.index), column, tokenizer)
    return {"kept": kept[""], "rejected": dict(sorted(rejected.items()))}


def columns_without_rows(
    ctx: StageContext, shard: InputShard, stages: list[tuple[list[Location], list[Location]]]
) -> pa.Schema:
    """The columns of a shard's rows at their last stage, for output files with no rows: from
    the (kept, rejected) pieces each stage committed, else from the input file."""
    pieces = [piece for kept, rejected in stages for piece in kept + rejected]
    if not pieces:
        return empty_input_schema(shard, ctx.read)
    return pa.unify_schemas([parquet_schema(p) for p in pieces], promote_options="permissive")


def reason_counts(pieces: list[Location]) -> Counter[tuple[str, str]]:
    """Rejected rows per (step, reason) across pieces."""
    counts: Counter[tuple[str, str]] = Counter()
    for piece in pieces:
        table = read_table(piece, columns=[REJECTED_BY, REJECT_REASON])
        for row in (
            table.group_by([REJECTED_BY, REJECT_REASON]).aggregate([([], "count_all")]).to_pylist()
        ):
            counts[(row[REJECTED_BY], row[REJECT_REASON])] += row["count_all"]
    return counts
