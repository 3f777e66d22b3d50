"""Scorers inside recipes: the Ray runner (actor pools) gives what the local runner gives."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from pipeline.core.errors import ManifestError
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
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


def test_rethreshold_reuses_scores_without_the_model(small_samples, tmp_path, quality_model):
    import shutil

    model = tmp_path / "model" / "q.bin"
    model.parent.mkdir()
    shutil.copy(quality_model, model)

    def recipe(out, **quality):
        return parse_recipe(
            {
                "name": "rethreshold",
                "input": {"path": str(small_samples)},
                "output": {"path": str(out)},
                "steps": [
                    {"gopher_quality": {}},
                    {"quality_classifier": {"model": str(model), **quality}},
                ],
            }
        )

    first = run_recipe(recipe(tmp_path / "first", min=0.2), "local", progress=False)
    model.unlink()  # from here on, any scoring would fail
    second = run_recipe(
        recipe(tmp_path / "second", min=0.7),
        "local",
        progress=False,
        reuse_scores=tmp_path / "first",
    )
    assert second["run"]["reused_scores"]["columns"] == ["quality_score"]
    kept1, rejected1 = outputs(tmp_path / "first")
    kept2, rejected2 = outputs(tmp_path / "second")
    scored = pc.is_valid(rejected1["quality_score"])
    expected = sorted(
        i
        for i, s in zip(
            kept1["id"].to_pylist() + rejected1.filter(scored)["id"].to_pylist(),
            kept1["quality_score"].to_pylist()
            + rejected1.filter(scored)["quality_score"].to_pylist(),
        )
        if s >= 0.7
    )
    assert sorted(kept2["id"].to_pylist()) == expected
    assert second["rows"]["in"] == first["rows"]["in"]
    # Scores cannot be reused into the run they come from, however the folder is spelled.
    with pytest.raises(ManifestError, match="another run's output"):
        run_recipe(
            recipe(tmp_path / "first", min=0.7),
            "local",
            progress=False,
            overwrite=True,
            reuse_scores=f"{tmp_path}/second/../first",
        )
    assert outputs(tmp_path / "first")[0].equals(kept1)  # and the earlier run is left intact
