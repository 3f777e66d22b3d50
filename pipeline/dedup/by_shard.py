"""A dedup decision's duplicates regrouped by shard, so that each shard's reader opens one small
file instead of filtering every bucket's file (which holds rows of every shard)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import DUPLICATE_OF, ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source, parquet_files
from pipeline.io.storage import Location, parquet_file

COLUMNS = [SHARD, ROW, DUPLICATE_OF]
PARTS_FILE = "parts.json"  # written last: an index without it is incomplete
ROWS_PER_PART = 200_000  # duplicates per index file at most (~3 MB): what one shard's reader reads


def index_folder(decisions: Location) -> Location:
    """Where the by-shard index of `decisions` lives (beside it, like its cluster table)."""
    return decisions.parent / f"{decisions.name}.by-shard"


def index_parts(duplicates: int, sources: int) -> int:
    """Index files for `duplicates` rows from `sources` files: few enough that a small decision
    is one on-disk task, many enough that a shard's reader reads ROWS_PER_PART rows at most
    (no more parts than source files: shards map to parts one to one beyond that)."""
    return max(1, min(sources, -(-duplicates // ROWS_PER_PART)))


def index_by_shard(executor: Executor, decisions: Location, parts: int) -> None:
    """Regroup the duplicates under `decisions` into `parts` files, shard s in file s % parts,
    sorted by shard and row: one more shuffle, of three small columns of the duplicates only."""
    folder = index_folder(decisions)
    parts = max(1, parts)
    source = Source(parquet_files(decisions), COLUMNS, _bucket_by_shard)
    executor.shuffle([source], _sorted, folder, parts)
    (folder / PARTS_FILE).write_json({"parts": parts})


def load_shard(decisions: Location, shard: int) -> pa.Table | None:
    """One shard's duplicates (`_row`, `duplicate_of`) from the index; None without an index
    (decisions written before it existed: the caller scans every file)."""
    folder = index_folder(decisions)
    marker = folder / PARTS_FILE
    if not marker.exists():
        return None
    part = folder / f"bucket-{shard % marker.read_json()['parts']:05d}.parquet"
    if not part.exists():
        return pa.table({ROW: pa.array([], pa.int64()), DUPLICATE_OF: pa.array([], pa.string())})
    table = parquet_file(part).read(columns=COLUMNS)
    return table.filter(pc.equal(table[SHARD], shard)).select([ROW, DUPLICATE_OF])


def _bucket_by_shard(batch: pa.Table) -> pa.Table:
    """The shard is the bucket (folded into the part count by the shuffle)."""
    return batch.append_column(BUCKET, pc.cast(batch[SHARD], pa.int32()))


def _sorted(rows: pa.Table) -> pa.Table:
    """A part's rows, without the bucket, in shard and row order."""
    return rows.select(COLUMNS).sort_by([(SHARD, "ascending"), (ROW, "ascending")])
