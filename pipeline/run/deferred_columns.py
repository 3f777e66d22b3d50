"""Input columns left for the input: while no step has changed an input column (the text, a
URL, any metadata), a stage may write a kept piece with that column as nulls (a few bytes) and
the next stage reads it again from the input shard, by row (skipping row groups that hold none
of its rows). Then the input's columns are written once, in the final files, and only keys and
scores pass through the stages between.

A stage may do so when the input is Parquet text (a few columns of it can be read alone), for
each input column that no step up to it may change (`Step.may_change`: C4's `remove_lines` and
HTML extraction change the text; a step's output columns are its own) and that the next
stage's decisions do not read (MinHash `verify` reads the text). It does so for a piece when
that moves fewer bytes: when the piece's values of those columns are more than half of the
input's over the rows it spans (`worth_leaving_out`); a piece whose rows are mostly gone
carries its columns, so that a later stage does not read the input for rows long dropped. A
piece lists the columns it left out in its footer (COLUMNS_META); a piece of an earlier tamis
that left only the text out says so with TEXT_META.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.core.columns import ROW, set_column
from pipeline.core.errors import RunError
from pipeline.io.readers import open_input
from pipeline.io.shards import InputShard, ReadOptions
from pipeline.io.validate import validate_text

COLUMNS_META = b"tamis.input_columns"  # on a kept piece: the columns left for the input (JSON)
TEXT_META = b"tamis.text"  # the same, from tamis versions that left only the text out


def deferred_columns(
    stages: list, index: int, read: ReadOptions, formats: set[str], columns: list[str]
) -> tuple[str, ...]:
    """The input `columns` stage `index` may leave out of its kept pieces (none: it writes all)."""
    if read.records != "text" or formats != {"parquet"} or index + 1 >= len(stages):
        return ()
    readers = [g.decide_columns() for g in stages[index + 1].applies]
    if any(names is None for names in readers):
        return ()
    read_next = {name for names in readers for name in names}
    steps = [s for stage in stages[: index + 1] for s in [*stage.steps, *stage.keys_for]]
    return tuple(
        c
        for c in columns
        # the id is made at the first read (and an input id renamed): it stays in the pieces
        if c != read.id_column and not c.startswith("_") and c not in read_next
        if not any(step.may_change(c) for step in steps)
    )


def leave_out(kept: pa.Table, columns: list[str]) -> pa.Table:
    """`kept` with `columns` as nulls of their types, and the footer mark that lists them."""
    for column in columns:
        kept = set_column(kept, column, pa.nulls(kept.num_rows, kept.schema.field(column).type))
    listed = json.dumps(columns).encode()
    return kept.replace_schema_metadata({**(kept.schema.metadata or {}), COLUMNS_META: listed})


def columns_left_out(schema: pa.Schema, text_column: str) -> list[str]:
    """The columns a piece left for the input (none when it carries them all)."""
    meta = schema.metadata or {}
    if COLUMNS_META in meta:
        return json.loads(meta[COLUMNS_META])
    return [text_column] if meta.get(TEXT_META) == b"input" else []


def worth_leaving_out(part: pa.Table, kept: pa.Table, columns: list[str]) -> bool:
    """Whether leaving `columns` of `kept` (the kept rows of `part`, one shard's rows of a
    chunk) for the input moves fewer bytes. Carried, they are written and read back: twice
    their size. Left out, the next stage reads the input's values of every row the part spans,
    dropped ones too: estimated from the part's rows (rows dropped before are not in it)."""
    if not kept.num_rows or not columns:
        return False
    rows = part[ROW]
    span = pc.max(rows).as_py() - pc.min(rows).as_py() + 1
    return 2 * _size(kept, columns) > _size(part, columns) * span / part.num_rows


def _size(table: pa.Table, columns: list[str]) -> int:
    """Bytes of `columns`' values: string and binary lengths, the buffers of other types."""
    total = 0
    for column in columns:
        values = table[column]
        kind = values.type
        if (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
        ):
            total += pc.sum(pc.binary_length(values)).as_py() or 0
        else:
            total += values.nbytes
    return total


class InputColumns:
    """Some columns of one input shard, read again for rows asked in increasing order: batch
    by batch within a row group (memory: one batch, as the first stage read it), skipping the
    row groups that hold none of them. The text column is validated as the first read did."""

    def __init__(self, shard: InputShard, read: ReadOptions, columns: list[str]) -> None:
        self.read, self.columns, self.path = read, columns, shard.path
        self._open = ExitStack()
        self._file = pq.ParquetFile(self._open.enter_context(open_input(shard.path)))
        meta = self._file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self._starts = np.cumsum([0, *sizes])  # the first row of each row group, then the end
        self._seek(0)

    def _seek(self, group: int) -> None:
        """Read on from the start of row `group`."""
        self._group, self._first = group, int(self._starts[group])
        self._values = pa.table({c: pa.array([], pa.null()) for c in self.columns})
        self._batches = self._file.iter_batches(
            batch_size=self.read.chunk_rows, row_groups=[group], columns=self.columns
        )

    def _cover(self, row: int) -> None:
        """Move the buffer on to the batch holding `row`."""
        if row >= self._starts[-1]:
            raise RunError(
                f"{self.path}: row {row} is gone; the input changed during the run "
                "(rerun with --overwrite)"
            )
        group = int(np.searchsorted(self._starts, row, side="right")) - 1
        if group != self._group or row < self._first:
            self._seek(group)
        while row >= self._first + self._values.num_rows:
            self._first += self._values.num_rows
            values = pa.Table.from_batches([next(self._batches)])
            if self.read.text_column in self.columns:
                texts, _, _ = validate_text(values[self.read.text_column], self.read.max_text_chars)
                values = set_column(values, self.read.text_column, texts)
            self._values = values

    def restore(self, table: pa.Table) -> pa.Table:
        """`table` (rows in increasing `_row` order) with its columns taken from the input."""
        rows = table[ROW].to_numpy()
        parts, i = [], 0
        while i < len(rows):
            self._cover(int(rows[i]))
            end = int(np.searchsorted(rows, self._first + self._values.num_rows))
            parts.append(self._values.take(pa.array(rows[i:end] - self._first)))
            i = end
        if not parts:
            return table
        values = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        for column in self.columns:
            table = set_column(table, column, values[column].combine_chunks())
        return table

    def close(self) -> None:
        self._open.close()
