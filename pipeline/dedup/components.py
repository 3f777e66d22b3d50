"""Connected components of a duplicate graph, distributed: alternating large-star and small-star
rounds (Kiveris et al., "Connected Components in MapReduce and Beyond", 2014).

Edges are rows (a, a_id, b, b_id) with a < b, where a and b order rows in the input (shard, then
row) and the ids ride along. Each round is one shuffle of the edges grouped by a node; rounds
repeat until the edge set stops changing, when every component is a star around its smallest
node: the row that is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import TamisError
from pipeline.core.executor import Executor
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source, bucket_of, mix64, parquet_files
from pipeline.io.storage import Location

EDGE_COLUMNS = ["a", "a_id", "b", "b_id"]
EDGE_SCHEMA = pa.schema(
    [("a", pa.int64()), ("a_id", pa.string()), ("b", pa.int64()), ("b_id", pa.string())]
)
MAX_ROUNDS = 64


def edges(a: Any, a_id: Any, b: Any, b_id: Any) -> pa.Table:
    """An edge table with the smaller node first, without self-loops or repeats."""
    table = pa.table([a, a_id, b, b_id], schema=EDGE_SCHEMA)
    swap = pc.greater(table["a"], table["b"])
    table = pa.table(
        [
            pc.if_else(swap, table["b"], table["a"]),
            pc.if_else(swap, table["b_id"], table["a_id"]),
            pc.if_else(swap, table["a"], table["b"]),
            pc.if_else(swap, table["a_id"], table["b_id"]),
        ],
        schema=EDGE_SCHEMA,
    )
    table = table.filter(pc.not_equal(table["a"], table["b"]))
    unique = table.group_by(["a", "b"], use_threads=False).aggregate(
        [("a_id", "first"), ("b_id", "first")]
    )
    return pa.table(
        [unique["a"], unique["a_id_first"], unique["b"], unique["b_id_first"]], schema=EDGE_SCHEMA
    )


def _both_directions(table: pa.Table) -> pa.Table:
    """Large-star input: every edge under each of its nodes (`a` is the group's node)."""
    flipped = table.select(["b", "b_id", "a", "a_id"]).rename_columns(EDGE_COLUMNS)
    out = pa.concat_tables([table.select(EDGE_COLUMNS), flipped])
    return out.append_column(BUCKET, bucket_of(out["a"].to_numpy()))


def _under_larger(table: pa.Table) -> pa.Table:
    """Small-star input: every edge under its larger node (`b` is the group's node)."""
    return table.select(EDGE_COLUMNS).append_column(BUCKET, bucket_of(table["b"].to_numpy()))


def _neighbour_minimum(table: pa.Table, node: str, other: str) -> tuple[pa.Table, pa.Table]:
    """Per group node: the smallest of its neighbours and itself, with that node's id."""
    candidates = pa.concat_tables(
        [
            table.select([node, other, f"{other}_id"]).rename_columns(["node", "m", "m_id"]),
            table.select([node, node, f"{node}_id"]).rename_columns(["node", "m", "m_id"]),
        ]
    )
    smallest = candidates.group_by("node", use_threads=False).aggregate([("m", "min")])
    ids = (
        candidates.select(["m", "m_id"])
        .group_by("m", use_threads=False)
        .aggregate([("m_id", "first")])
    )
    return smallest.rename_columns(["node", "m"]), ids.rename_columns(["m", "m_id"])


def large_star(bucket: pa.Table) -> pa.Table:
    """Connect every larger neighbour of a node to the smallest node around it."""
    smallest, ids = _neighbour_minimum(bucket, "a", "b")
    joined = bucket.join(smallest, "a", "node").join(ids, "m")
    larger = joined.filter(pc.greater(joined["b"], joined["a"]))
    return edges(larger["m"], larger["m_id"], larger["b"], larger["b_id"])


def small_star(bucket: pa.Table) -> pa.Table:
    """Connect a node and its smaller neighbours to the smallest of them."""
    smallest, ids = _neighbour_minimum(bucket, "b", "a")
    joined = bucket.join(smallest, "b", "node").join(ids, "m")
    neighbours = edges(joined["m"], joined["m_id"], joined["a"], joined["a_id"])
    selves = edges(joined["m"], joined["m_id"], joined["b"], joined["b_id"])
    both = pa.concat_tables([neighbours, selves])
    return edges(*(both[c] for c in EDGE_COLUMNS))


def _fingerprint(table: pa.Table) -> np.ndarray:
    """[edge count, wrapping sum of edge hashes]: equal for equal edge sets."""
    a, b = table["a"].to_numpy().astype(np.uint64), table["b"].to_numpy().astype(np.uint64)
    hashes = mix64(mix64(a) ^ b).view(np.int64)
    with np.errstate(over="ignore"):
        return np.array([len(a), hashes.sum(dtype=np.int64)], np.int64)


def connected_components(
    executor: Executor, edge_dir: Location, work: Location, buckets: int
) -> tuple[Location, int]:
    """Rounds of large-star then small-star over the edges in `edge_dir` until nothing changes;
    returns the folder of star edges (smallest node first) and the rounds run."""
    current = edge_dir
    before = executor.summarise(parquet_files(current), ["a", "b"], _fingerprint, 2)
    for round_ in range(1, MAX_ROUNDS + 1):
        large, small = work / f"round-{round_}-large", work / f"round-{round_}-small"
        executor.shuffle(
            [Source(parquet_files(current), EDGE_COLUMNS, _both_directions)],
            large_star,
            large,
            buckets,
        )
        executor.shuffle(
            [Source(parquet_files(large), EDGE_COLUMNS, _under_larger)], small_star, small, buckets
        )
        after = executor.summarise(parquet_files(small), ["a", "b"], _fingerprint, 2)
        large.remove()
        if current != edge_dir:
            current.remove()
        current = small
        if np.array_equal(before, after):
            return current, round_
        before = after
    raise TamisError(f"connected components did not converge in {MAX_ROUNDS} rounds")
