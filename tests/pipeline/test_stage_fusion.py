"""Global steps that share a stage decide on keys, and a last stage that only applies decisions
writes the final files directly: same rows and reasons as deciding one step after another."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.recipe import parse_recipe
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.fuzzy import MinHashDedup
from pipeline.run.plan import plan_run
from pipeline.run.runner import run_recipe
from pipeline.run.stages import build_stages

KINDS = ("kept", "rejected")
RECIPE = """
name: fused
input: {{path: {inp}}}
output: {{path: {out}}}
steps:
  - exact_dedup: {{}}
  - minhash_dedup: {{threshold: 0.7}}
"""


def near_copies(sample_docs: pa.Table, folder: Path) -> Path:
    """Four shards of sample documents with exact copies (other case and punctuation) and near
    copies (a word changed), spread across shards."""
    docs = sample_docs.filter(pc.greater(pc.utf8_length(sample_docs["text"]), 400)).slice(0, 150)
    texts, ids = docs["text"].to_pylist(), docs["id"].to_pylist()
    rows = [(i, t) for i, t in zip(ids, texts, strict=True)]
    rows += [(f"{i}-exact", t.upper() + " !!") for i, t in zip(ids[:40], texts[:40], strict=True)]
    rows += [
        (f"{i}-near", t.replace(" the ", " a ", 1) + " (updated)")
        for i, t in zip(ids[20:70], texts[20:70], strict=True)
    ]
    folder.mkdir()
    for shard in range(4):
        part = rows[shard::4]
        pq.write_table(
            pa.table({"id": [i for i, _ in part], "text": [t for _, t in part]}),
            folder / f"part-{shard}.parquet",
        )
    return folder


def outputs(out: Path) -> tuple[pa.Table, pa.Table]:
    kept = pq.read_table(out / "kept").sort_by("id")
    return kept, pq.read_table(out / "rejected").sort_by("id")


def test_adjacent_dedups_share_a_stage_and_decide_like_two(sample_docs, tmp_path):
    inp = near_copies(sample_docs, tmp_path / "in")
    recipe = parse_recipe(yaml.safe_load(RECIPE.format(inp=inp, out=tmp_path / "out")))
    plan = plan_run(recipe)
    assert [s.describe() for s in plan.stages] == ["read", "exact_dedup -> minhash_dedup"]
    assert [g.name for g in plan.stages[0].keys_for] == ["exact_dedup", "minhash_dedup"]

    manifest = run_recipe(recipe, runner="local", progress=False)
    kept, rejected = outputs(tmp_path / "out")

    # The reference: each step on its own, the second on what the first kept.
    table = pq.read_table(inp)  # in input order: shard by shard, as the run reads them
    exact_kept, exact_rejected = ExactDedup().split(table)
    _, fuzzy_rejected = MinHashDedup(threshold=0.7).split(exact_kept)
    expected = {
        "duplicate:exact": exact_rejected,
        "duplicate:minhash": fuzzy_rejected,
    }
    for reason, reference in expected.items():
        found = rejected.filter(pc.equal(rejected["reject_reason"], reason))
        assert reference.num_rows > 5, reason  # the data has duplicates of both kinds
        pairs = sorted(zip(found["id"].to_pylist(), found["duplicate_of"].to_pylist()))
        assert pairs == sorted(
            zip(reference["id"].to_pylist(), reference["duplicate_of"].to_pylist())
        ), reason
    assert manifest["rows"] == {
        "in": table.num_rows,
        "kept": kept.num_rows,
        "rejected": rejected.num_rows,
    }
    minhash = next(s["global"] for s in manifest["steps"] if s["step"] == "minhash_dedup")
    assert minhash["rows"] == exact_kept.num_rows  # decided on the exact step's survivors only
    assert "exact_dedup" in minhash["decided_on"]

    work = tmp_path / "out" / "_work"
    assert (work / "stage-1" / "decisions-1.done.json").exists()
    assert not (work / "stage-1" / "keys-1").exists()  # the keys copy goes once decided
    # The last stage only applies decisions: its kept rows went straight to kept/.
    assert not list((work / "stage-1").glob("shard-*/kept-*.parquet"))
    assert list((work / "stage-1").glob("shard-*/rejected-*.parquet"))


@pytest.mark.slow
def test_fused_stage_and_direct_publish_match_on_ray(sample_docs, tmp_path, ray_session):
    inp = near_copies(sample_docs, tmp_path / "in")
    for runner in ("local", "ray"):
        recipe = parse_recipe(yaml.safe_load(RECIPE.format(inp=inp, out=tmp_path / runner)))
        run_recipe(recipe, runner=runner, progress=False)
    local_kept, local_rejected = outputs(tmp_path / "local")
    ray_kept, ray_rejected = outputs(tmp_path / "ray")
    assert ray_kept.equals(local_kept) and ray_rejected.equals(local_rejected)
    for shard in range(4):  # file by file, in the same row order
        name = f"part-{shard:05d}.parquet"
        for kind in ("kept", "rejected"):
            assert pq.read_table(tmp_path / "ray" / kind / name).equals(
                pq.read_table(tmp_path / "local" / kind / name)
            )


def test_a_step_deciding_on_its_own_bucket_gets_its_own_stage():
    steps = [MinHashDedup(), ExactDedup()]  # exact decides on a `_bucket` of its own keys
    assert [s.describe() for s in build_stages(steps)] == ["read", "minhash_dedup", "exact_dedup"]
    fused = build_stages([ExactDedup(), MinHashDedup()])
    assert [s.describe() for s in fused] == ["read", "exact_dedup -> minhash_dedup"]


def test_a_publishing_stage_redoes_only_unfinished_shards(sample_docs, tmp_path):
    inp = near_copies(sample_docs, tmp_path / "in")
    recipe = parse_recipe(yaml.safe_load(RECIPE.format(inp=inp, out=tmp_path / "out")))
    run_recipe(recipe, runner="local", progress=False)
    before = [pq.read_table(tmp_path / "out" / k / "part-00002.parquet") for k in KINDS]
    # As if killed while publishing shard 2: its marker and final files are gone, and a piece
    # of the dead attempt is left in its folder.
    stage = tmp_path / "out" / "_work" / "stage-1"
    (stage / "shard-00002.done.json").unlink()
    for kind in KINDS:
        (tmp_path / "out" / kind / "part-00002.parquet").unlink()
    (stage / "shard-00002" / "rejected-000000000000-dead.parquet").write_bytes(b"partial")
    again = run_recipe(recipe, runner="local", progress=False)
    assert [s["shards_run"] for s in again["run"]["stages"]] == [0, 1]
    after = [pq.read_table(tmp_path / "out" / k / "part-00002.parquet") for k in KINDS]
    assert all(a.equals(b) for a, b in zip(after, before, strict=True))
    assert not (stage / "shard-00002" / "rejected-000000000000-dead.parquet").exists()
