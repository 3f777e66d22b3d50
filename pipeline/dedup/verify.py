"""True-Jaccard check of candidate pairs: two joins of the pairs with the documents' text.

Pass 1 groups pairs by their first node with every document's text by its order, and attaches
the first text; pass 2 does the same for the second node, then compares the two shingle sets.
Each pass shuffles all texts once: this is the costly part of fuzzy dedup, hence optional.

A node in more pairs than a bucket should hold (the first document of a giant cluster, which
the band pass pairs with every copy) is a skewed join key: its pairs would all land in one
reducer, each given a copy of its text. So each pass first counts its nodes (a sketch over
the pairs, `hot_keys.find_hot`), cuts a hot node's pairs into pieces of about `hot_limit`
pairs spread over consecutive buckets, and sends its document to each of those buckets (a
salted join): a few copies of one text instead of one reducer holding them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.dedup.base import order_key
from pipeline.dedup.components import EDGE_COLUMNS, EDGE_SCHEMA, edges
from pipeline.dedup.hot_keys import Grouping, find_hot, hot_limit
from pipeline.dedup.minhash import jaccard, shingle_hashes
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source, bucket_of, parquet_files
from pipeline.io.storage import Location, parquet_rows

JOIN_SCHEMA = pa.schema(
    [("node", pa.int64()), ("text", pa.string())]
    + list(EDGE_SCHEMA)
    + [("a_text", pa.string()), (BUCKET, pa.int64())]
)


@dataclass(frozen=True)
class Pieces:
    """Hot nodes of one join and how many buckets each one's pairs are cut into."""

    nodes: np.ndarray
    counts: np.ndarray
    buckets: int

    def of(self, nodes: np.ndarray) -> np.ndarray:
        """Pieces of each node: 1 unless it is hot."""
        if not len(self.nodes):
            return np.ones(len(nodes), np.int64)
        found = np.minimum(np.searchsorted(self.nodes, nodes), len(self.nodes) - 1)
        return np.where(self.nodes[found] == nodes, self.counts[found], 1)

    def first_bucket(self, nodes: np.ndarray) -> np.ndarray:
        """Each node's own bucket (its first piece's)."""
        return bucket_of(nodes).to_numpy() % self.buckets


def _documents(table: pa.Table, text_column: str, pieces: Pieces) -> pa.Table:
    """Document rows of a join: order and text, bucketed by order; a hot node's document once
    more for each further bucket its pairs are cut into."""
    order = order_key(table).to_numpy()
    copies = pieces.of(order)
    rows = np.repeat(np.arange(len(order)), copies)
    piece = np.arange(len(rows)) - np.repeat(np.cumsum(copies) - copies, copies)
    bucket = (pieces.first_bucket(order)[rows] + piece) % pieces.buckets
    columns = {"node": pa.array(order[rows]), "text": pc.take(table[text_column], rows)}
    return _join_rows(columns, len(rows), pa.array(bucket))


def _pairs(table: pa.Table, side: str, pieces: Pieces) -> pa.Table:
    """Pair rows of a join, bucketed by the node on `side` (a hot node's pairs spread by their
    other node over its pieces)."""
    columns = {c: table[c] for c in (*EDGE_COLUMNS, "a_text") if c in table.column_names}
    node = table[side].to_numpy()
    other = table["b" if side == "a" else "a"].to_numpy()
    piece = bucket_of(other).to_numpy() % pieces.of(node)
    bucket = (pieces.first_bucket(node) + piece) % pieces.buckets
    return _join_rows(columns, table.num_rows, pa.array(bucket))


def _join_rows(columns: dict[str, Any], rows: int, bucket: pa.Array) -> pa.Table:
    """A table of JOIN_SCHEMA with the given columns, the others null."""
    arrays = [
        columns.get(f.name, pa.nulls(rows, f.type)) if f.name != BUCKET else bucket
        for f in JOIN_SCHEMA
    ]
    return pa.table(arrays, schema=JOIN_SCHEMA)


