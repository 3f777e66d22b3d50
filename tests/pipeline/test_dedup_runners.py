"""Fuzzy and semantic dedup in a recipe: the local and Ray runners decide the same rows."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.recipe import parse_recipe
from pipeline.dedup import MinHashDeduplicator
from pipeline.io.storage import Location
from pipeline.run.runner import run_recipe
from tests.pipeline.test_runners import outputs


def planted_shards(sample_docs: pa.Table, folder: Path, originals: int = 90) -> Path:
    """Sample documents plus edited copies (near duplicates) and long-prefix copies (same
    meaning, low Jaccard: for semantic dedup), spread over three shards."""
    rng = random.Random(7)
    texts = [t for t in sample_docs["text"].to_pylist() if t and 150 < len(t.split()) < 600]
    # The samples hold near duplicates of their own: originals must be distinct.
    texts = MinHashDeduplicator(threshold=0.5).split(texts[: originals * 2])[0]["text"]
    texts = texts.to_pylist()[:originals]
    rows = [(f"o{i}", t) for i, t in enumerate(texts)]
    for i, text in enumerate(texts[:30]):
        words = text.split()
        words[rng.randrange(len(words))] = "edited"
        rows.append((f"n{i}", " ".join(words) + " Read more."))
    for i, text in enumerate(texts[30:45]):
        words = text.split()
        rows.append((f"p{i}", " ".join(words[: int(len(words) * 0.6)])))
    rng.shuffle(rows)
    folder.mkdir(parents=True)
    for k in range(3):
        part = rows[k::3]
        pq.write_table(
            pa.table({"id": [r[0] for r in part], "text": [r[1] for r in part]}),
            folder / f"part-{k}.parquet",
        )
    return folder


def test_fuzzy_and_semantic_dedup_agree_on_local_and_ray(tmp_path, sample_docs, ray_session):
    shards = planted_shards(sample_docs, tmp_path / "in")

    def run(runner: str) -> dict:
        recipe = parse_recipe(
            {
                "name": "dedup",
                "input": {"path": str(shards), "chunk_rows": 40},
                "output": {"path": str(tmp_path / runner)},
                "steps": [
                    {"exact_dedup": {}},
                    # Small buckets: Ray runs these passes as map/reduce task shuffles.
                    {"minhash_dedup": {"verify": True, "rows_per_bucket": 40}},
                    {"semantic_dedup": {"threshold": 0.9, "rows_per_cluster": 40}},
                ],
            }
        )
        return run_recipe(recipe, runner=runner, progress=False)

    local, ray = run("local"), run("ray")
    local_kept, local_rejected = outputs(tmp_path / "local")
    ray_kept, ray_rejected = outputs(tmp_path / "ray")
    decided = ["id", "reject_reason", "rejected_by", "duplicate_of"]
    assert local_rejected.select(decided) == ray_rejected.select(decided)
    assert local_kept["id"] == ray_kept["id"]
    steps = {s["step"]: s for s in local["steps"]}
    # The edited copies are near duplicates; the prefixes mean the same (one of the originals
    # repeats itself, so its prefix is a near duplicate too). Whichever copy comes first is kept.
    edits = {frozenset((f"n{i}", f"o{i}")) for i in range(30)}
    prefixes = {frozenset((f"p{i}", f"o{30 + i}")) for i in range(15)}

    def pairs(step: str) -> set[frozenset[str]]:
        rows = local_rejected.filter(pa.compute.equal(local_rejected["rejected_by"], step))
        return {frozenset(p) for p in zip(rows["id"].to_pylist(), rows["duplicate_of"].to_pylist())}

    assert edits <= pairs("minhash_dedup") <= edits | prefixes
    assert len(pairs("semantic_dedup") & prefixes) >= 12
    assert steps["minhash_dedup"]["global"]["duplicates"] == len(pairs("minhash_dedup"))
    assert steps["minhash_dedup"]["global"]["buckets"] > 1
    for manifest in (local, ray):
        assert manifest["rows"]["kept"] + manifest["rows"]["rejected"] == manifest["rows"]["in"]


def test_cluster_report_is_the_same_when_rerun_on_ray(tmp_path, ray_session):
    from pipeline.dedup.report import cluster_report
    from pipeline.run.ray_executor import RayExecutor

    decisions = tmp_path / "decisions"
    decisions.mkdir()
    for k, kept in enumerate(["a", "b", "c"]):
        pq.write_table(
            pa.table(
                {
                    "_shard": pa.array([k, k], pa.int32()),
                    "_row": pa.array([1, 2], pa.int64()),
                    "duplicate_of": [kept, kept],
                    "member": [f"{kept}1", f"{kept}2"],
                }
            ),
            decisions / f"{k}.parquet",
        )
    first = cluster_report(RayExecutor(), Location.of(decisions))
    # A rerun (e.g. after the driver was killed) must not count the first attempt's files.
    assert cluster_report(RayExecutor(), Location.of(decisions)) == first
    assert (first["clusters"], first["duplicates"]) == (3, 6)
