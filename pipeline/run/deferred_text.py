"""Text left for the input: while no step has edited the documents' text, a stage may write
a kept piece with the text column as nulls (a few bytes) and the next stage reads the text
again from the input shard, by row (only the row groups holding its rows). Then the text is
written once, in the final files, and only keys and scores pass through the stages between.

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
    """One input shard's text column, read again by row group for the rows asked."""

    def __init__(self, shard: InputShard, read: ReadOptions) -> None:
        self.read, self.column = read, read.text_column
        self._open = ExitStack()
        self._file = pq.ParquetFile(self._open.enter_context(open_input(shard.path)))
        meta = self._file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self._starts = np.cumsum([0, *sizes])  # the first row of each row group, then the end
        self._loaded: dict[int, pa.Array] = {}  # the row groups read, while rows still need them

    def restore(self, table: pa.Table) -> pa.Table:
        """`table` with its text column taken from the input by `_row`."""
        rows = table[ROW].to_numpy()
        if not len(rows):
            return table
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        for group in sorted(set(self._loaded) - set(groups.tolist())):
            if group < groups.min():  # pieces come in row order: never needed again
                del self._loaded[group]
        needed = np.unique(groups)
        chunks = pa.chunked_array([self._group(int(g)) for g in needed], pa.string())
        sizes = self._starts[needed + 1] - self._starts[needed]
        base = np.zeros(len(self._starts), np.int64)  # where each needed group starts in chunks
        base[needed] = np.cumsum(sizes) - sizes
        at = rows - self._starts[groups] + base[groups]
        texts = chunks.take(pa.array(at)).combine_chunks()
        return set_column(table, self.column, texts).replace_schema_metadata(table.schema.metadata)

    def _group(self, group: int) -> pa.Array:
        """One row group's text, validated as the first stage read it."""
        if group not in self._loaded:
            column = self._file.read_row_group(group, columns=[self.column]).column(0)
            self._loaded[group], _, _ = validate_text(column, self.read.max_text_chars)
        return self._loaded[group]

    def close(self) -> None:
        self._open.close()
