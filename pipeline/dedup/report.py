"""Cluster report of a dedup step: how many clusters, their sizes, and the largest ones.

A cluster is a kept row and the duplicates that name it in `duplicate_of`. One shuffle groups
the decisions by kept id; sizes are summed into a histogram and the largest clusters are picked
while streaming over the (small) per-cluster table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from pipeline.core.columns import DUPLICATE_OF
from pipeline.core.executor import Executor
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source, parquet_files
from pipeline.io.storage import Location, parquet_file

MEMBER = "member"  # a duplicate's own id, in decision files
SIZE_BINS = (2, 3, 4, 5, 10, 100, 1000)  # lower edges of the reported size ranges
EXAMPLES = 3
MEMBERS_SHOWN = 5


def _by_kept_id(table: pa.Table) -> pa.Table:
    """Decision rows combined per kept id before the shuffle (the first members, the count on
    the first row), bucketed by that id: a cluster of any size is a few rows per batch."""
    rows = _first_members(
        table.select([DUPLICATE_OF, MEMBER]), pa.array(np.ones(table.num_rows, np.int64))
    )
    hashes = [xxhash.xxh64_intdigest(k.encode()) >> 1 for k in rows[DUPLICATE_OF].to_pylist()]
    return rows.append_column(BUCKET, pa.array(hashes, pa.int64()))


def _first_members(rows: pa.Table, counts: pa.Array) -> pa.Table:
    """Per kept id: its MEMBERS_SHOWN smallest member ids, with the summed `counts` as `n` on
    the first of them (0 on the others)."""
    rows = rows.append_column("n", counts).sort_by(
        [(DUPLICATE_OF, "ascending"), (MEMBER, "ascending")]
    )
    starts, lengths = _groups(rows[DUPLICATE_OF])
    n = np.zeros(rows.num_rows, np.int64)
    if rows.num_rows:
        n[starts] = np.add.reduceat(rows["n"].to_numpy().astype(np.int64), starts)
    rank = np.arange(rows.num_rows) - np.repeat(starts, lengths)
    shown = pa.array(rank < MEMBERS_SHOWN)
    return rows.set_column(2, "n", pa.array(n)).filter(shown)


def _groups(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of each run of equal values in a sorted column."""
    values = column.combine_chunks()
    if not len(values):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    changed = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
    starts = np.flatnonzero(np.r_[True, changed.to_numpy(zero_copy_only=False)])
    return starts, np.diff(np.r_[starts, len(values)])


def _clusters(bucket: pa.Table) -> pa.Table:
    """One row per kept id: cluster size (kept row included) and the first members' ids."""
    rows = _first_members(bucket.select([DUPLICATE_OF, MEMBER]), bucket["n"])
    starts, lengths = _groups(rows[DUPLICATE_OF])
    offsets = pa.array(np.r_[starts, rows.num_rows].astype(np.int32))
    return pa.table(
        {
            "kept": rows[DUPLICATE_OF].combine_chunks().take(pa.array(starts)),
            "size": pa.array(rows["n"].to_numpy()[starts] + 1, pa.int64()),
            "members": pa.ListArray.from_arrays(offsets, rows[MEMBER].combine_chunks()),
        }
    )


def _size_histogram(table: pa.Table) -> np.ndarray:
    """[clusters per size range..., duplicates]."""
    sizes = table["size"].to_numpy()
    counts = np.bincount(
        np.searchsorted(SIZE_BINS, sizes, side="right") - 1, minlength=len(SIZE_BINS)
    )
    return np.append(counts, int((sizes - 1).sum())).astype(np.int64)


def _label(i: int) -> str:
    low = SIZE_BINS[i]
    high = SIZE_BINS[i + 1] - 1 if i + 1 < len(SIZE_BINS) else None
    return str(low) if high == low else f"{low}-{high}" if high else f"{low}+"


def _top(clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The largest clusters, ties broken by kept id."""
    return sorted(clusters, key=lambda c: (-c["size"], c["kept"]))[:EXAMPLES]


def cluster_report(executor: Executor, decisions: Location) -> dict[str, Any]:
    """Clusters, duplicates, size distribution and the largest clusters of one dedup step;
    the per-cluster table is kept next to the decisions (`<decisions>.clusters/`)."""
    clusters_dir = decisions.parent / f"{decisions.name}.clusters"
    source = Source(parquet_files(decisions), [DUPLICATE_OF, MEMBER], _by_kept_id)
    executor.shuffle([source], _clusters, clusters_dir, max(1, len(source.files)))
    files = parquet_files(clusters_dir)
    counts = executor.summarise(files, ["size"], _size_histogram, len(SIZE_BINS) + 1)
    largest: list[dict[str, Any]] = []
    for path in files:  # streamed: the driver holds one batch and the current top few
        for batch in parquet_file(path).iter_batches():
            table = pa.Table.from_batches([batch])
            best = table.sort_by([("size", "descending"), ("kept", "ascending")])
            largest = _top([*largest, *best.slice(0, EXAMPLES).to_pylist()])
    return {
        "duplicates": int(counts[-1]),
        "clusters": int(counts[:-1].sum()),
        "cluster_sizes": {_label(i): int(n) for i, n in enumerate(counts[:-1]) if n},
        "largest_clusters": largest,
    }
