"""`tamis submit` against a real Ray head started with `ray start --head` on 127.0.0.1."""

from __future__ import annotations

import pytest

from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs
from tests.ray_head import free_port

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"


@pytest.mark.slow
def test_submit_runs_the_recipe_on_the_cluster(ray_head, small_samples, tmp_path):
    # The job reads samples from its uploaded working dir; the output path is made absolute.
    stdout = ray_head.submit(str(RECIPE), "--output", str(tmp_path / "cluster"), "--limit", "250")
    assert "submitted job raysubmit_" in stdout and "SUCCEEDED" in stdout
    assert "web-en-heuristics: 250 rows in" in stdout  # the job's logs were streamed
    # Progress reaches the job's logs as plain lines (its stderr is not a terminal).
    assert "stage 2/2 (exact_dedup -> " in stdout and " rows/s" in stdout
    assert "deciding exact_dedup over " in stdout
    run_recipe(
        load_recipe(RECIPE, output_path=str(tmp_path / "local")), "local", limit=250, progress=False
    )
    for got, want in zip(outputs(tmp_path / "cluster"), outputs(tmp_path / "local")):
        assert got.equals(want)


def test_submit_to_nowhere_is_one_line(capsys):
    from pipeline.cli import main

    assert main(["submit", str(RECIPE), "--address", f"http://127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tamis: error: cannot submit to the Ray cluster") and "\n" not in err


def test_submit_refuses_an_unknown_output_scheme_before_submitting(capsys):
    from pipeline.cli import main

    address = f"http://127.0.0.1:{free_port()}"  # never reached: the output is refused first
    assert main(["submit", str(RECIPE), "--address", address, "--output", "nosuch://b/out"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nosuch://b/out: unknown filesystem nosuch://" in err
