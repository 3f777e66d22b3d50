"""Connected components of a duplicate graph, distributed: alternating large-star and small-star
rounds (Kiveris et al., "Connected Components in MapReduce and Beyond", 2014).

Edges are rows (a, a_id, b, b_id) with a < b, where a and b order rows in the input (shard, then
row) and the ids ride along. Each round is one shuffle of the edges grouped by a node; rounds
repeat until the edge set stops changing, when every component is a star around its smallest
node: the row that is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import TamisError
from pipeline.core.executor import Executor
from pipeline.dedup.base import bucket_count
from pipeline.dedup.hot_keys import FIRST, FIRST_ID, Grouping, find_hot, split_hot, spread
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Prepare, Resolve, Source, bucket_of, mix64, parquet_files
from pipeline.io.storage import Location, parquet_rows

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


def _both_ends(table: pa.Table) -> pa.ChunkedArray:
    return pa.chunked_array([*table["a"].chunks, *table["b"].chunks], pa.int64())


def _larger_ends(table: pa.Table) -> pa.ChunkedArray:
    return table["b"]


def _neighbours(table: pa.Table) -> pa.Table:
    """Large-star groups as (key: node, order: neighbour, id: the neighbour's id)."""
    flipped = table.select(["b", "a", "a_id"]).rename_columns(["key", "order", "id"])
    return pa.concat_tables(
        [table.select(["a", "b", "b_id"]).rename_columns(["key", "order", "id"]), flipped]
    )


def _smaller_neighbours(table: pa.Table) -> pa.Table:
    """Small-star groups as (key: node, order: smaller neighbour, id: its id)."""
    return table.select(["b", "a", "a_id"]).rename_columns(["key", "order", "id"])


LARGE_GROUPS = Grouping(["a", "b"], _both_ends, EDGE_COLUMNS, _neighbours)
SMALL_GROUPS = Grouping(["b"], _larger_ends, EDGE_COLUMNS, _smaller_neighbours)


def _decided(rest: pa.Table, m: Any, m_id: Any, b: Any, b_id: Any) -> pa.Table:
    """`rest` unmarked, then the edges (m, b) decided for hot rows, spread by `b` (so copies of
    one edge meet in one bucket) and marked by a non-null `FIRST`."""
    none = [pa.nulls(rest.num_rows, pa.int64()), pa.nulls(rest.num_rows, pa.string())]
    rest = rest.select(EDGE_COLUMNS + [BUCKET]).append_column(FIRST, none[0])
    rest = rest.append_column(FIRST_ID, none[1])
    decided = pa.table([m, m_id, b, b_id], schema=EDGE_SCHEMA)
    decided = decided.append_column(BUCKET, spread(decided["b"], pa.int64()))
    decided = decided.append_column(FIRST, decided["a"]).append_column(FIRST_ID, decided["a_id"])
    return pa.concat_tables([rest, decided.cast(rest.schema)])


def _both_directions_hot(table: pa.Table, hot: pa.Table) -> pa.Table:
    """Large-star input with the edges of hot nodes decided: (m, b) for each larger neighbour
    b, m the smallest of the node and its neighbours."""
    rest, hits = split_hot(_both_directions(table), "a", hot)
    hits = hits.filter(pc.greater(hits["b"], hits["a"]))
    smaller = pc.less(hits[FIRST], hits["a"])
    m = pc.if_else(smaller, hits[FIRST], hits["a"])
    m_id = pc.if_else(smaller, hits[FIRST_ID], hits["a_id"])
    return _decided(rest, m, m_id, hits["b"], hits["b_id"])


def _under_larger_hot(table: pa.Table, hot: pa.Table) -> pa.Table:
    """Small-star input with the edges of hot nodes decided: m, the smallest neighbour, linked
    to each other neighbour and (from its own edge) to the node."""
    rest, hits = split_hot(_under_larger(table), "b", hot)
    own = pc.equal(hits["a"], hits[FIRST])
    other = pc.if_else(own, hits["b"], hits["a"])
    other_id = pc.if_else(own, hits["b_id"], hits["a_id"])
    return _decided(rest, hits[FIRST], hits[FIRST_ID], other, other_id)


def _star_hot(bucket: pa.Table, star: Callable[[pa.Table], pa.Table]) -> pa.Table:
    """`star` over the undecided edges of a bucket, with the decided ones added."""
    decided = pc.is_valid(bucket[FIRST])
    found = star(bucket.filter(pc.invert(decided)).select(EDGE_COLUMNS))
    both = pa.concat_tables([found, bucket.filter(decided).select(EDGE_COLUMNS)])
    return edges(*(both[c] for c in EDGE_COLUMNS))


def _star_pass(
    executor: Executor,
    files: list[Location],
    plain: tuple[Prepare, Resolve],
    hot_split: tuple[Grouping, Callable[..., pa.Table]],
    dest: Location,
    buckets: int,
    split: tuple[int, int, Location] | None,
) -> None:
    """One star round's shuffle; with `split` = (edges, rows_per_bucket, work), the edges of
    nodes with too many of them are decided map-side (see pipeline/dedup/hot_keys.py)."""
    prepare, star = plain
    hot = None
    if split is not None:
        grouping, decide = hot_split
        count, rows_per_bucket, work = split
        # Sized by the edges grouped, which can outnumber the documents many times over.
        buckets = max(buckets, bucket_count(count, rows_per_bucket))
        hot = find_hot(executor, files, grouping, count, rows_per_bucket, buckets, work)
    if hot is None or not hot.num_rows:
        executor.shuffle([Source(files, EDGE_COLUMNS, prepare)], star, dest, buckets)
        return
    source = Source(files, EDGE_COLUMNS, partial(decide, hot=hot))
    executor.shuffle([source], partial(_star_hot, star=star), dest, buckets)


def _fingerprint(table: pa.Table) -> np.ndarray:
    """[edge count, wrapping sum of edge hashes]: equal for equal edge sets."""
    a, b = table["a"].to_numpy().astype(np.uint64), table["b"].to_numpy().astype(np.uint64)
    hashes = mix64(mix64(a) ^ b).view(np.int64)
    with np.errstate(over="ignore"):
        return np.array([len(a), hashes.sum(dtype=np.int64)], np.int64)


def connected_components(
    executor: Executor, edge_dir: Location, work: Location, buckets: int, rows_per_bucket: int = 0
) -> tuple[Location, int]:
    """Rounds of large-star then small-star over the edges in `edge_dir` until nothing changes;
    returns the folder of star edges (smallest node first) and the rounds run. With
    `rows_per_bucket`, a node with more edges than a bucket should hold is resolved map-side."""
    current = edge_dir
    before = executor.summarise(parquet_files(current), ["a", "b"], _fingerprint, 2)
    for round_ in range(1, MAX_ROUNDS + 1):
        large, small = work / f"round-{round_}-large", work / f"round-{round_}-small"
        files = parquet_files(current)
        split = (2 * int(before[0]), rows_per_bucket, work) if rows_per_bucket else None
        _star_pass(
            executor,
            files,
            (_both_directions, large_star),
            (LARGE_GROUPS, _both_directions_hot),
            large,
            buckets,
            split,
        )
        files = parquet_files(large)
        split = (parquet_rows(files), rows_per_bucket, work) if rows_per_bucket else None
        _star_pass(
            executor,
            files,
            (_under_larger, small_star),
            (SMALL_GROUPS, _under_larger_hot),
            small,
            buckets,
            split,
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