def _split(bucket: pa.Table, side: str) -> pa.Table:
    """The bucket's pairs with the text of their `side` node as `<side>_text_found`."""
    docs = bucket.filter(pc.is_valid(bucket["node"])).select(["node", "text"])
    pairs = bucket.filter(pc.is_valid(bucket["a"])).drop_columns(["node", "text", BUCKET])
    return pairs.join(docs, side, "node").rename_columns([*pairs.column_names, f"{side}_found"])


def _attach_first(bucket: pa.Table) -> pa.Table:
    """Pass 1: pairs with their first document's text."""
    joined = _split(bucket, "a")
    columns = {c: joined[c] for c in EDGE_COLUMNS} | {"a_text": joined["a_found"]}
    return _join_rows(columns, joined.num_rows, pa.array(np.zeros(joined.num_rows, np.int64)))


def _compare(bucket: pa.Table, ngram: int, threshold: float) -> pa.Table:
    """Pass 2: the pairs whose shingle sets have Jaccard similarity >= threshold."""
    joined = _split(bucket, "b")
    left, left_at = shingle_hashes(joined["a_text"], ngram)
    right, right_at = shingle_hashes(joined["b_found"], ngram)
    similar = np.array(
        [
            jaccard(left[left_at[i] : left_at[i + 1]], right[right_at[i] : right_at[i + 1]])
            >= threshold
            for i in range(joined.num_rows)
        ],
        bool,
    )
    kept = joined.filter(pa.array(similar)) if joined.num_rows else joined
    return edges(*(kept[c] for c in EDGE_COLUMNS))


def _node_keys(table: pa.Table, side: str) -> pa.ChunkedArray:
    return table[side]


def _node_rows(table: pa.Table, side: str) -> pa.Table:
    """A pair's node on `side` as a row of its group (key, order and id: the node)."""
    node = table[side]
    return pa.table({"key": node, "order": node, "id": pc.cast(node, pa.string())})


def hot_nodes(
    executor: Executor,
    pairs: list[Location],
    side: str,
    rows_per_bucket: int,
    buckets: int,
    work: Location,
) -> Pieces:
    """The nodes on `side` of more than `hot_limit(rows_per_bucket)` pairs, with the pieces
    (at most `buckets`) their pairs are cut into."""
    grouping = Grouping(
        [side], partial(_node_keys, side=side), [side], partial(_node_rows, side=side)
    )
    occurrences = parquet_rows(pairs)
    hot = find_hot(executor, pairs, grouping, occurrences, rows_per_bucket, buckets, work)
    hot = hot.sort_by("key")
    counts = np.ceil(hot["count"].to_numpy() / hot_limit(rows_per_bucket)).astype(np.int64)
    nodes = hot["key"].to_numpy().astype(np.int64)
    return Pieces(nodes, np.clip(counts, 1, buckets), buckets)


def verify_edges(
    executor: Executor,
    pairs: Location,
    sources: list[Location],
    text_column: str,
    ngram: int,
    threshold: float,
    work: Location,
    buckets: int,
    rows_per_bucket: int,
) -> tuple[Location, int]:
    """Keep the candidate pairs in `pairs` whose true Jaccard is >= threshold; returns their
    folder and how many hot nodes the two joins split."""
    split = 0
    first = work / "verify-first"
    verified = work / "verified"
    passes = [
        (pairs, EDGE_COLUMNS, "a", _attach_first, first),
        (
            first,
            [*EDGE_COLUMNS, "a_text"],
            "b",
            partial(_compare, ngram=ngram, threshold=threshold),
            verified,
        ),
    ]
    for folder, columns, side, resolve, dest in passes:
        files = parquet_files(folder)
        pieces = hot_nodes(executor, files, side, rows_per_bucket, buckets, work)
        split += len(pieces.nodes)
        documents = Source(
            sources,
            [SHARD, ROW, text_column],
            partial(_documents, text_column=text_column, pieces=pieces),
        )
        pair_source = Source(files, columns, partial(_pairs, side=side, pieces=pieces))
        executor.shuffle([pair_source, documents], resolve, dest, buckets)
    return verified, split
