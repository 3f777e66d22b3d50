"""Semantic deduplication (SemDeDup): k-means over sentence embeddings, then within each
cluster a greedy pass that drops rows too similar (cosine) to a row already kept."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.core.columns import DUPLICATE_OF, RECORD_FIELDS, ROW, SHARD, embedding_matrix
from pipeline.core.errors import RecipeError, TamisError
from pipeline.core.executor import Executor
from pipeline.core.registry import get_step, register
from pipeline.dedup.base import (
    Deduplicator,
    DedupParams,
    order_key,
    row_ids,
    unpack_order,
)
from pipeline.dedup.hot_keys import hot_limit, spread
from pipeline.dedup.kmeans import Clusters, kmeans, nearest_centroids, split_hot_clusters
from pipeline.dedup.report import MEMBER
from pipeline.global_steps.base import BUCKET
from pipeline.global_steps.checkpoint import fingerprint, once_table, work_dir
from pipeline.global_steps.shuffle import Source, mix64, parquet_files
from pipeline.io.storage import Location, read_table

BLOCK = 1024  # rows compared at once within a cluster: bounds the similarity matrix
SAMPLE_SERIAL_ROWS = 1_000_000  # rows whose embeddings one task reads for the k-means sample
SAMPLE_BUCKETS = 64  # buckets of the sample pass past that: its map tasks read in parallel


def _sample(table: pa.Table, embedding: str, id_column: str, fraction: float) -> pa.Table:
    """A deterministic sample of rows (by a hash of their order), for fitting centroids."""
    order = order_key(table)
    mixed = mix64(order.to_numpy())
    draw = (mixed >> np.uint64(11)).astype(np.float64) / 2.0**53  # in [0, 1)
    chosen = draw < fraction
    return pa.table(
        {
            "order": pc.filter(order, pa.array(chosen)),
            "id": pc.filter(row_ids(table, id_column), pa.array(chosen)),
            "e": pc.filter(table[embedding], pa.array(chosen)),
            # Spread over the pass's buckets by the hash's low bits (the draw used the high).
            BUCKET: pa.array((mixed[chosen] & np.uint64(0x7FFFFFFF)).astype(np.int64)),
        }
    )


def _keep_sample(bucket: pa.Table) -> pa.Table:
    """The sample, in input order."""
    return bucket.drop_columns([BUCKET]).sort_by("order")


def assign_clusters(
    table: pa.Table, embedding: str, id_column: str, centroids: np.ndarray
) -> pa.Table:
    """Each row with its nearest centroid (as `_bucket` too) and its cosine to it. Cosines are
    rounded to 1e-6: a matrix product's last bits depend on the batch a row sits in, and ties
    must fall to input order so that every runner keeps the same row."""
    vectors = embedding_matrix(table[embedding])
    nearest = nearest_centroids(vectors, centroids)
    cosine = np.round(np.einsum("ij,ij->i", vectors, centroids[nearest]), 6)
    return pa.table(
        {
            "order": order_key(table),
            "id": row_ids(table, id_column),
            "e": table[embedding],
            "cluster": pa.array(nearest.astype(np.int64)),
            "centroid_cosine": pa.array(cosine.astype(np.float32)),
            BUCKET: pa.array(nearest.astype(np.int64)),
        }
    )


def assign_with_anchors(
    table: pa.Table, embedding: str, id_column: str, clusters: Clusters, threshold: float
) -> pa.Table:
    """`assign_clusters` over split clusters: a row as close as `threshold` to its
    sub-cluster's anchor is decided here (`duplicate_of` = the anchor's id, embedding dropped)
    and spread over every bucket by its order; the anchor itself is flagged, to be kept."""
    vectors = embedding_matrix(table[embedding])
    order = order_key(table).to_numpy()
    nearest = clusters.assign(vectors, order)
    cosine = np.round(np.einsum("ij,ij->i", vectors, clusters.centroids[nearest]), 6)
    to_anchor = np.round(np.einsum("ij,ij->i", vectors, clusters.anchors[nearest]), 6)
    anchored = clusters.anchor_order[nearest] >= 0
    is_anchor = anchored & (order == clusters.anchor_order[nearest])
    decided = anchored & ~is_anchor & (to_anchor >= threshold)
    anchor_id = pa.array(clusters.anchor_id, pa.string())
    kept_id = pc.if_else(pa.array(decided), pc.take(anchor_id, pa.array(nearest)), None)
    vectors_left = pc.if_else(pa.array(decided), None, table[embedding].combine_chunks())
    bucket = np.where(decided, spread(order, pa.int64()).to_numpy(), nearest)
    return pa.table(
        {
            "order": pa.array(order),
            "id": row_ids(table, id_column),
            "e": vectors_left,
            "cluster": pa.array(nearest.astype(np.int64)),
            "centroid_cosine": pa.array(cosine.astype(np.float32)),
            "anchor": pa.array(is_anchor),
            DUPLICATE_OF: kept_id,
            "anchor_cosine": pa.array(to_anchor.astype(np.float32)),
            BUCKET: pa.array(bucket.astype(np.int64)),
        }
    )


def greedy_keep(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk rows in order, keeping a row unless its cosine to a kept row reaches `threshold`.
    Returns (dropped row indices, index of the most similar kept row, that cosine)."""
    kept = np.zeros(0, np.int64)
    dropped, partner, cosine = [], [], []
    for start in range(0, len(vectors), BLOCK):
        block = vectors[start : start + BLOCK]
        to_kept = block @ vectors[kept].T if len(kept) else np.zeros((len(block), 0), np.float32)
        within = block @ block.T
        block_kept: list[int] = []
        for i in range(len(block)):
            sims = np.concatenate([to_kept[i], within[i, block_kept]])
            if len(sims) and sims.max() >= threshold:
                best = int(sims.argmax())
                dropped.append(start + i)
                partner.append(
                    kept[best] if best < len(kept) else start + block_kept[best - len(kept)]
                )
                cosine.append(float(sims[best]))
            else:
                block_kept.append(i)
        kept = np.concatenate([kept, start + np.array(block_kept, np.int64)])
    return np.array(dropped, np.int64), np.array(partner, np.int64), np.array(cosine, np.float32)


