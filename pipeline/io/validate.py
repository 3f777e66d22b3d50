"""Rows entering a run: bookkeeping columns, an id, and every unusable row already rejected
as `invalid:<why>` (null, empty, not UTF-8, too long; for instruction records, not a usable
conversation), so nothing is dropped silently."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import (
    INVALID_BYTES,
    REJECT_REASON,
    REJECTED_BY,
    ROW,
    SHARD,
    set_column,
    text_reasons,
)
from pipeline.io.records import CONVERSATION, KINDS, detect, with_fields
from pipeline.io.shards import InputShard, ReadOptions

INVALID_BY = "input"


def prepare(raw: pa.Table, shard: InputShard, opts: ReadOptions, first_row: int) -> pa.Table:
    """Add bookkeeping columns and an id; validate text (or records), rejecting bad rows."""
    n = raw.num_rows
    given = raw[REJECT_REASON].to_pylist() if REJECT_REASON in raw.column_names else [None] * n
    if REJECT_REASON in raw.column_names:
        raw = raw.drop_columns([REJECT_REASON])
    if opts.records == "text":
        column = "html" if shard.format == "warc" else opts.text_column  # a WARC holds pages
        texts, reasons, undecodable = validate_text(raw[column], opts.max_text_chars)
        table = raw.set_column(raw.column_names.index(column), column, texts)
        if any(b is not None for b in undecodable):
            table = set_column(table, INVALID_BYTES, pa.array(undecodable, pa.binary()))
    else:
        kind = opts.records if opts.records in KINDS else detect(raw.column_names)
        table, reasons = with_fields(raw, kind or "messages")
        _, too_long, _ = validate_text(table[CONVERSATION], opts.max_text_chars)
        reasons = [
            r or (t if t == "invalid:text_too_long" else None) for r, t in zip(reasons, too_long)
        ]
    reasons = [g or r for g, r in zip(given, reasons)]
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    ids = [f"{shard.label}:{r}" for r in range(first_row, first_row + n)]
    if opts.id_column in table.column_names and opts.id_policy == "file_row":
        kept = f"source_{opts.id_column}"  # the input's ids, kept beside the ones made here
        table = table.rename_columns(
            [kept if c == opts.id_column else c for c in table.column_names]
        )
    elif opts.id_column in table.column_names:
        given_ids = table[opts.id_column].cast(pa.string()).to_pylist()
        ids = [g if g is not None else made for g, made in zip(given_ids, ids)]
        table = table.drop_columns([opts.id_column])
    table = table.add_column(0, opts.id_column, pa.array(ids, pa.string()))
    table = table.append_column(SHARD, pa.array([shard.index] * n, pa.int32())).append_column(
        ROW, rows
    )
    reason = pa.array(reasons, pa.string())
    by = pc.if_else(pc.is_valid(reason), INVALID_BY, pa.scalar(None, pa.string()))
    return table.append_column(REJECT_REASON, reason).append_column(REJECTED_BY, by)


def validate_text(
    column: pa.ChunkedArray, max_chars: int
) -> tuple[pa.Array, list[str | None], list[bytes | None]]:
    """The text as a string array (bad bytes replaced), an invalid reason per row, and the
    original bytes of the rows that were not UTF-8."""
    kind = column.type
    if pa.types.is_null(kind):
        nulls: list[bytes | None] = [None] * len(column)
        return pa.nulls(len(column), pa.string()), ["invalid:null_text"] * len(column), nulls
    values: list[Any]
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        values = column.to_pylist()
    else:
        try:
            column.validate(full=True)
            values = column.to_pylist()
        except pa.ArrowInvalid:  # a string column holding bytes that are not UTF-8
            values = column.cast(
                pa.binary() if pa.types.is_string(kind) else pa.large_binary()
            ).to_pylist()
    texts, reasons = text_reasons(values)
    reasons = [
        "invalid:text_too_long" if r is None and t is not None and len(t) > max_chars else r
        for t, r in zip(texts, reasons, strict=True)
    ]
    raw = [v if r == "invalid:invalid_utf8" else None for v, r in zip(values, reasons, strict=True)]
    return pa.array(texts, pa.string()), reasons, raw
