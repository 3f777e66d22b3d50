"""Diversity selection under a budget (DEITA's representation filter), distributed.

DEITA (Liu et al. 2024, https://arxiv.org/abs/2312.15685) walks records from the best score
down and takes one unless its embedding is within a cosine threshold of a record already
taken, until the budget is spent. Here the walk runs within k-means clusters of the
embeddings (near neighbours share a cluster), each cluster on one worker, and leaves the
records that are not too similar to a better one; the budget then takes the best of those
over the whole dataset, by an exact radix select over (score, input order) in histogram
passes. Only histograms and a few numbers reach the driver.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from pipeline.core.columns import ROW, SHARD, SIMILAR_TO, embedding_matrix, set_column
from pipeline.core.errors import RecipeError
from pipeline.core.executor import Executor
from pipeline.core.registry import get_step, register
from pipeline.dedup.base import bucket_count
from pipeline.dedup.semantic import (
    assign_clusters,
    embedder_unless_earlier,
    fit_centroids,
    greedy_keep,
)
from pipeline.global_steps.base import GlobalParams, GlobalStep, reject_where
from pipeline.global_steps.by_shard import index_by_shard, index_parts, load_shard, scan_shard
from pipeline.global_steps.checkpoint import work_dir
from pipeline.global_steps.shuffle import Source, parquet_files
from pipeline.global_steps.thresholds import float_keys, rank_bin
from pipeline.io.storage import Location

DIGITS = 6  # 16-bit digits of the ranking key: 2 of the score, 4 of the input order
BINS = 1 << 16
RESULT = ["_shard", "_row", "eligible", "similar_to", "score_key", "order"]
BY_SHARD = "by-shard"  # the walk's rows regrouped by shard (pipeline/global_steps/by_shard.py)


@register("select")
class Select(GlobalStep):
    """Choose a budget of records (`count`, or a `fraction` of those scored) in descending
    order of `score_column`, skipping a record whose embedding has cosine at least `threshold`
    with a better record's (DEITA). Within each k-means cluster of the embeddings the walk is
    exact; records in different clusters are not compared. Ties in score go to input order, so
    every runner chooses the same records.

    Reads the score and embedding columns (a recipe adds an `embed` step before it when no
    step does). Reasons: select:too_similar (with `similar_to` = the better record's id),
    select:budget, select:no_score (no score or no embedding).
    """

    method = "select"

    class Params(GlobalParams):
        score_column: str = Field(description="Column ranked, best first (e.g. ifd).")
        count: int | None = Field(None, ge=0, description="Records to choose.")
        fraction: float | None = Field(
            None, gt=0, le=1, description="Share of the scored records to choose."
        )
        ascending: bool = Field(False, description="Lowest scores first instead.")
        threshold: float = Field(0.9, gt=0, le=1, description="Cosine of records too similar.")
        embedding_column: str = Field("embedding", description="Column of unit-length vectors.")
        model: str = Field("minilm", description="Embedding model, when the column is absent.")
        clusters: int | None = Field(None, ge=1, description="k-means clusters (default: auto).")
        rows_per_cluster: int = Field(1000, ge=1, description="Sizes k when clusters is unset.")
        sample_rows: int = Field(50_000, ge=1, description="Rows k-means is fitted on.")
        rows_per_bucket: int = Field(
            1_000_000, gt=0, description="Rows per worker bucket; bounds each worker's memory."
        )
        seed: int = Field(0, description="k-means seed.")

        @model_validator(mode="after")
        def _one_budget(self) -> Select.Params:
            if (self.count is None) == (self.fraction is None):
                raise ValueError("set count or fraction (one of them)")
            return self

    params: Params

    def prerequisites(self, earlier: list[Any]) -> list[Any]:
        """An `embed` step, unless an earlier step already adds the embedding column."""
        return embedder_unless_earlier(self, earlier)

    def _embedder(self) -> Any:
        p = self.params
        return get_step("embed")(
            model=p.model, column=p.embedding_column, text_column=p.text_column
        )

    def keys(self, batch: pa.Table) -> pa.Table:
        """The batch with embeddings (computed here only when no earlier step added them)."""
        if self.params.embedding_column in batch.column_names:
            return batch
        return self._embedder()(batch)

    def input_columns(self) -> list[str]:
        return [self.text_input(), self.params.score_column]

    def decide_columns(self) -> list[str]:
        p = self.params
        return [SHARD, ROW, p.id_column, p.embedding_column, p.score_column]

    def decide(
        self, executor: Executor, sources: list[Location], dest: Location, rows: int
    ) -> dict[str, Any]:
        """Cluster, walk each cluster best first, then cut the eligible records at the budget."""
        p = self.params
        walked, work, resumed = dest / "walked", work_dir(dest), False
        if rows:
            clusters, resumed = fit_centroids(executor, sources, work, rows, p, self.name)
            centroids = clusters.centroids
            prepare = partial(_scored, params=p, centroids=centroids)
            columns = self.decide_columns()
            buckets = min(len(centroids), bucket_count(rows, p.rows_per_bucket))
            walk = partial(_walk, threshold=p.threshold)
            executor.shuffle([Source(sources, columns, prepare)], walk, walked, buckets)
        files = parquet_files(walked) if rows else []
        scored, eligible = executor.summarise(files, ["eligible"], _count_eligible, 2)
        budget = p.count if p.count is not None else round(p.fraction * scored)
        cutoff = _cutoff(executor, files, budget) if budget < eligible else None
        counts = executor.summarise(files, RESULT[2:], partial(_outcomes, cutoff=cutoff), 3)
        stats = {
            "score_column": p.score_column,
            "budget": int(budget),
            "scored_rows": int(scored),
            "selected": int(counts[0]),
            "too_similar": int(counts[1]),
            "over_budget": int(counts[2]),
            "no_score": int(rows - scored),
        }
        if files:
            parts = index_parts(int(scored), len(sources))
            index_by_shard(executor, files, dest / BY_SHARD, RESULT, parts)
        (dest / "cutoff.json").write_json({"cutoff": cutoff, **stats})
        work.remove()
        return stats | ({"resumed_passes": ["k-means"]} if resumed else {})

    def load_decisions(self, folder: Location, shard: int) -> tuple[dict[int, tuple], Any]:
        """Row -> (eligible, similar_to, score key, order) for one shard, and the cutoff."""
        cutoff = (folder / "cutoff.json").read_json()["cutoff"]
        table = load_shard(folder / BY_SHARD, shard)
        if table is None:  # decided before the by-shard index: scan every walked file
            files = parquet_files(folder / "walked")
            if not files:
                return {}, cutoff
            table = scan_shard(files, RESULT[1:], shard)
        rows = table.to_pylist()
        return {
            r[ROW]: (r["eligible"], r["similar_to"], r["score_key"], r["order"]) for r in rows
        }, cutoff

    def apply_decisions(self, chunk: pa.Table, decisions: tuple[dict[int, tuple], Any]) -> pa.Table:
        """Reject what the walk and the budget left out, each with its reason."""
        found, cutoff = decisions
        reason, similar = [], []
        for row in chunk[ROW].to_pylist():
            if row not in found:
                reason.append(f"{self.name}:no_score")
                similar.append(None)
                continue
            eligible, partner, key, order = found[row]
            within = cutoff is None or bool(_within(np.array([key]), np.array([order]), cutoff)[0])
            reason.append(None if eligible and within else f"{self.name}:{_why(eligible, within)}")
            similar.append(partner if not eligible and within else None)
        reasons = pa.array(reason, pa.string())
        chunk = reject_where(chunk, pc.is_valid(reasons), reasons, self.name)
        return set_column(chunk, SIMILAR_TO, pa.array(similar, pa.string()))


def _why(eligible: bool, within: bool) -> str:
    return "too_similar" if not eligible and within else "budget"


def _scored(table: pa.Table, params: Any, centroids: np.ndarray) -> pa.Table:
    """Rows with a score and an embedding, assigned to their nearest centroid, with an
    ascending ranking key (the best score first)."""
    kind = table.schema.field(params.score_column).type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise RecipeError(
            f"step select: score_column {params.score_column!r} holds {kind} values, not "
            "numbers; rank by a score column (ifd, quality, ...)"
        )
    usable = pc.and_(
        pc.is_valid(table[params.score_column]), pc.is_valid(table[params.embedding_column])
    )
    table = table.filter(usable)
    scores = pc.cast(table[params.score_column], pa.float32()).to_numpy(zero_copy_only=False)
    table = table.filter(pa.array(~np.isnan(scores)))
    scores = scores[~np.isnan(scores)]
    assigned = assign_clusters(table, params.embedding_column, params.id_column, centroids)
    key = float_keys(scores.astype(np.float32))
    key = key if params.ascending else ~key  # ascending keys: the best record first
    return assigned.append_column("score_key", pa.array(key.astype(np.uint32)))


def _walk(bucket: pa.Table, threshold: float) -> pa.Table:
    """Per cluster, best first: a record is eligible unless its cosine to an eligible better
    record reaches `threshold` (then `similar_to` names that record)."""
    rows = bucket.sort_by(
        [("cluster", "ascending"), ("score_key", "ascending"), ("order", "ascending")]
    )
    clusters = rows["cluster"].to_numpy()
    vectors = embedding_matrix(rows["e"])
    ids = rows["id"]
    eligible = np.ones(rows.num_rows, bool)
    partner = np.full(rows.num_rows, -1, np.int64)
    edges = (
        np.flatnonzero(np.r_[True, clusters[1:] != clusters[:-1], True]) if len(clusters) else [0]
    )
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        dropped, better, _ = greedy_keep(vectors[lo:hi], threshold)
        eligible[lo + dropped] = False
        partner[lo + dropped] = lo + better
    similar = pc.take(ids, pa.array(np.where(partner >= 0, partner, 0)))
    similar = pc.if_else(pa.array(partner >= 0), similar, pa.scalar(None, pa.string()))
    order = rows["order"].to_numpy()
    return pa.table(
        {
            SHARD: pa.array((order >> 40).astype(np.int32)),
            ROW: pa.array(order & ((1 << 40) - 1)),
            "eligible": pa.array(eligible),
            "similar_to": similar,
            "score_key": rows["score_key"],
            "order": rows["order"],
        }
    )


def _count_eligible(batch: pa.Table) -> np.ndarray:
    return np.array([batch.num_rows, pc.sum(batch["eligible"]).as_py() or 0], np.int64)


def _digits(batch: pa.Table) -> np.ndarray:
    """(rows x 6) uint16 digits of each row's ranking key, most significant first."""
    key = batch["score_key"].to_numpy().astype(np.uint64)
    order = batch["order"].to_numpy().astype(np.uint64)
    parts = [key >> np.uint64(16), key] + [order >> np.uint64(s) for s in (48, 32, 16, 0)]
    return np.stack([p & np.uint64(0xFFFF) for p in parts], axis=1).astype(np.int64)


def _digit_histogram(batch: pa.Table, depth: int, prefix: tuple[int, ...]) -> np.ndarray:
    """Counts of digit `depth` among eligible rows whose earlier digits equal `prefix`."""
    eligible = batch["eligible"].to_numpy(zero_copy_only=False)
    digits = _digits(batch)[eligible]
    match = np.all(digits[:, :depth] == np.array(prefix, np.int64), axis=1)
    return np.bincount(digits[match, depth], minlength=BINS).astype(np.int64)


def _cutoff(executor: Executor, files: list[Location], budget: int) -> list[int] | None:
    """The ranking key (6 digits) of the last eligible record within the budget."""
    if budget <= 0:
        return [-1] * DIGITS  # below every key: nothing is chosen
    prefix: list[int] = []
    rank = budget - 1
    for depth in range(DIGITS):
        fn = partial(_digit_histogram, depth=depth, prefix=tuple(prefix))
        histogram = executor.summarise(files, ["eligible", "score_key", "order"], fn, BINS)
        digit, rank = rank_bin(histogram, rank)
        prefix.append(digit)
    return prefix


def _within(key: np.ndarray, order: np.ndarray, cutoff: list[int]) -> np.ndarray:
    """True where a record's ranking key (score key, then input order) is at or before the
    cutoff's."""
    top = (cutoff[0] << 16) | cutoff[1]
    last = sum(d << s for d, s in zip(cutoff[2:], (48, 32, 16, 0), strict=True))
    if top < 0:
        return np.zeros(len(key), bool)
    key, order = key.astype(np.int64), order.astype(np.uint64)
    return (key < top) | ((key == top) & (order <= np.uint64(last)))


def _outcomes(batch: pa.Table, cutoff: list[int] | None) -> np.ndarray:
    """(selected, too similar, over budget) among a batch of walked records."""
    eligible = batch["eligible"].to_numpy(zero_copy_only=False)
    if cutoff is None:
        within = np.ones(batch.num_rows, bool)
    else:
        within = _within(batch["score_key"].to_numpy(), batch["order"].to_numpy(), cutoff)
    return np.array(
        [(eligible & within).sum(), (~eligible & within).sum(), (~within).sum()], np.int64
    )
