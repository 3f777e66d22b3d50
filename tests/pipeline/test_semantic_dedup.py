"""Semantic dedup: the greedy pass, library use with the packaged MiniLM, recipe wiring."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.core.recipe import build_steps, parse_recipe
from pipeline.dedup import SemanticDeduplicator
from pipeline.dedup.semantic import greedy_keep
from scorers.embedding import SentenceEmbedder, embedding_array, embedding_matrix

BUDGET = (
    "The council met on Tuesday to discuss next year's budget. Several members raised concerns "
    "about the rising cost of materials and the delays in building the new library downtown."
)
PARAPHRASE = (
    "On Tuesday the council gathered to talk about the budget for the coming year. A number of "
    "members voiced worries about increasing material prices and hold-ups in the construction "
    "of the new downtown library."
)
OTHERS = [
    "Rain is expected across the north of the country for most of the weekend.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
    "The striker scored twice in the second half to win the cup final.",
]


def test_greedy_points_each_duplicate_at_a_kept_row():
    base = np.eye(4, dtype=np.float32)
    close = base[0] * 0.99 + base[1] * 0.14
    vectors = np.stack([base[0], close / np.linalg.norm(close), base[2], base[0]])
    dropped, partner, cosine = greedy_keep(vectors, threshold=0.95)
    assert dropped.tolist() == [1, 3] and partner.tolist() == [0, 0]
    assert np.allclose(cosine, [vectors[0] @ vectors[1], 1.0])


def test_embedding_columns_round_trip():
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(embedding_matrix(embedding_array(vectors)), vectors)


def test_library_use_finds_a_paraphrase_and_keeps_the_first():
    texts = [BUDGET, *OTHERS, PARAPHRASE]
    dedup = SemanticDeduplicator(threshold=0.8, keep="first")
    kept, rejected = dedup.split(pa.table({"id": list("abcde"), "text": texts}))
    assert kept["id"].to_pylist() == ["a", "b", "c", "d"]
    assert rejected["id"].to_pylist() == ["e"] and rejected["duplicate_of"].to_pylist() == ["a"]
    assert rejected["reject_reason"].to_pylist() == ["duplicate:semantic"]
    assert dedup.last_report["duplicates"] == 1
    assert len(kept["embedding"][0]) == 384  # computed once, kept for later steps


def test_deterministic_and_reuses_an_embedding_column():
    texts = [BUDGET, PARAPHRASE, *OTHERS, BUDGET + " Minutes will follow."]
    table = SentenceEmbedder()(pa.table({"text": texts}))
    first = SemanticDeduplicator(threshold=0.8).split(table)[1]
    again = SemanticDeduplicator(threshold=0.8).split(table)[1]
    assert first.select(["id", "duplicate_of"]) == again.select(["id", "duplicate_of"])
    assert first.num_rows == 2 and set(first["duplicate_of"].to_pylist()) <= {"0", "1", "5"}


def test_recipe_adds_an_embed_step_unless_one_comes_first():
    def steps(*specs):
        recipe = parse_recipe(
            {"name": "t", "input": {"path": "x"}, "output": {"path": "y"}, "steps": list(specs)}
        )
        return [s.name for s in build_steps(recipe)]

    assert steps({"semantic_dedup": {}}) == ["embed", "semantic_dedup"]
    assert steps({"embed": {}}, {"semantic_dedup": {}}) == ["embed", "semantic_dedup"]
    assert steps({"embed": {"column": "v"}}, {"semantic_dedup": {}}) == [
        "embed",
        "embed",
        "semantic_dedup",
    ]


def test_embeddings_cannot_be_ranked():
    with pytest.raises(ValueError, match="not a score"):
        SentenceEmbedder(keep_top=0.5)


def test_keep_centroid_keeps_the_first_of_identical_rows():
    # A matrix product's last bits depend on where a row sits in the batch; identical rows must
    # still tie on their cosine to the centroid, so that the first of them is kept.
    rng = np.random.default_rng(29)
    vectors = rng.normal(size=(1445, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    copies = [361, 541, 721, 901, 1081, 1261, 1441]
    vectors[copies] = vectors[361]
    table = pa.table(
        {"text": [f"t{i}" for i in range(1445)], "embedding": embedding_array(vectors)}
    )
    kept, rejected = SemanticDeduplicator(clusters=29).split(table)
    assert [c for c in copies if str(c) in set(kept["id"].to_pylist())] == [361]
    assert set(rejected["duplicate_of"].to_pylist()) == {"361"}


def test_ragged_embeddings_are_refused():
    with pytest.raises(ValueError, match="same length"):
        embedding_matrix(pa.array([[1.0, 0.0], [1.0]], pa.list_(pa.float32())))


def test_a_large_sample_pass_is_read_in_parallel_and_draws_the_same_sample(tmp_path, monkeypatch):
    from pipeline.core.columns import ROW, SHARD
    from pipeline.dedup import semantic
    from pipeline.io.storage import Location, write_parquet
    from pipeline.run.local_executor import LocalExecutor

    rng = np.random.default_rng(0)
    sources = []
    for shard in range(6):
        vectors = rng.normal(size=(300, 8)).astype(np.float32)
        table = pa.table(
            {
                SHARD: pa.array(np.full(300, shard, np.int32)),
                ROW: pa.array(np.arange(300, dtype=np.int64)),
                "id": [f"{shard}-{i}" for i in range(300)],
                "embedding": embedding_array(vectors),
            }
        )
        sources.append(Location.of(str(tmp_path / f"s{shard}.parquet")))
        write_parquet(table, sources[-1])
    params = SemanticDeduplicator.Params(sample_rows=500, clusters=4)

    class Counting(LocalExecutor):
        """The local executor, noting each shuffle's bucket count."""

        buckets: list[int] = []

        def shuffle(self, sources, resolve, dest, buckets):
            self.buckets.append(buckets)
            super().shuffle(sources, resolve, dest, buckets)

    def centroids(work: str) -> np.ndarray:
        folder = Location.of(str(tmp_path / work))
        found, resumed = semantic.fit_centroids(Counting(), sources, folder, 1800, params, "t")
        assert not resumed  # each call has its own work folder
        return found

    serial = centroids("serial")
    monkeypatch.setattr(semantic, "SAMPLE_SERIAL_ROWS", 0)  # 1,800 rows now count as large
    parallel = centroids("parallel")
    assert Counting.buckets == [1, 6]  # then one bucket per source file (at most 64)
    np.testing.assert_array_equal(serial.centroids, parallel.centroids)
