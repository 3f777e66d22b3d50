"""Centroids for semantic dedup, with hot clusters split: a k-means cluster with more rows than
a bucket should hold (a template page copied a million times, a topic that fills a crawl) is
cut before the shuffle, so that no reducer holds much more than `rows_per_bucket` rows.

The k-means sample tells each cluster's size (its sample rows over the sample's fraction). A
cluster estimated past `hot_limit(rows_per_bucket)` rows is split by a second k-means on its own
sample rows into sub-clusters of about `rows_per_cluster` rows, and each sub-cluster gets an
*anchor*: its sample row nearest its centre. Map-side, a row whose cosine to its sub-cluster's
anchor reaches the threshold is decided there, a duplicate of the anchor, and spread over every
bucket; the other rows go to the sub-cluster's bucket, where the anchor is visited first. So
copies, however many, never meet in one reducer, and the rows kept and rejected are those of
the greedy pass over each sub-cluster with its anchor first (only `duplicate_of` may name the
anchor rather than the most similar kept row). As rows of different clusters already are, rows
of different sub-clusters are not compared.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.core.columns import embedding_matrix

TOP = -1  # `parent` of a first-level centroid
ASSIGN_CELLS = 1 << 22  # row x centroid similarities computed at once (16 MiB of float32)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    matrix = matrix.astype(np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def nearest_centroids(
    vectors: np.ndarray, centroids: np.ndarray, cells: int = ASSIGN_CELLS
) -> np.ndarray:
    """Index of each row's most similar centroid (cosines rounded to 1e-6, ties to the first
    centroid), computed over blocks of at most `cells` similarities: memory stays bounded
    however many rows a batch has and however many centroids k-means was given."""
    per_block = max(1, min(len(centroids), cells))
    rows_per_block = max(1, cells // per_block)
    nearest = np.zeros(len(vectors), np.int64)
    for lo in range(0, len(vectors), rows_per_block):
        block = vectors[lo : lo + rows_per_block]
        best = np.full(len(block), -np.inf, np.float32)
        for start in range(0, len(centroids), per_block):
            sims = np.round(block @ centroids[start : start + per_block].T, 6)
            index = sims.argmax(axis=1)
            value = sims[np.arange(len(block)), index]
            better = value > best  # strictly: an earlier centroid keeps a tie, as in argmax
            best[better] = value[better]
            nearest[lo : lo + len(block)][better] = start + index[better]
    return nearest


def kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Unit-length centroids of a seeded k-means (fewer distinct rows than `k` is no error:
    the surplus centroids repeat, and ties go to the first)."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = KMeans(n_clusters=k, random_state=seed, n_init=1).fit(vectors)
    return unit_rows(model.cluster_centers_)


@dataclass(frozen=True)
class Clusters:
    """First-level centroids, then the sub-centroids of hot clusters (`parent` = the cluster
    split), with each centroid's anchor: the anchor's vector, order and id (order -1: none)."""

    centroids: np.ndarray
    parent: np.ndarray
    anchors: np.ndarray
    anchor_order: np.ndarray
    anchor_id: list[str | None]

    @classmethod
    def unsplit(cls, centroids: np.ndarray) -> Clusters:
        """Plain k-means centroids: nothing split, no anchors."""
        k = len(centroids)
        return cls(centroids, np.full(k, TOP), np.zeros_like(centroids), np.full(k, -1), [None] * k)

    @property
    def top(self) -> np.ndarray:
        """The first-level centroids."""
        return self.centroids[self.parent == TOP]

    @property
    def hot(self) -> int:
        """How many first-level clusters were split."""
        return len(np.unique(self.parent[self.parent != TOP]))

    def assign(self, vectors: np.ndarray, orders: np.ndarray) -> np.ndarray:
        """Each row's cluster: its nearest first-level centroid, or within a split cluster its
        nearest sub-centroid; an anchor always falls in its own sub-cluster."""
        k = len(self.top)
        nearest = nearest_centroids(vectors, self.centroids[:k])
        for hot in np.unique(self.parent[k:]):
            rows = np.flatnonzero(nearest == hot)
            subs = np.flatnonzero(self.parent == hot)
            nearest[rows] = subs[nearest_centroids(vectors[rows], self.centroids[subs])]
        anchored = np.flatnonzero(self.anchor_order >= 0)
        if len(anchored):
            where = {int(o): int(c) for o, c in zip(self.anchor_order[anchored], anchored)}
            for i in np.flatnonzero(np.isin(orders, self.anchor_order[anchored])):
                nearest[i] = where[int(orders[i])]
        return nearest

    def as_table(self) -> pa.Table:
        """One row per centroid, for a checkpoint file."""
        dim = self.centroids.shape[1]
        return pa.table(
            {
                "centroid": pa.FixedSizeListArray.from_arrays(self.centroids.reshape(-1), dim),
                "parent": pa.array(self.parent.astype(np.int64)),
                "anchor": pa.FixedSizeListArray.from_arrays(self.anchors.reshape(-1), dim),
                "anchor_order": pa.array(self.anchor_order.astype(np.int64)),
                "anchor_id": pa.array(self.anchor_id, pa.string()),
            }
        )

    @classmethod
    def from_table(cls, table: pa.Table) -> Clusters:
        """The clusters `as_table` wrote."""
        return cls(
            embedding_matrix(table["centroid"]),
            table["parent"].to_numpy(),
            embedding_matrix(table["anchor"]),
            table["anchor_order"].to_numpy(),
            table["anchor_id"].to_pylist(),
        )


def split_hot_clusters(
    sample: np.ndarray,
    orders: np.ndarray,
    ids: list[str],
    centroids: np.ndarray,
    rows: int,
    limit: int,
    rows_per_cluster: int,
    seed: int,
) -> Clusters:
    """`centroids` fitted on `sample` (rows in input order, drawn from `rows` rows), with every
    cluster estimated past `limit` rows split into sub-clusters with anchors."""
    labels = nearest_centroids(sample, centroids)
    scale = rows / max(1, len(sample))
    estimated = np.bincount(labels, minlength=len(centroids)) * scale
    parts, parents = [centroids], [np.full(len(centroids), TOP)]
    anchors, anchor_order = [np.zeros_like(centroids)], [np.full(len(centroids), -1)]
    anchor_id: list[str | None] = [None] * len(centroids)
    for hot in np.flatnonzero(estimated > limit):
        members = np.flatnonzero(labels == hot)
        k = min(len(members), max(1, math.ceil(estimated[hot] / rows_per_cluster)))
        subs = kmeans(sample[members], k, seed) if k > 1 else centroids[[hot]]
        within = nearest_centroids(sample[members], subs)
        for j in range(k):
            mine = members[within == j]
            cosine = np.round(sample[mine] @ subs[j], 6)
            best = mine[int(cosine.argmax())] if len(mine) else -1  # ties: the earliest row
            anchors.append(sample[[best]] if len(mine) else np.zeros((1, sample.shape[1])))
            anchor_order.append(np.array([orders[best] if len(mine) else -1]))
            anchor_id.append(ids[best] if len(mine) else None)
        parts.append(subs)
        parents.append(np.full(k, hot))
    return Clusters(
        np.concatenate(parts).astype(np.float32),
        np.concatenate(parents),
        np.concatenate(anchors).astype(np.float32),
        np.concatenate(anchor_order).astype(np.int64),
        anchor_id,
    )
