"""Diversity selection: an exact budget, best scores first, records too similar to a better one
left out (with the one they resemble), the same choice on both runners and as the exact greedy
walk when similar records share a cluster."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.core.columns import embedding_array
from pipeline.core.errors import RecipeError
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from tests.pipeline.test_runners import outputs

ROWS = 600


def planted(folder, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """600 unit vectors (rows 300-399 near copies of rows 0-99) with random scores, in three
    shards; row 7 has no score."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(ROWS, 16)).astype(np.float32)
    vectors[300:400] = vectors[:100] + 0.05 * rng.normal(size=(100, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = rng.random(ROWS).astype(np.float32)
    folder.mkdir()
    for k in range(3):
        part = slice(k * 200, (k + 1) * 200)
        score = pa.array(scores[part])
        if k == 0:
            score = pc.if_else(pa.array(np.arange(200) == 7), pa.scalar(None, pa.float32()), score)
        table = pa.table(
            {
                "id": [f"r{i}" for i in range(ROWS)][part],
                "text": ["t"] * 200,
                "embedding": embedding_array(vectors[part]),
                "q": score,
            }
        )
        pq.write_table(table, folder / f"part-{k}.parquet")
    return vectors, scores


def run(inp, out, runner: str = "local", **select) -> dict:
    params = {"score_column": "q", "threshold": 0.9, "rows_per_cluster": 100} | select
    recipe = {
        "name": "select",
        "input": {"path": str(inp), "chunk_rows": 64},
        "output": {"path": str(out)},
        "steps": [{"select": params}],
    }
    return run_recipe(parse_recipe(recipe), runner, progress=False)


def exact_walk(vectors: np.ndarray, scores: np.ndarray, budget: int) -> set[str]:
    """DEITA's greedy walk over the whole set: best score first, skip the too similar."""
    chosen: list[int] = []
    for i in np.lexsort((np.arange(ROWS), -scores)):
        if i == 7:
            continue
        if len(chosen) == budget:
            break
        if chosen and (vectors[chosen] @ vectors[i]).max() >= 0.9:
            continue
        chosen.append(int(i))
    return {f"r{i}" for i in chosen}


def test_select_takes_the_budget_best_first_and_explains_the_rest(tmp_path):
    vectors, scores = planted(tmp_path / "in")
    manifest = run(tmp_path / "in", tmp_path / "out", count=250, rows_per_bucket=150)
    kept, rejected = outputs(tmp_path / "out")
    assert kept.num_rows == 250 and set(kept["id"].to_pylist()) == exact_walk(vectors, scores, 250)
    reasons = dict(zip(rejected["id"].to_pylist(), rejected["reject_reason"].to_pylist()))
    assert reasons["r7"] == "select:no_score"
    similar = rejected.filter(pc.equal(rejected["reject_reason"], "select:too_similar"))
    assert similar.num_rows > 0 and set(similar["similar_to"].to_pylist()) <= set(
        kept["id"].to_pylist()
    )
    for row in similar.to_pylist():  # each resembles a better record that was chosen
        i, j = int(row["id"][1:]), int(row["similar_to"][1:])
        assert vectors[i] @ vectors[j] >= 0.9 and scores[j] >= scores[i]
    budget = rejected.filter(pc.equal(rejected["reject_reason"], "select:budget"))
    assert pc.max(budget["q"]).as_py() <= pc.min(kept["q"]).as_py()
    stats = {s["step"]: s for s in manifest["steps"]}["select"]["global"]
    assert (stats["selected"], stats["no_score"], stats["budget"]) == (250, 1, 250)
    assert stats["too_similar"] == similar.num_rows and "similar_to" not in kept.column_names


def test_fraction_ascending_and_a_budget_past_the_eligible(tmp_path):
    vectors, scores = planted(tmp_path / "in")
    run(tmp_path / "in", tmp_path / "low", fraction=0.1, ascending=True)
    kept, _ = outputs(tmp_path / "low")
    assert kept.num_rows == round(0.1 * (ROWS - 1))
    assert pc.max(kept["q"]).as_py() < np.quantile(scores, 0.2)
    run(tmp_path / "in", tmp_path / "all", count=10_000)
    kept, rejected = outputs(tmp_path / "all")
    assert set(rejected["reject_reason"].to_pylist()) == {"select:too_similar", "select:no_score"}


@pytest.mark.slow
def test_select_chooses_the_same_records_on_ray(tmp_path, ray_session):
    planted(tmp_path / "in")
    for runner in ("local", "ray"):
        run(tmp_path / "in", tmp_path / runner, runner, count=200, rows_per_bucket=150)
    for got, want in zip(outputs(tmp_path / "ray"), outputs(tmp_path / "local"), strict=True):
        assert got.equals(want)


def test_select_needs_one_budget(tmp_path):
    with pytest.raises(RecipeError, match="set count or fraction"):
        parse_recipe(
            {
                "name": "x",
                "input": {"path": "in"},
                "output": {"path": "out"},
                "steps": [{"select": {"score_column": "q", "count": 3, "fraction": 0.5}}],
            }
        )


def test_a_score_column_no_step_adds_stops_the_run_before_it_starts(tmp_path):
    planted(tmp_path / "in")
    with pytest.raises(RecipeError, match="step select: no column 'quality'.*set its settings"):
        run(tmp_path / "in", tmp_path / "out", score_column="quality", count=10)
    assert not (tmp_path / "out").exists()  # nothing was read or written


def test_a_score_column_of_text_is_a_one_line_error(tmp_path):
    planted(tmp_path / "in")
    with pytest.raises(RecipeError, match="score_column 'text' holds string values, not numbers"):
        run(tmp_path / "in", tmp_path / "out", score_column="text", count=10)
