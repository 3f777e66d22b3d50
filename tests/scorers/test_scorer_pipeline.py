"""Scorers inside recipes: the Ray runner (actor pools) gives what the local runner gives."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from pipeline.recipe import parse_recipe
from pipeline.runner import run_recipe
from tests.pipeline.test_runners import outputs


def model_recipe(inp, out, quality_model, kenlm_model):
    return parse_recipe(
        {
            "name": "models",
            "input": {"path": str(inp), "chunk_rows": 128},
            "output": {"path": str(out)},
            "steps": [
                {"lang_id": {"languages": ["en"], "min_score": 0.65}},
                {"exact_dedup": {}},
                {"gopher_quality": {}},
                {
                    "kenlm_perplexity": {
                        "model": str(kenlm_model),
                        "buckets": True,
                        "batch_size": 64,
                        "keep_bottom": 0.9,
                    }
                },
                {"quality_classifier": {"model": str(quality_model), "min": 0.2}},
            ],
        }
    )


def test_local_run_with_models(small_samples, tmp_path, quality_model, kenlm_model):
    manifest = run_recipe(
        model_recipe(small_samples, tmp_path / "o", quality_model, kenlm_model),
        "local",
        progress=False,
    )
    kept, rejected = outputs(tmp_path / "o")
    assert manifest["rows"]["in"] == kept.num_rows + rejected.num_rows == 1200
    assert kept["lang"].unique().to_pylist() == ["en"]
    assert pc.min(kept["quality_score"]).as_py() >= 0.2
    # Rows rejected after scoring keep their scores, so thresholds can be changed later.
    late = rejected.filter(pc.equal(rejected["rejected_by"], "quality_classifier"))
    assert late.num_rows > 0 and late["kenlm_perplexity"].null_count == 0
    steps = {s["step"]: s for s in manifest["steps"]}
    assert steps["quality_classifier"]["seconds"] > 0 and steps["lang_id"]["rejected"] > 0


@pytest.mark.slow
def test_ray_actor_pools_match_local(
    small_samples, tmp_path, quality_model, kenlm_model, ray_session
):
    for runner in ("local", "ray"):
        run_recipe(
            model_recipe(small_samples, tmp_path / runner, quality_model, kenlm_model),
            runner,
            progress=False,
        )
    for got, want in zip(outputs(tmp_path / "ray"), outputs(tmp_path / "local")):
        assert got.equals(want)
