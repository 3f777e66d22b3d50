"""Rows entering a run: bookkeeping columns, an id, and every unusable row already rejected
as `invalid:<why>` (null, empty, not UTF-8, too long; for instruction records, not a usable
conversation), so nothing is dropped silently."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import (
    INVALID_BYTES,
    READ_REASON,
    REJECT_REASON,
    REJECTED_BY,
    ROW,
    SHARD,
    set_column,
    text_reasons,
)
from pipeline.io.records import CONVERSATION, KINDS, detect_table, record_columns, with_fields
from pipeline.io.shards import InputShard, ReadOptions

INVALID_BY = "input"


def prepare(raw: pa.Table, shard: InputShard, opts: ReadOptions, first_row: int) -> pa.Table:
    """Add bookkeeping columns and an id; validate text (or records), rejecting bad rows."""
    n = raw.num_rows
    given = raw[READ_REASON].to_pylist() if READ_REASON in raw.column_names else [None] * n
    if READ_REASON in raw.column_names:
        raw = raw.drop_columns([READ_REASON])
    # an earlier run's verdicts in the input (its rejected rows read back) are kept as data
    raw = raw.rename_columns(
        [f"source_{c}" if c in (REJECT_REASON, REJECTED_BY) else c for c in raw.column_names]
    )
    if opts.records == "text":
        column = "html" if shard.format == "warc" else opts.text_column  # a WARC holds pages
        texts, reasons, undecodable = validate_text(raw[column], opts.max_text_chars)
        table = raw.set_column(raw.column_names.index(column), column, texts)
    else:
        kind = (opts.records if opts.records in KINDS else detect_table(raw)) or "messages"
        raw, undecodable = decoded(raw, record_columns(kind))
        table, reasons = with_fields(raw, kind)
        reasons = [
            "invalid:invalid_utf8" if b is not None else r for r, b in zip(reasons, undecodable)
        ]
        _, too_long, _ = validate_text(table[CONVERSATION], opts.max_text_chars)
        reasons = [
            r or (t if t == "invalid:text_too_long" else None) for r, t in zip(reasons, too_long)
        ]
    if any(b is not None for b in undecodable):
        table = set_column(table, INVALID_BYTES, pa.array(undecodable, pa.binary()))
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


def decoded(table: pa.Table, names: tuple[str, ...]) -> tuple[pa.Table, list[bytes | None]]:
    """`table` with each string of its `names` columns (nested ones too) that is not UTF-8
    decoded with U+FFFD in place of bad bytes, and each row's first such string as it was."""
    undecodable: list[bytes | None] = [None] * table.num_rows
    for name in (n for n in names if n in table.column_names):
        column = table[name]
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        values = []
        for row, value in enumerate(column.cast(_as_binary(column.type)).to_pylist()):
            bad: list[bytes] = []
            values.append(_decode(value, bad))
            if bad and undecodable[row] is None:
                undecodable[row] = bad[0]
        at = table.column_names.index(name)
        table = table.set_column(at, name, pa.array(values, column.type))
    return table, undecodable


def _as_binary(kind: pa.DataType) -> pa.DataType:
    """`kind` with every string in it (at any depth) read as bytes."""
    if pa.types.is_string(kind):
        return pa.binary()
    if pa.types.is_large_string(kind):
        return pa.large_binary()
    if pa.types.is_list(kind):
        return pa.list_(_as_binary(kind.value_type))
    if pa.types.is_large_list(kind):
        return pa.large_list(_as_binary(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _as_binary(f.type)) for f in kind])
    return kind


def _decode(value: Any, bad: list[bytes]) -> Any:
    """`value` (from an `_as_binary` column) with its bytes decoded; undecodable ones in `bad`."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(value)
            return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_decode(v, bad) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v, bad) for k, v in value.items()}
    return value
