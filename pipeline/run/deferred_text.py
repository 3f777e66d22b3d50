"""Text left for the input: while no step has edited the documents' text, a stage may write
a kept piece with the text column as nulls (a few bytes) and the next stage reads the text
again from the input shard, by row (skipping row groups that hold none of its rows). Then the
text is written once, in the final files, and only keys and scores pass through the stages
between.

A stage may do so when the input is Parquet text (one column of it can be read alone), when no
step up to it may change the text (`Step.may_change_text`: C4's `remove_lines` and HTML
extraction do) and when the next stage's decisions do not read it (MinHash `verify`). It does
so for a piece when that moves fewer bytes: when the piece's text is more than half of the
input's text over the rows it spans (`worth_leaving_out`); a piece whose rows are mostly gone
carries its text, so that a later stage does not read the input's text for rows long dropped.
A piece says so in its footer (TEXT_META), so pieces of an earlier tamis still read as they are.
"""

from __future__ import annotations

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

TEXT_META = b"tamis.text"  # on a kept piece whose text column was left for the input


def deferred_text_column(
    stages: list, index: int, read: ReadOptions, formats: set[str]
) -> str | None:
    """The text column stage `index` leaves out of its kept pieces, or None when it writes it."""
    column = read.text_column
    if read.records != "text" or formats != {"parquet"} or index + 1 >= len(stages):
        return None
    steps = [s for stage in stages[: index + 1] for s in [*stage.steps, *stage.keys_for]]
    if any(step.may_change_text(column) for step in steps):
        return None
    readers = [g.decide_columns() for g in stages[index + 1].applies]
    if any(columns is None or column in columns for columns in readers):
        return None
    return column


def leave_out_text(kept: pa.Table, column: str) -> pa.Table:
    """`kept` with `column` as nulls of its type, and the footer mark that says so."""
    if column not in kept.column_names:
        return kept
    nulls = pa.nulls(kept.num_rows, kept.schema.field(column).type)
    kept = set_column(kept, column, nulls)
    return kept.replace_schema_metadata({**(kept.schema.metadata or {}), TEXT_META: b"input"})


def text_left_out(schema: pa.Schema) -> bool:
    """Whether a piece's text column was left for the input."""
    return (schema.metadata or {}).get(TEXT_META) == b"input"


def worth_leaving_out(part: pa.Table, kept: pa.Table, column: str) -> bool:
    """Whether leaving the text of `kept` (the kept rows of `part`, one shard's rows of a
    chunk) for the input moves fewer bytes. Carried, its text is written and read back: twice
    its size. Left out, the next stage reads the input's text of every row the part spans,
    dropped ones too: estimated from the part's rows (rows dropped before are not in it)."""
    if not kept.num_rows:
        return False
    rows = part[ROW]
    span = pc.max(rows).as_py() - pc.min(rows).as_py() + 1
    kept_bytes = pc.sum(pc.binary_length(kept[column])).as_py() or 0
    seen_bytes = pc.sum(pc.binary_length(part[column])).as_py() or 0
    return 2 * kept_bytes > seen_bytes * span / part.num_rows


class InputText:
    """One input shard's text column, read again for rows asked in increasing order: batch by
    batch within a row group (memory: one batch, as the first stage read it), skipping the row
    groups that hold none of them."""

    def __init__(self, shard: InputShard, read: ReadOptions) -> None:
        self.read, self.column, self.path = read, read.text_column, shard.path
        self._open = ExitStack()
        self._file = pq.ParquetFile(self._open.enter_context(open_input(shard.path)))
        meta = self._file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self._starts = np.cumsum([0, *sizes])  # the first row of each row group, then the end
        self._seek(0)

    def _seek(self, group: int) -> None:
        """Read on from the start of row `group`."""
        self._group, self._first = group, int(self._starts[group])
        self._texts = pa.array([], pa.string())  # rows self._first, self._first + 1, ...
        self._batches = self._file.iter_batches(
            batch_size=self.read.chunk_rows, row_groups=[group], columns=[self.column]
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
        while row >= self._first + len(self._texts):
            self._first += len(self._texts)
            batch = next(self._batches)
            self._texts, _, _ = validate_text(
                pa.chunked_array([batch.column(0)]), self.read.max_text_chars
            )

    def restore(self, table: pa.Table) -> pa.Table:
        """`table` (rows in increasing `_row` order) with its text column taken from the input."""
        rows = table[ROW].to_numpy()
        parts, i = [], 0
        while i < len(rows):
            self._cover(int(rows[i]))
            end = int(np.searchsorted(rows, self._first + len(self._texts)))
            parts.append(self._texts.take(pa.array(rows[i:end] - self._first)))
            i = end
        if not parts:
            return table
        texts = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
        return set_column(table, self.column, texts).replace_schema_metadata(table.schema.metadata)

    def close(self) -> None:
        self._open.close()
