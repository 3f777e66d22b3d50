"""`tamis submit` against a real Ray head started with `ray start --head` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from pipeline.core.recipe import load_recipe
from pipeline.run.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs
from tests.ray_head import RECIPE, RayHead, free_port, job_recipe

ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"


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


JOB_STEPS = """
import numpy as np
from filters import Check, Filter
from pipeline.core.registry import register


@register("job_digits")
class JobDigits(Filter):
    \"\"\"Reject rows of which digits are over 5% of the characters.\"\"\"

    def checks(self, batch):
        texts = batch[self.params.text_column].to_pylist()
        share = np.array([sum(c.isdigit() for c in t) / max(len(t), 1) for t in texts])
        return [Check(share > 0.05, "digits>0.05")]
"""


def plugin_job_recipe(recipe: Path) -> Path:
    """`recipe` with a step of the installed example plugin and one from a module written
    beside it (which only the driver's machine has: workers get it from the driver)."""
    (recipe.parent / "job_steps.py").write_text(JOB_STEPS)
    data = yaml.safe_load(recipe.read_text())
    data["imports"] = ["job_steps"]
    data["steps"] = [{"job_digits": {}}, {"max_line_length": {"max_chars": 3000}}, *data["steps"]]
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    return recipe


def ray_job_submit(head: RayHead, *entrypoint: str, runtime_env: dict | None = None) -> str:
    """`ray job submit` of this folder to `head` with the token sent as README says; its output."""
    command = [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address"]
    command += [head.address, "--working-dir", "."]
    command += ["--runtime-env-json", json.dumps(runtime_env)] if runtime_env else []
    done = subprocess.run(
        [*command, "--", *entrypoint],
        cwd=REPO,
        env={**head.env, "RAY_AUTH_MODE": "token"},  # Ray's CLI sends the token only if told
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def driver(head: RayHead, *command: str) -> str:
    """`python COMMAND` as a driver joining `head` through RAY_ADDRESS, outside any job."""
    env = {**head.env, "RAY_ADDRESS": head.gcs}
    done = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def worker_arrow(output: str) -> dict:
    """What tests/worker_env_probe.py printed about its worker's Arrow allocator."""
    return json.loads(output.split("worker arrow:", 1)[1].splitlines()[0])


@pytest.mark.slow
def test_drivers_joining_a_cluster_send_its_token_and_give_workers_the_system_allocator(
    ray_head, small_samples, tmp_path
):
    with pytest.raises(urllib.error.HTTPError):  # the head refuses clients without its token
        urllib.request.urlopen(f"{ray_head.address}/api/jobs/", timeout=10)
    # Workers of a running cluster inherit their raylet's environment, not the driver's: the
    # executor hands them the system allocator through its runtime env, in a job or not...
    probe = ["python", "-m", "tests.worker_env_probe"]
    assert worker_arrow(ray_job_submit(ray_head, *probe)) == {"env": "system", "pool": "system"}
    assert worker_arrow(driver(ray_head, *probe[1:])) == {"env": "system", "pool": "system"}
    # ...unless the job sets it, which wins and is no conflict for Ray.
    other = next(b for b in pa.supported_memory_backends() if b != "system")
    chosen = {"env_vars": {ARROW_POOL: other}}
    got = worker_arrow(ray_job_submit(ray_head, *probe, runtime_env=chosen))
    assert got == {"env": other, "pool": other}

    # The documented entrypoint, submitted with Ray's CLI, gives the local runner's output,
    # with users' steps too: an installed plugin's and one from a module beside the recipe.
    recipe = plugin_job_recipe(
        job_recipe(tmp_path / "recipe.yaml", small_samples, tmp_path / "cluster")
    )
    logs = ray_job_submit(ray_head, "python", "-m", "jobs.curate", str(recipe))
    assert "job_digits:digits>0.05" in (tmp_path / "cluster" / "manifest.json").read_text()
    assert "web-en-heuristics: 1200 rows in" in logs and "succeeded" in logs
    run_recipe(load_recipe(recipe, output_path=str(tmp_path / "local")), "local", progress=False)
    for got, want in zip(outputs(tmp_path / "cluster"), outputs(tmp_path / "local")):
        assert got.equals(want)
    # ...and so does `tamis run` as a driver joining the cluster.
    driver(ray_head, "-m", "pipeline.cli", "run", str(recipe), "--output", str(tmp_path / "driver"))
    for got, want in zip(outputs(tmp_path / "driver"), outputs(tmp_path / "local")):
        assert got.equals(want)


@pytest.mark.slow
def test_a_local_ray_gives_its_workers_the_system_allocator():
    probe = subprocess.run(
        [sys.executable, "-m", "tests.worker_env_probe"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", ARROW_POOL)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert worker_arrow(probe.stdout) == {"env": "system", "pool": "system"}
