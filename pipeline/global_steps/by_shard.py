"""A global step's per-row decisions regrouped by shard, so that each shard's reader opens one
small file instead of filtering every file of the decision (each holds rows of every shard)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from pipeline.core.columns import DUPLICATE_OF, ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source
from pipeline.io.storage import Location, parquet_file

DUPLICATES = [SHARD, ROW, DUPLICATE_OF]  # what a dedup decision's index holds
PARTS_FILE = "parts.json"  # written last: an index without it is incomplete
ROWS_PER_PART = 200_000  # decision rows per index file at most (a few MB): what a reader reads


def index_folder(decisions: Location) -> Location:
    """Where the by-shard index of `decisions` lives (beside it, like its cluster table)."""
    return decisions.parent / f"{decisions.name}.by-shard"


def index_parts(rows: int, sources: int) -> int:
    """Index files for `rows` decision rows from `sources` files: few enough that a small
    decision is one on-disk task, many enough that a part holds about ROWS_PER_PART rows (no
    more parts than source files: shards map to parts one to one beyond that)."""
    return max(1, min(sources, -(-rows // ROWS_PER_PART)))


def index_by_shard(
    executor: Executor, files: list[Location], folder: Location, columns: list[str], parts: int
) -> None:
    """Regroup the rows of `files` (their `columns`, `_shard` first) into `parts` files under
    `folder`, shard s in file s % parts, sorted by shard and row."""
    parts = max(1, parts)
    source = Source(files, columns, _bucket_by_shard)
    executor.shuffle([source], _sorted, folder, parts)
    (folder / PARTS_FILE).write_json({"parts": parts, "columns": columns})


def load_shard(folder: Location, shard: int) -> pa.Table | None:
    """One shard's rows (every indexed column but `_shard`); None without a complete index
    (decisions written before it existed: the caller scans every file)."""
    marker = folder / PARTS_FILE
    if not marker.exists():
        return None
    index = marker.read_json()
    columns = [c for c in index["columns"] if c != SHARD]
    part = folder / f"bucket-{shard % index['parts']:05d}.parquet"
    if not part.exists():  # no shard of this part has a row: no listing to find a schema
        return pa.table({c: pa.array([], pa.null()) for c in columns})
    table = parquet_file(part).read()
    return table.filter(pc.equal(table[SHARD], shard)).select(columns)


def scan_shard(files: list[Location], columns: list[str], shard: int) -> pa.Table:
    """One shard's rows by filtering every file: for decisions written before the index."""
    found = pads.dataset([f.path for f in files], filesystem=files[0].fs, format="parquet")
    return found.to_table(columns=columns, filter=pc.field(SHARD) == shard)


def _bucket_by_shard(batch: pa.Table) -> pa.Table:
    """The shard is the bucket (folded into the part count by the shuffle)."""
    return batch.append_column(BUCKET, pc.cast(batch[SHARD], pa.int32()))


def _sorted(rows: pa.Table) -> pa.Table:
    """A part's rows, without the bucket, in shard and row order."""
    return rows.drop_columns([BUCKET]).sort_by([(SHARD, "ascending"), (ROW, "ascending")])