def _resolve_clusters(bucket: pa.Table, threshold: float, keep: str) -> pa.Table:
    """Duplicates within each k-means cluster of one bucket."""
    rows = bucket.sort_by(
        [("cluster", "ascending")]
        + ([("anchor", "descending")] if "anchor" in bucket.column_names else [])
        + ([("centroid_cosine", "descending")] if keep == "centroid" else [])
        + [("order", "ascending")]
    )
    clusters = rows["cluster"].to_numpy()
    vectors = embedding_matrix(rows["e"])
    edges = np.flatnonzero(np.r_[True, clusters[1:] != clusters[:-1], True])
    dropped, partners, cosines = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        found, partner, cosine = greedy_keep(vectors[lo:hi], threshold)
        dropped.append(lo + found)
        partners.append(lo + partner)
        cosines.append(cosine)
    duplicate, kept = np.concatenate(dropped), np.concatenate(partners)
    shard, row = unpack_order(rows["order"].to_numpy()[duplicate])
    table = pa.table(
        {
            SHARD: shard,
            ROW: row,
            DUPLICATE_OF: pc.take(rows["id"], pa.array(kept)),
            MEMBER: pc.take(rows["id"], pa.array(duplicate)),
            "cosine": pa.array(np.concatenate([np.zeros(0, np.float32), *cosines])),
        }
    )
    return table.sort_by([(SHARD, "ascending"), (ROW, "ascending")])


