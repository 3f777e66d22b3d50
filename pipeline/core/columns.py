"""Names of the columns tamis adds, and coercion of user data to Arrow tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REJECT_REASON = "reject_reason"
REJECTED_BY = "rejected_by"
DUPLICATE_OF = "duplicate_of"
REJECT_VALUE = "reject_value"  # the measured value that failed a rule (float), when it has one
SIMILAR_TO = "similar_to"  # the record a selection found a rejected record too similar to
INVALID_RECORD = "invalid_record"  # an instruction record Arrow could not hold, as JSON text
INVALID_BYTES = "invalid_bytes"  # the original bytes of a row that was not UTF-8
ERROR = "error"  # what a step raised on a row it failed on (reason `error:<step>`)
READ_REASON = "_read_reason"  # why a reader could not use a row; becomes its reject reason
# Columns only rejected rows carry.
REJECT_ONLY = (
    REJECT_REASON,
    REJECTED_BY,
    REJECT_VALUE,
    DUPLICATE_OF,
    SIMILAR_TO,
    INVALID_RECORD,
    INVALID_BYTES,
    ERROR,
)
# Their types: every rejected file has them all, so that a folder of rejected files has one
# schema whichever rows each file holds.
REJECT_TYPES = {
    REJECT_REASON: pa.string(),
    REJECTED_BY: pa.string(),
    REJECT_VALUE: pa.float64(),
    DUPLICATE_OF: pa.string(),
    SIMILAR_TO: pa.string(),
    INVALID_RECORD: pa.string(),
    INVALID_BYTES: pa.binary(),
    ERROR: pa.string(),
}
# Internal bookkeeping columns: input shard index and row index within it. Never written out.
SHARD = "_shard"
ROW = "_row"

INTERNAL = (SHARD, ROW)
# Text fields of instruction records (pipeline/io/records.py), by the name a step's `field`
# setting uses; bookkeeping, never written out.
RECORD_FIELDS = {"prompt": "_prompt", "response": "_response", "conversation": "_conversation"}
MESSAGES = "_messages"  # the canonical turns of a record: list<struct<role, content>>


def as_table(data: Any, text_column: str = "text") -> pa.Table:
    """A pyarrow Table from a Table, a pandas DataFrame, or a list of strings."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, (list, tuple)):
        return pa.table({text_column: pa.array(list(data), pa.string())})
    if type(data).__name__ == "DataFrame" and hasattr(data, "to_dict"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        "expected a pyarrow Table, a pandas DataFrame or a list of strings, "
        f"got {type(data).__name__}"
    )


def text_reasons(values: list[Any]) -> tuple[list[str | None], list[str | None]]:
    """(the texts, with bytes decoded and any other value JSON-encoded; an `invalid:<why>`
    reason per value, null when it is usable text): the rule every reader and every step
    applies. Null, not a string, not UTF-8, empty or only spaces are invalid."""
    texts: list[str | None] = []
    reasons: list[str | None] = []
    for value in values:
        reason = None
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                value, reason = value.decode("utf-8", "replace"), "invalid:invalid_utf8"
        elif value is not None and not isinstance(value, str):
            value, reason = json.dumps(value, default=str), "invalid:not_a_string"
        if value is None:
            reason = "invalid:null_text"
        elif reason is None and not value.strip():
            reason = "invalid:empty_text"
        texts.append(value)
        reasons.append(reason)
    return texts, reasons


def text_table(data: Any, text_column: str, records: bool = False) -> tuple[pa.Table, pa.Array]:
    """`data` as a table whose text column is a string column, and per row the reason its
    text is invalid (null when usable): a list may hold anything, a table any type. A step
    that reads instruction `records` (or a field of them) takes records as dicts or a table."""
    if text_column in RECORD_FIELDS.values() and (
        records or any(isinstance(r, dict) for r in data)
        if isinstance(data, list | tuple)
        else text_column not in as_table(data).column_names
    ):
        from pipeline.io.records import records_table  # instruction records given in code

        table, invalid = records_table(data)
        return table, pa.array(invalid, pa.string())
    if isinstance(data, (list, tuple)):
        texts, reasons = text_reasons(list(data))
        return pa.table({text_column: pa.array(texts, pa.string())}), pa.array(reasons, pa.string())
    table = as_table(data, text_column)
    if text_column not in table.column_names:
        raise KeyError(
            f"text column {text_column!r} not in table (columns: {', '.join(table.column_names)})"
        )
    column = table[text_column]
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        nulls = pc.is_null(column)
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), False)
        if not pc.any(pc.or_(nulls, blank)).as_py():
            return table, pa.nulls(table.num_rows, pa.string())
    texts, reasons = text_reasons(column.to_pylist())
    table = set_column(table, text_column, pa.array(texts, pa.string()))
    return table, pa.array(reasons, pa.string())


def text_list(table: pa.Table, text_column: str) -> list[str]:
    """The text column as Python strings (nulls become empty strings)."""
    if text_column not in table.column_names:
        raise KeyError(
            f"text column {text_column!r} not in table (columns: {', '.join(table.column_names)})"
        )
    return [t if t is not None else "" for t in table[text_column].to_pylist()]


def set_column(table: pa.Table, name: str, values: pa.Array | Sequence[Any]) -> pa.Table:
    """Replace column `name`, or append it when absent."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, arr)
    return table.append_column(name, arr)


def list_column(matrix: np.ndarray, null_rows: np.ndarray | None = None) -> pa.ListArray:
    """A (rows x width) matrix as an Arrow list column, one list per row (null where
    `null_rows` is true)."""
    matrix = np.ascontiguousarray(matrix)
    offsets = pa.array(np.arange(0, matrix.size + 1, max(matrix.shape[1], 1), dtype=np.int32))
    mask = None if null_rows is None else pa.array(np.r_[null_rows, False])
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1)), mask=mask)


def embedding_array(vectors: np.ndarray) -> pa.Array:
    """(rows x dim) float32 vectors as an Arrow list<float32> column."""
    return list_column(np.asarray(vectors, np.float32))


def embedding_matrix(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow list<float32> column as a (rows x dim) float32 matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = pc.list_value_length(column)
    if column.null_count or (len(column) and pc.min_max(lengths)["min"] != pc.max(lengths)):
        raise ValueError("embedding column: every row needs a vector, all of the same length")
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)
