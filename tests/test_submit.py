"""`tamis submit` against a real Ray head started with `ray start --head` on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head on loopback whose jobs run with this venv's python."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    port, dashboard = free_port(), free_port()
    start = [
        f"{bin_dir}/ray",
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(dashboard),
        "--num-cpus",
        "2",
        "--disable-usage-stats",
        "--temp-dir",
        tempfile.mkdtemp(prefix="ray", dir="/tmp"),  # Ray's socket paths must stay short
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        subprocess.run(
            [f"{bin_dir}/ray", "stop", "--force"], env=env, capture_output=True, timeout=120
        )


@pytest.mark.slow
def test_submit_runs_the_recipe_on_the_cluster(ray_head, small_samples, tmp_path):
    address, env = ray_head
    # The job reads samples from its uploaded working dir; the output path is made absolute.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "submit",
            str(RECIPE),
            "--address",
            address,
            "--output",
            str(tmp_path / "cluster"),
            "--limit",
            "250",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "submitted job raysubmit_" in done.stdout and "SUCCEEDED" in done.stdout
    assert "web-en-heuristics: 250 rows in" in done.stdout  # the job's logs were streamed
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