def _resolve_anchored(bucket: pa.Table, threshold: float, keep: str) -> pa.Table:
    """The rows decided map-side as they are, the others resolved per cluster."""
    decided = pc.is_valid(bucket[DUPLICATE_OF])
    found = _resolve_clusters(bucket.filter(pc.invert(decided)), threshold, keep)
    hits = bucket.filter(decided)
    shard, row = unpack_order(hits["order"].to_numpy())
    hits = pa.table(
        {
            SHARD: shard,
            ROW: row,
            DUPLICATE_OF: hits[DUPLICATE_OF],
            MEMBER: hits["id"],
            "cosine": hits["anchor_cosine"],
        }
    )
    merged = pa.concat_tables([found, hits.cast(found.schema)])
    return merged.sort_by([(SHARD, "ascending"), (ROW, "ascending")])


def embedder_unless_earlier(step: Any, earlier: list[Any]) -> list[Any]:
    """[] when an earlier step fills `step`'s embedding column from the text `step` reads, its
    `_embedder()` when none fills it; an error when one fills it from other text (a prompt's
    embeddings are no answer's)."""
    column, reads = step.params.embedding_column, step.params.text_column
    writers = [s for s in earlier if column in s.output_columns()]
    if not writers:
        return [step._embedder()]
    embedded = getattr(writers[-1].params, "text_column", reads)
    if not _same_text(embedded, reads):
        raise RecipeError(
            f"step {step.name} reads {_text_named(reads)}, but the embeddings in column "
            f"{column!r} are of {_text_named(embedded)} (step {writers[-1].name}): set the same "
            f"`field` on both, or give {step.name} its own `embedding_column`"
        )
    return []


def _same_text(one: str, other: str) -> bool:
    """True when two steps' text columns hold the same text. A step with no `field` reads the
    recipe's text column, which for records is the conversation (steps are first built before
    the input is looked at, so it may still read `text` here)."""
    fields = {RECORD_FIELDS["prompt"], RECORD_FIELDS["response"]}
    whole = {one, other} - {RECORD_FIELDS["conversation"]}
    return one == other or (len(whole) == 1 and not whole & fields)


def _text_named(column: str) -> str:
    """A text column in a recipe's words: `the prompt (field: prompt)`, or `column 'text'`."""
    field = next((f for f, c in RECORD_FIELDS.items() if c == column), None)
    if field:
        return f"the {field} (field: {field})"
    return f"column {column!r} (no field: of records, the whole conversation)"


@register("semantic_dedup")
class SemanticDedup(Deduplicator):
    """SemDeDup: k-means (seeded, fitted on a sample) over sentence embeddings, then in each
    cluster rows are visited nearest-the-centroid first (or in input order) and a row whose
    cosine to a row already kept reaches `threshold` is rejected as `duplicate:semantic` with
    `duplicate_of` = that row's id.

    Reads the embedding column (a recipe adds an `embed` step before it when no step does).
    """

    method = "semantic"

    class Params(DedupParams):
        threshold: float = Field(0.9, gt=0, le=1, description="Cosine similarity of duplicates.")
        embedding_column: str = Field("embedding", description="Column of unit-length vectors.")
        model: str = Field("minilm", description="Embedding model, when the column is absent.")
        clusters: int | None = Field(None, ge=1, description="k-means clusters (default: auto).")
        rows_per_cluster: int = Field(1000, ge=1, description="Sizes k when clusters is unset.")
        sample_rows: int = Field(50_000, ge=1, description="Rows k-means is fitted on.")
        keep: Literal["centroid", "first"] = Field(
            "centroid", description="Which row of a group of duplicates is kept."
        )
        seed: int = Field(0, description="k-means seed.")

    params: Params

    def keys(self, batch: pa.Table) -> pa.Table:
        """The batch with embeddings (computed here only when no earlier step added them)."""
        if self.params.embedding_column in batch.column_names:
            return batch
        return self._embedder()(batch)

    def prerequisites(self, earlier: list[Any]) -> list[Any]:
        """An `embed` step, unless an earlier step already adds the embedding column."""
        return embedder_unless_earlier(self, earlier)

    def _embedder(self) -> Any:
        """The registered `embed` step, set to write this step's embedding column."""
        p = self.params
        embed = get_step("embed")
        return embed(model=p.model, column=p.embedding_column, text_column=p.text_column)

    def decide_columns(self) -> list[str]:
        return [SHARD, ROW, self.params.id_column, self.params.embedding_column]

    def find(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int, buckets: int
    ) -> dict[str, Any]:
        """Sample -> k-means centroids -> rows grouped by cluster -> greedy pass per cluster."""
        p = self.params
        if not rows:
            return {"kmeans_clusters": 0}
        work = work_dir(dest)
        limit = hot_limit(p.rows_per_bucket)
        clusters, resumed = fit_centroids(executor, sources, work, rows, p, self.name, limit)
        assign = partial(
            assign_with_anchors,
            embedding=p.embedding_column,
            id_column=p.id_column,
            clusters=clusters,
            threshold=p.threshold,
        )
        columns = self.decide_columns()
        resolve = partial(_resolve_anchored, threshold=p.threshold, keep=p.keep)
        count = len(clusters.centroids)
        executor.shuffle([Source(sources, columns, assign)], resolve, dest, min(count, buckets))
        work.remove()
        stats: dict[str, Any] = {"kmeans_clusters": len(clusters.top)}
        if clusters.hot:
            stats |= {"hot_clusters": clusters.hot, "sub_clusters": count - len(clusters.top)}
        return stats | ({"resumed_passes": ["k-means"]} if resumed else {})


