"""Global percentile cuts: exact cut-offs from two histogram passes, applied in recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.core.recipe import parse_recipe
from pipeline.global_steps.thresholds import PercentileCut, float_keys, key_to_float
from pipeline.io.storage import Location
from pipeline.run.local_executor import LocalExecutor
from pipeline.run.runner import run_recipe
from tests.pipeline.test_runners import outputs


def test_float_keys_sort_like_floats():
    values = np.array([3.5, -2.0, 0.0, -0.5, 1e-8, 1e9, -1e9, 7.25], np.float32)
    keys = float_keys(values)
    assert np.array_equal(np.argsort(keys, kind="stable"), np.argsort(values, kind="stable"))
    assert [key_to_float(int(k)) for k in keys] == values.tolist()


@pytest.mark.parametrize("fraction, top", [(0.3, True), (0.01, True), (1.0, True), (0.25, False)])
def test_cutoff_is_exact(tmp_path: Path, fraction: float, top: bool):
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 1, 5000).astype(np.float32)
    values[::97] = np.nan  # unscored rows
    sources = []
    for i, part in enumerate(np.array_split(values, 3)):
        pq.write_table(pa.table({"s": pa.array(part, pa.float32())}), tmp_path / f"{i}.parquet")
        sources.append(Location.of(tmp_path / f"{i}.parquet"))
    cut = PercentileCut("step", "s", fraction, top)
    (tmp_path / "d").mkdir()
    stats = cut.decide(LocalExecutor(), sources, Location.of(tmp_path / "d"), len(values))
    scored = np.sort(values[~np.isnan(values)])
    keep = round(fraction * len(scored))
    expected = scored[len(scored) - keep] if top else scored[keep - 1]
    assert stats["cutoff"] == float(expected)
    assert stats["scored_rows"] == len(scored) and stats["unscored_rows"] == len(values) - len(
        scored
    )


def threshold_recipe(inp, out, quality_model, **quality):
    return parse_recipe(
        {
            "name": "cut",
            "input": {"path": str(inp)},
            "output": {"path": str(out)},
            "steps": [
                {"gopher_quality": {}},
                {"quality_classifier": {"model": str(quality_model), **quality}},
                {"c4": {}},
            ],
        }
    )


def test_keep_top_in_a_recipe(small_samples, tmp_path, quality_model):
    manifest = run_recipe(
        threshold_recipe(small_samples, tmp_path / "o", quality_model, keep_top=0.4),
        "local",
        progress=False,
    )
    kept, rejected = outputs(tmp_path / "o")
    steps = {s["step"]: s for s in manifest["steps"]}
    cut = steps["quality_classifier.keep_top"]
    reached = cut["rows_in"]
    assert cut["global"]["cutoff"] is not None
    # Exactly the top 40% are kept, plus any rows tied with the last one (duplicates score alike).
    at_cutoff = pc.equal(pc.cast(kept["quality_score"], pa.float32()), cut["global"]["cutoff"])
    ties = pc.sum(at_cutoff).as_py() or 0
    assert cut["kept"] - max(ties - 1, 0) <= round(0.4 * reached) <= cut["kept"]
    by_cut = rejected.filter(pc.equal(rejected["rejected_by"], "quality_classifier.keep_top"))
    assert by_cut.num_rows == cut["rejected"]
    assert (
        pc.max(by_cut["quality_score"]).as_py() < pc.min(kept["quality_score"]).as_py()
        or kept.num_rows == 0
    )
    assert set(by_cut["reject_reason"].to_pylist()) == {
        f"quality_classifier.keep_top:quality_score<{cut['global']['cutoff']:.6g}"
    }
    # c4 runs after the cut, on what the cut kept.
    assert steps["c4"]["rows_in"] == cut["kept"]


def test_keep_top_and_bottom_are_exclusive(quality_model):
    with pytest.raises(Exception, match="not both"):
        threshold_recipe("in", "out", quality_model, keep_top=0.1, keep_bottom=0.1)
