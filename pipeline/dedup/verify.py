"""True-Jaccard check of candidate pairs: two joins of the pairs with the documents' text.

Pass 1 groups pairs by their first node with every document's text by its order, and attaches
the first text; pass 2 does the same for the second node, then compares the two shingle sets.
Each pass shuffles all texts once: this is the costly part of fuzzy dedup, hence optional.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.dedup.base import order_key
from pipeline.dedup.components import EDGE_COLUMNS, EDGE_SCHEMA, edges
from pipeline.dedup.minhash import jaccard, shingle_hashes
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.shuffle import Source, bucket_of, parquet_files
from pipeline.io.storage import Location

JOIN_SCHEMA = pa.schema(
    [("node", pa.int64()), ("text", pa.string())]
    + list(EDGE_SCHEMA)
    + [("a_text", pa.string()), (BUCKET, pa.int64())]
)


def _documents(table: pa.Table, text_column: str) -> pa.Table:
    """Document rows of a join: order and text, bucketed by order."""
    order = order_key(table)
    columns = {"node": order, "text": table[text_column]}
    return _join_rows(columns, table.num_rows, bucket_of(order.to_numpy()))


def _pairs(table: pa.Table, side: str) -> pa.Table:
    """Pair rows of a join, bucketed by the node on `side`."""
    columns = {c: table[c] for c in (*EDGE_COLUMNS, "a_text") if c in table.column_names}
    return _join_rows(columns, table.num_rows, bucket_of(table[side].to_numpy()))


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


def verify_edges(
    executor: Executor,
    pairs: Location,
    sources: list[Location],
    text_column: str,
    ngram: int,
    threshold: float,
    work: Location,
    buckets: int,
) -> Location:
    """Keep the candidate pairs in `pairs` whose true Jaccard is >= threshold; returns their
    folder."""
    documents = Source(
        sources, [SHARD, ROW, text_column], partial(_documents, text_column=text_column)
    )
    first = work / "verify-first"
    pair_source = Source(parquet_files(pairs), EDGE_COLUMNS, partial(_pairs, side="a"))
    executor.shuffle([pair_source, documents], _attach_first, first, buckets)
    verified = work / "verified"
    pair_source = Source(parquet_files(first), [*EDGE_COLUMNS, "a_text"], partial(_pairs, side="b"))
    compare = partial(_compare, ngram=ngram, threshold=threshold)
    executor.shuffle([pair_source, documents], compare, verified, buckets)
    return verified