def fit_centroids(
    executor: Executor,
    sources: list[Location],
    work: Location,
    rows: int,
    p: Any,
    step: str,
    split_past: int | None = None,
) -> tuple[Clusters, bool]:
    """Unit-length k-means centroids (seeded) of the embeddings of a deterministic sample of
    `sample_rows` of the `rows` rows in `sources`, with each cluster estimated past
    `split_past` rows split (pipeline/dedup/kmeans.py); `p` holds `embedding_column`,
    `id_column`, `sample_rows`, `clusters`, `rows_per_cluster` and `seed`. Only the sample is
    read. The centroids are kept in `work` (a checkpoint: a rerun of the same decision reuses
    them); returns them and whether they were reused."""
    inputs = fingerprint(p.model_dump_json(), [s.path for s in sources], rows, split_past)
    table, resumed = once_table(
        work / "centroids.parquet",
        inputs,
        lambda: _fit(executor, sources, work, rows, p, step, split_past).as_table(),
    )
    return Clusters.from_table(table), resumed


def _fit(
    executor: Executor,
    sources: list[Location],
    work: Location,
    rows: int,
    p: Any,
    step: str,
    split_past: int | None,
) -> Clusters:
    """`fit_centroids`'s sample pass, k-means fit and split of hot clusters."""
    # At least ~64 expected rows, so that a tiny `sample_rows` cannot draw none at all.
    fraction = max(p.sample_rows, 64) / rows
    sample = partial(
        _sample, embedding=p.embedding_column, id_column=p.id_column, fraction=fraction
    )
    source = Source(sources, [SHARD, ROW, p.id_column, p.embedding_column], sample)
    # Past SAMPLE_SERIAL_ROWS the reading is shared by the executor's map tasks; below, one
    # on-disk task reads it all (cheaper than starting many).
    buckets = 1 if rows <= SAMPLE_SERIAL_ROWS else min(len(sources), SAMPLE_BUCKETS)
    executor.shuffle([source], _keep_sample, work / "sample", buckets)
    parts = [read_table(f) for f in parquet_files(work / "sample")]
    (work / "sample").remove()
    if not parts:
        raise TamisError(f"{step}: the k-means sample drew no rows; raise sample_rows")
    drawn = pa.concat_tables(parts).sort_by("order")
    vectors = embedding_matrix(drawn["e"])
    k = p.clusters or max(1, round(rows / p.rows_per_cluster))
    centroids = kmeans(vectors, max(1, min(k, len(vectors))), p.seed)
    if split_past is None:
        return Clusters.unsplit(centroids)
    orders, ids = drawn["order"].to_numpy(), drawn["id"].to_pylist()
    return split_hot_clusters(
        vectors, orders, ids, centroids, rows, split_past, p.rows_per_cluster, p.seed
    )
