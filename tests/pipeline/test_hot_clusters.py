"""Semantic dedup splits a k-means cluster larger than a bucket: its copies are decided
map-side against an anchor and no reducer holds the cluster, with the same rows rejected."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.columns import DUPLICATE_OF, ROW, SHARD, embedding_matrix
from pipeline.dedup.kmeans import Clusters, split_hot_clusters
from pipeline.dedup.report import MEMBER
from pipeline.dedup.semantic import SemanticDedup
from pipeline.global_steps.shuffle import parquet_files
from pipeline.io.storage import Location, read_table, write_parquet
from pipeline.run.local_executor import LocalExecutor

DIM = 24


class Measuring(LocalExecutor):
    """The local executor, noting the most embeddings any one resolve call of the decisions'
    shuffle was given (rows decided map-side come without theirs)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def shuffle(self, sources: Any, resolve: Any, dest: Location, buckets: int) -> None:
        def measured(bucket: pa.Table) -> pa.Table:
            self.largest = max(self.largest, bucket.num_rows - bucket["e"].null_count)
            return resolve(bucket)

        watched = dest.name == "decisions"
        super().shuffle(sources, measured if watched else resolve, dest, buckets)


def unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def planted(seed: int) -> np.ndarray:
    """3,000 rows, shuffled: 1,200 copies of one vector and 300 near copies of it (cosine
    > 0.97), then 1,500 random vectors of which every fifth copies the one before."""
    rng = np.random.default_rng(seed)
    base = unit(rng.normal(size=(1, DIM)))
    near = unit(base + 0.04 * rng.normal(size=(300, DIM)))
    spread = unit(rng.normal(size=(1500, DIM)))
    spread[4::5] = spread[3::5]
    rows = np.concatenate([np.repeat(base, 1200, axis=0), near, spread])
    return rows[rng.permutation(len(rows))]


def keys_file(vectors: np.ndarray, path: Any) -> Location:
    """The vectors as one shard's keys file."""
    n = len(vectors)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM)
    table = pa.table(
        {
            SHARD: pa.array(np.zeros(n, np.int32)),
            ROW: pa.array(np.arange(n, dtype=np.int64)),
            "id": [f"r{i}" for i in range(n)],
            "embedding": embedding.cast(pa.list_(pa.float32())),
        }
    )
    keys = Location.of(str(path))
    write_parquet(table, keys)
    return keys


def decide(step: SemanticDedup, keys: Location, folder: Any) -> tuple[dict, pa.Table, int]:
    """The step's stats, duplicates (by row) and most embeddings one resolve held."""
    dest = Location.of(str(folder)) / "decisions"
    dest.mkdir()
    executor = Measuring()
    stats = step.decide(executor, [keys], dest, read_table(keys).num_rows)
    found = pa.concat_tables([read_table(f) for f in parquet_files(dest)])
    return stats, found.sort_by([(ROW, "ascending")]), executor.largest


def test_a_cluster_of_copies_larger_than_a_bucket_is_split(tmp_path):
    vectors = planted(seed=4)
    keys = keys_file(vectors, tmp_path / "keys.parquet")
    common = {"threshold": 0.9, "rows_per_cluster": 300, "sample_rows": 800}
    whole, whole_found, whole_largest = decide(
        SemanticDedup(rows_per_bucket=1_000_000, **common), keys, tmp_path / "whole"
    )
    split, found, largest = decide(
        SemanticDedup(rows_per_bucket=600, **common), keys, tmp_path / "split"
    )
    assert "hot_clusters" not in whole and whole_largest >= 1500  # one reducer, every copy
    assert split["hot_clusters"] >= 1 and split["sub_clusters"] >= 1
    assert largest <= 600  # the copies met their anchor map-side, and left their vectors there

    # The same number of rows rejected: of the 1,500 copies and near copies one is kept,
    # and the random part's copies are found either way.
    assert found.num_rows == whole_found.num_rows == 1499 + 300
    # Every duplicate names a kept row that is really as similar as the threshold.
    rejected = set(found[ROW].to_pylist())
    kept_ids = set(found[DUPLICATE_OF].to_pylist())
    assert not {int(i[1:]) for i in kept_ids} & rejected
    rows = np.array([int(i[1:]) for i in found[DUPLICATE_OF].to_pylist()])
    cosine = np.einsum("ij,ij->i", vectors[found[ROW].to_numpy()], vectors[rows])
    assert cosine.min() >= 0.9 - 1e-5
    assert found[MEMBER].to_pylist() == [f"r{r}" for r in found[ROW].to_pylist()]


def test_splitting_gives_each_sub_cluster_an_anchor_from_the_sample():
    rng = np.random.default_rng(1)
    sample = unit(
        np.concatenate(
            [np.repeat(unit(rng.normal(size=(1, DIM))), 60, axis=0), rng.normal(size=(40, DIM))]
        )
    )
    orders = np.arange(100, dtype=np.int64) * 7
    ids = [f"s{i}" for i in range(100)]
    centroids = unit(sample[[0, 60, 70]])
    clusters = split_hot_clusters(sample, orders, ids, centroids, 10_000, 3_000, 500, seed=0)
    assert clusters.hot >= 1 and len(clusters.top) == 3
    subs = np.flatnonzero(clusters.parent >= 0)
    # The 60 copies (6,000 rows estimated) share one sub-cluster whose anchor is the first.
    assert "s0" in [clusters.anchor_id[s] for s in subs]
    assigned = clusters.assign(sample, orders)
    assert set(assigned[:60]) == {subs[[clusters.anchor_id[s] for s in subs].index("s0")]}
    # Round trip through the checkpoint table.
    again = Clusters.from_table(clusters.as_table())
    np.testing.assert_array_equal(again.centroids, clusters.centroids)
    assert again.anchor_id == clusters.anchor_id
    np.testing.assert_array_equal(again.assign(sample, orders), assigned)
    assert embedding_matrix(clusters.as_table()["anchor"]).shape == (len(clusters.parent), DIM)
