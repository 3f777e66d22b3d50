"""Fuzzy deduplication: MinHash + LSH bands + connected components, all as distributed passes."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from pipeline.core.columns import DUPLICATE_OF, ROW, SHARD, list_column, set_column
from pipeline.core.executor import Executor
from pipeline.core.registry import register
from pipeline.dedup.base import (
    Deduplicator,
    DedupParams,
    bucket_count,
    order_key,
    row_ids,
    unpack_order,
)
from pipeline.dedup.components import EDGE_COLUMNS, connected_components, edges
from pipeline.dedup.hot_keys import FIRST, FIRST_ID, Grouping, find_hot, split_hot, spread
from pipeline.dedup.minhash import EMPTY, band_keys, lsh_params, signatures
from pipeline.dedup.report import MEMBER
from pipeline.dedup.verify import verify_edges
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.checkpoint import fingerprint, once, work_dir
from pipeline.global_steps.shuffle import Source, bucket_of, parquet_files
from pipeline.io.storage import Location, parquet_rows

BANDS = "_minhash_bands"


def _explode_bands(table: pa.Table, id_column: str) -> pa.Table:
    """One row per (document, band): the band key, the document's order and id."""
    parents = pc.list_parent_indices(table[BANDS])
    keys = pc.list_flatten(table[BANDS]).to_numpy()
    return pa.table(
        {
            "key": pa.array(keys, pa.uint64()),
            "order": pc.take(order_key(table), parents),
            "id": pc.take(row_ids(table, id_column), parents),
            BUCKET: pa.array((keys >> np.uint64(1)).astype(np.int64)),
        }
    )


def _band_keys(table: pa.Table) -> pa.ChunkedArray:
    return pc.list_flatten(table[BANDS])


def _band_rows(table: pa.Table, id_column: str) -> pa.Table:
    return _explode_bands(table, id_column).select(["key", "order", "id"])


def _explode_hot(table: pa.Table, id_column: str, hot: pa.Table) -> pa.Table:
    """`_explode_bands`, with the rows of hot band keys decided as edges to their key's first
    document (in `FIRST`, `FIRST_ID`) and spread over every bucket by document."""
    rest, hits = split_hot(_explode_bands(table, id_column), "key", hot)
    hits = hits.filter(pc.not_equal(hits["order"], hits[FIRST]))
    hits = hits.set_column(
        hits.column_names.index(BUCKET), BUCKET, spread(hits["order"], pa.int64())
    )
    rest = rest.append_column(FIRST, pa.nulls(rest.num_rows, pa.int64()))
    rest = rest.append_column(FIRST_ID, pa.nulls(rest.num_rows, pa.string()))
    return pa.concat_tables([rest, hits.select(rest.column_names).cast(rest.schema)])


def _band_edges_hot(bucket: pa.Table) -> pa.Table:
    """`_band_edges` over the undecided rows of a bucket, with the decided edges added."""
    decided = pc.is_valid(bucket[FIRST])
    found = _band_edges(bucket.filter(pc.invert(decided)))
    hits = bucket.filter(decided)
    more = edges(hits[FIRST], hits[FIRST_ID], hits["order"], hits["id"])
    both = pa.concat_tables([found, more])
    return edges(*(both[c] for c in EDGE_COLUMNS))


def _band_edges(bucket: pa.Table) -> pa.Table:
    """Candidate pairs: each document sharing a band key with an earlier one, linked to the
    first document with that key (a star per key: enough for connected components)."""
    rows = bucket.sort_by([("key", "ascending"), ("order", "ascending")])
    keys = rows["key"].to_numpy()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    member = np.flatnonzero(first != np.arange(len(keys)))
    firsts = pa.array(first[member])
    order, ids = rows["order"], rows["id"]
    return edges(
        pc.take(order, firsts), pc.take(ids, firsts), pc.take(order, member), pc.take(ids, member)
    )


def _by_member(table: pa.Table) -> pa.Table:
    """Star edges bucketed by the duplicate (each appears in one edge once converged)."""
    return table.append_column(BUCKET, bucket_of(table["b"].to_numpy()))


def _decisions(bucket: pa.Table) -> pa.Table:
    """Star edges as decisions: the duplicate's shard and row, the id kept, its own id."""
    shard, row = unpack_order(bucket["b"].to_numpy())
    table = pa.table({SHARD: shard, ROW: row, DUPLICATE_OF: bucket["a_id"], MEMBER: bucket["b_id"]})
    return table.sort_by([(SHARD, "ascending"), (ROW, "ascending")])


