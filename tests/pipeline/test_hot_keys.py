"""Hot keys: a duplicate cluster larger than a bucket is resolved in pieces, with the decision
of one piece; the k-means assignment is computed in bounded blocks with the same answer."""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from pipeline.core.columns import ROW, SHARD
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.fuzzy import MinHashDedup
from pipeline.dedup.semantic import nearest_centroids
from pipeline.io.storage import Location, write_parquet
from pipeline.run.local_executor import LocalExecutor

ROWS_PER_BUCKET = 100
STEPS = {
    "exact": ExactDedup,
    "minhash": partial(MinHashDedup, num_perm=32),
    "minhash_verify": partial(MinHashDedup, num_perm=32, verify=True),
}


class Measured(LocalExecutor):
    """The local executor, noting the rows each `resolve` call of a key shuffle is handed (not
    the by-shard index's: it groups a shard's duplicates, which that shard's reader holds)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def shuffle(self, sources: Any, resolve: Any, dest: Any, buckets: int) -> None:
        def measured(table: pa.Table) -> pa.Table:
            self.sizes.append(table.num_rows)
            return resolve(table)

        by_shard = dest.name.endswith(".by-shard")
        super().shuffle(sources, resolve if by_shard else measured, dest, buckets)


def planted(rows: int, seed: int) -> pa.Table:
    """A third of the rows copies of one document, some edited copies, small clusters, and
    distinct documents, shuffled."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(400)]
    hot = [rng.choice(words) for _ in range(30)]
    small = [" ".join(rng.choice(words) for _ in range(30)) for _ in range(20)]
    texts = []
    for i in range(rows):
        draw = rng.random()
        if draw < 0.33:
            texts.append(" ".join(hot))
        elif draw < 0.45:  # a near copy: one word changed
            edited = list(hot)
            edited[rng.randrange(len(edited))] = f"x{i}"
            texts.append(" ".join(edited))
        elif draw < 0.6:
            texts.append(rng.choice(small))
        else:
            texts.append(" ".join(rng.choice(words) for _ in range(30)) + f" u{i}")
    return pa.table({"id": [f"d{i}" for i in range(rows)], "text": texts})


def decisions(step: Any, table: pa.Table) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every rejected row with its reason and `duplicate_of`, by id; and the cluster report."""
    _, rejected = step.split(table)
    rows = rejected.select(["id", "reject_reason", "duplicate_of"]).sort_by("id").to_pylist()
    report = {k: step.last_report[k] for k in ("duplicates", "clusters", "cluster_sizes")}
    return rows, {**report, "largest": step.last_report["largest_clusters"]}


def measured_decide(step: Any, table: pa.Table, folder: Path) -> tuple[dict[str, Any], Measured]:
    """The step's report over `table` as one shard, decided through a `Measured` executor."""
    work = table.append_column(SHARD, pa.array(np.zeros(table.num_rows, np.int32)))
    work = work.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    keys = Location.of(str(folder)) / "keys.parquet"
    write_parquet(step.keys(work), keys)
    dest = Location.of(str(folder)) / "decisions"
    dest.mkdir()
    executor = Measured()
    return step.decide(executor, [keys], dest, table.num_rows), executor


@pytest.mark.parametrize(
    "method",
    [  # minhash: ~18 s
        "exact",
        pytest.param("minhash", marks=pytest.mark.slow),
        pytest.param("minhash_verify", marks=pytest.mark.slow),
    ],
)
def test_a_cluster_larger_than_a_bucket_is_resolved_in_pieces(method, tmp_path):
    make = STEPS[method]
    table = planted(1200, seed=7)
    whole, whole_report = decisions(make(), table)  # one bucket holds everything
    found, found_report = decisions(make(rows_per_bucket=ROWS_PER_BUCKET), table)
    assert found == whole and found_report == whole_report
    assert whole_report["largest"][0]["size"] > 3 * ROWS_PER_BUCKET  # several buckets of rows

    report, executor = measured_decide(make(rows_per_bucket=ROWS_PER_BUCKET), table, tmp_path)
    assert report["hot_keys" if method == "exact" else "hot_band_keys"] >= 1
    if method == "minhash_verify":  # the cluster's first document: a hot node of both joins
        assert report["hot_verify_nodes"] >= 1
    # No resolve call held the cluster: each stays near a bucket's share of the rows.
    assert max(executor.sizes) <= 3 * ROWS_PER_BUCKET


def test_rows_of_null_keys_are_never_hot_duplicates():
    texts = ["!!!"] * 300 + [f"doc {i}" for i in range(100)] + ["same"] * 150
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})
    whole, _ = decisions(ExactDedup(), table)
    found, _ = decisions(ExactDedup(rows_per_bucket=40), table)
    assert found == whole and len(whole) == 149


@pytest.mark.parametrize("cells", [61, 4096, 1 << 22])
def test_chunked_assignment_equals_one_matrix(cells):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((700, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids = rng.standard_normal((300, 24)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids[250] = centroids[40]  # a tie: the first centroid wins, as with argmax
    vectors[:20] = centroids[40]
    expected = np.round(vectors @ centroids.T, 6).argmax(axis=1)
    found = nearest_centroids(vectors, centroids, cells)
    assert np.array_equal(found, expected)
    assert (found[:20] == 40).all()
