"""Small causal LM perplexity with the packaged SmolLM2-135M (loads in ~15 s on CPU)."""

from __future__ import annotations

import math

import pytest

from scorers import CausalLmPerplexity

CLEAN = "The river rose quickly after three days of heavy rain, so the town closed the old bridge."
SPAM = "cheap cheap buy now click best price deal deal click here now free free win"


@pytest.fixture(scope="module")
def smollm() -> CausalLmPerplexity:
    step = CausalLmPerplexity(max_tokens=48, max_perplexity=300)
    step.ready()
    return step


@pytest.mark.slow
def test_perplexity_ranks_prose_below_spam_and_ignores_padding(smollm):
    both = smollm([CLEAN, SPAM, "x"])["lm_perplexity"].to_pylist()
    alone = smollm([CLEAN])["lm_perplexity"].to_pylist()
    assert both[0] < both[1]
    assert both[0] == pytest.approx(alone[0], rel=1e-4)  # padding in a batch changes nothing
    assert math.isnan(both[2])  # one token: nothing to predict


@pytest.mark.slow
def test_threshold_reason(smollm):
    assert smollm.reasons([CLEAN, SPAM]).to_pylist() == [None, "lm_perplexity:lm_perplexity>300"]


@pytest.mark.slow
def test_half_precision_agrees_with_float32_within_the_gpu_checks_tolerance(smollm):
    # CUDA runs bfloat16 by default; benchmarks/gpu_check.py holds it to these bounds there.
    texts = [CLEAN, SPAM, CLEAN + " " + SPAM, "Water boils at 100 degrees at sea level."] * 3
    half = CausalLmPerplexity(max_tokens=48, dtype="bfloat16", forward_batch=5)
    full = smollm(texts)["lm_perplexity"].to_numpy()
    rel = abs(half(texts)["lm_perplexity"].to_numpy() - full) / full
    assert rel.max() <= 0.03
    assert (rel > 0).any()  # it did run in another precision


def test_gpu_request_is_a_resource():
    assert CausalLmPerplexity(gpus=0.5).worker_resources().gpus == 0.5
    assert CausalLmPerplexity().worker_resources().gpus == 0


@pytest.mark.gpu
def test_runs_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    step = CausalLmPerplexity(device="cuda", max_tokens=32)
    assert step([CLEAN])["lm_perplexity"][0].as_py() > 1


def test_gpu_step_fails_fast_without_a_gpu(small_samples, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from pipeline.core.errors import TamisError
    from pipeline.core.recipe import parse_recipe
    from pipeline.run.runner import run_recipe

    recipe = parse_recipe(
        {
            "name": "gpu",
            "input": {"path": str(small_samples)},
            "output": {"path": str(tmp_path / "o")},
            "steps": [{"gopher_quality": {}}, {"lm_perplexity": {"gpus": 1, "max_tokens": 16}}],
        }
    )
    with pytest.raises(
        TamisError, match=r"lm_perplexity \(1 GPU\) asks for GPUs .* --cpu-fallback"
    ):
        run_recipe(recipe, "local", progress=False)
    assert not (tmp_path / "o" / "manifest.json").exists()