@register("minhash_dedup")
class MinHashDedup(Deduplicator):
    """Near-duplicate removal: word n-gram MinHash signatures, LSH bands tuned to `threshold`,
    (optionally) true Jaccard checked on candidate pairs, connected components; keeps the first
    document of each component (by file, then row) and rejects the rest as `duplicate:minhash`
    with `duplicate_of` = the id kept.
    """

    method = "minhash"
    version = 2  # 2: affine32 permutations over mixed-sum shingle hashes
    key_columns = (BANDS,)

    class Params(DedupParams):
        threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity of duplicates.")
        num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations.")
        ngram: int = Field(5, ge=1, description="Words per shingle.")
        bands: int | None = Field(None, ge=1, description="LSH bands (default: from threshold).")
        rows: int | None = Field(None, ge=1, description="Rows per band (default: from threshold).")
        verify: bool = Field(
            False, description="Drop candidate pairs whose true Jaccard is under the threshold."
        )
        seed: int = Field(1, description="Seed of the hash permutations.")

        @model_validator(mode="after")
        def _bands_fit(self) -> MinHashDedup.Params:
            if (self.bands is None) != (self.rows is None):
                raise ValueError("set both bands and rows, or neither")
            if self.bands and self.rows and self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands x rows must be at most num_perm ({self.num_perm})")
            return self

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        p = self.params
        self.bands, self.rows = (
            (p.bands, p.rows) if p.bands and p.rows else lsh_params(p.threshold, p.num_perm)
        )

    def keys(self, batch: pa.Table) -> pa.Table:
        p = self.params
        sigs = signatures(batch[p.text_column], p.num_perm, p.ngram, p.seed)
        keys = band_keys(sigs, self.bands, self.rows)
        empty = (sigs == EMPTY).all(axis=1)  # no words: nothing to compare
        return set_column(batch, BANDS, list_column(keys, null_rows=empty))

    def decide_columns(self) -> list[str]:
        p = self.params
        return [BANDS, SHARD, ROW, p.id_column, *([p.text_column] if p.verify else [])]

    def find(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int, buckets: int
    ) -> dict[str, Any]:
        """Band pass -> candidate pairs -> (verification) -> components -> decisions."""
        p = self.params
        # Kept across attempts: the band pass and the verification are checkpointed (a rerun
        # after a crash in a later pass starts from their output).
        work = work_dir(dest)
        inputs = fingerprint(self.params.model_dump_json(), [s.path for s in sources], rows)
        pairs = work / "candidates"
        stats: dict[str, Any] = {"bands": self.bands, "rows_per_band": self.rows}
        band = once(pairs, inputs, lambda: self._band_pass(executor, sources, rows, pairs, work))
        resumed = ["band pass"] * bool(band.pop("resumed", False))
        stats |= band
        if p.verify and stats["candidate_pairs"]:
            verified = work / "verified"

            def verify() -> dict[str, Any]:
                found, hot = verify_edges(
                    executor,
                    pairs,
                    sources,
                    p.text_column,
                    p.ngram,
                    p.threshold,
                    work,
                    buckets,
                    p.rows_per_bucket,
                )
                stats = {"verified_pairs": parquet_rows(parquet_files(found))}
                return stats | ({"hot_verify_nodes": hot} if hot else {})

            checked = once(verified, inputs, verify)
            resumed += ["verification"] * bool(checked.pop("resumed", False))
            stats |= checked
            pairs = verified
        if resumed:  # in the manifest: what this attempt took from an earlier one
            stats["resumed_passes"] = resumed
        stars, stats["component_rounds"] = connected_components(
            executor, pairs, work / "components", buckets, p.rows_per_bucket
        )
        executor.shuffle(
            [Source(parquet_files(stars), EDGE_COLUMNS, _by_member)], _decisions, dest, buckets
        )
        work.remove()
        return stats

    def _band_pass(
        self,
        executor: Executor,
        sources: list[Location],
        rows: int,
        pairs: Location,
        work: Location,
    ) -> dict[str, Any]:
        """Candidate pairs: rows sharing a band key, written under `pairs`; returns stats."""
        p = self.params
        stats: dict[str, Any] = {}
        band_source = Source(
            sources,
            [BANDS, SHARD, ROW, p.id_column],
            partial(_explode_bands, id_column=p.id_column),
        )
        # Each document appears once per band in this pass.
        band_buckets = bucket_count(rows * self.bands, p.rows_per_bucket)
        grouping = Grouping(
            [BANDS], _band_keys, band_source.columns, partial(_band_rows, id_column=p.id_column)
        )
        hot = find_hot(
            executor, sources, grouping, rows * self.bands, p.rows_per_bucket, band_buckets, work
        )
        if hot.num_rows:  # band keys too large for a bucket: decided map-side
            stats["hot_band_keys"] = hot.num_rows
            hot_source = Source(
                band_source.files,
                band_source.columns,
                partial(_explode_hot, id_column=p.id_column, hot=hot),
            )
            executor.shuffle([hot_source], _band_edges_hot, pairs, band_buckets)
        else:
            executor.shuffle([band_source], _band_edges, pairs, band_buckets)
        stats["candidate_pairs"] = parquet_rows(parquet_files(pairs))
        return stats
