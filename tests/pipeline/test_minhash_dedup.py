"""MinHash dedup: signatures, LSH parameters, connected components, library use."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from pipeline.dedup import MinHashDeduplicator
from pipeline.dedup.components import connected_components, edges
from pipeline.dedup.minhash import EMPTY, jaccard, lsh_params, shingle_hashes, signatures
from pipeline.io.storage import Location, read_table
from pipeline.run.local_executor import LocalExecutor

ARTICLE = (
    "The council met on Tuesday evening to discuss the budget for the coming year. Several "
    "members raised concerns about the rising cost of materials and the long delays in the "
    "construction of the new library building downtown. The chair promised that a full report "
    "on the project would be published before the end of next month, and invited residents to "
    "send their questions to the office by email or to attend the next public meeting."
)


def test_signatures_are_deterministic_and_seeded():
    texts = pa.array([ARTICLE, ARTICLE.upper() + "!!", "another text entirely", "", None])
    first = signatures(texts, 64, 5, seed=1)
    assert first.dtype == np.uint32 and first.shape == (5, 64)
    assert np.array_equal(first, signatures(texts, 64, 5, seed=1))
    assert np.array_equal(first[0], first[1])  # case and punctuation are normalised away
    assert not np.array_equal(first[0], signatures(texts, 64, 5, seed=2)[0])
    assert (first[3] == EMPTY).all() and (first[4] == EMPTY).all()


def test_signature_agreement_estimates_jaccard():
    words = ARTICLE.split()
    edited = " ".join(w if i % 9 else "changed" for i, w in enumerate(words))
    shingles, at = shingle_hashes(pa.array([ARTICLE, edited]), 5)
    true = jaccard(shingles[at[0] : at[1]], shingles[at[1] : at[2]])
    sigs = signatures(pa.array([ARTICLE, edited]), 512, 5, seed=3)
    estimate = (sigs[0] == sigs[1]).mean()
    assert 0.05 < true < 0.6 and abs(estimate - true) < 0.06


def test_short_texts_have_one_shingle_of_all_their_words():
    shingles, at = shingle_hashes(pa.array(["a b", "a b", "b a", "one two three four five six"]), 5)
    assert list(np.diff(at)) == [1, 1, 1, 2]
    assert shingles[0] == shingles[1] != shingles[2]


def test_lsh_params_give_an_s_curve_around_the_threshold():
    bands, rows = lsh_params(0.8, 128)
    assert bands * rows <= 128

    def collide(s: float) -> float:
        return 1 - (1 - s**rows) ** bands

    assert collide(0.9) > 0.99 and collide(0.8) > 0.8 and collide(0.5) < 0.05


def _components_of(n_nodes: int, a: np.ndarray, b: np.ndarray, tmp_path, buckets: int) -> set:
    ids = np.array([f"d{i}" for i in range(n_nodes)], object)
    table = edges(pa.array(a), pa.array(ids[a]), pa.array(b), pa.array(ids[b]))
    (tmp_path / "edges").mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), tmp_path / "edges" / "0.parquet")
    pq.write_table(table.slice(half), tmp_path / "edges" / "1.parquet")
    stars, _ = connected_components(
        LocalExecutor(), Location.of(tmp_path / "edges"), Location.of(tmp_path / "cc"), buckets
    )
    found = pa.concat_tables([read_table(p) for p in stars.glob("*.parquet")])
    assert all(ids[r] == i for r, i in zip(found["a"].to_pylist(), found["a_id"].to_pylist()))
    return set(zip(found["a"].to_pylist(), found["b"].to_pylist()))


@pytest.mark.parametrize("buckets", [1, 5])
def test_components_match_scipy(tmp_path, buckets):
    rng = np.random.default_rng(buckets)
    n = 1500
    a, b = rng.integers(0, n, 1200), rng.integers(0, n, 1200)
    chain = np.arange(300, 500)  # a long path needs several rounds
    a, b = np.r_[a, chain[:-1]], np.r_[b, chain[1:]]
    got = _components_of(n, a, b, tmp_path, buckets)
    _, labels = scipy_components(coo_matrix((np.ones(len(a)), (a, b)), (n, n)), directed=False)
    smallest: dict[int, int] = {}
    for node, label in enumerate(labels):
        smallest.setdefault(label, node)
    expected = {(smallest[lab], node) for node, lab in enumerate(labels) if smallest[lab] != node}
    assert got == expected


def test_library_use_keeps_the_first_of_each_cluster():
    words = ARTICLE.split()
    near = " ".join(words[:-1] + ["today."])  # one word of 80 changed
    table = pa.table(
        {
            "id": ["x", "orig", "copy", "other", "near"],
            "text": ["a short unrelated note", ARTICLE, ARTICLE, "Completely different.", near],
        }
    )
    dedup = MinHashDeduplicator(threshold=0.8)
    kept, rejected = dedup.split(table)
    assert kept["id"].to_pylist() == ["x", "orig", "other"]
    assert rejected["id"].to_pylist() == ["copy", "near"]
    assert rejected["duplicate_of"].to_pylist() == ["orig", "orig"]
    assert set(rejected["reject_reason"].to_pylist()) == {"duplicate:minhash"}
    assert "_minhash_bands" not in kept.column_names + rejected.column_names
    report = dedup.last_report
    assert report["clusters"] == 1 and report["duplicates"] == 2
    assert report["largest_clusters"] == [{"kept": "orig", "size": 3, "members": ["copy", "near"]}]


def test_verify_drops_candidates_under_the_threshold():
    # With a single band of one row, every pair sharing one min-hash is a candidate; verifying
    # keeps only pairs whose true Jaccard reaches the threshold.
    words = ARTICLE.split()
    half = " ".join(words[: len(words) // 2] + ["other"] * 20)
    texts = [ARTICLE, half, ARTICLE + " The end."]
    loose = MinHashDeduplicator(threshold=0.8, num_perm=8, bands=1, rows=1, seed=4)
    strict = MinHashDeduplicator(threshold=0.8, num_perm=8, bands=1, rows=1, seed=4, verify=True)
    _, strict_dups = strict.split(texts)
    assert strict_dups["id"].to_pylist() == ["2"]
    assert strict.last_report["verified_pairs"] <= strict.last_report["candidate_pairs"]
    _, loose_dups = loose.split(texts)
    assert set(loose_dups["id"].to_pylist()) >= {"2"}


def test_bands_and_rows_must_come_together_and_fit():
    with pytest.raises(ValueError, match="both"):
        MinHashDeduplicator(bands=4)
    with pytest.raises(ValueError, match="at most num_perm"):
        MinHashDeduplicator(num_perm=16, bands=4, rows=5)
