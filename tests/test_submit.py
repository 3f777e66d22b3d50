"""`tamis submit` against a real Ray head started with `ray start --head` on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.recipe import load_recipe
from pipeline.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"
AGENT_PORTS = (
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "metrics-export-port",
    "runtime-env-agent-port",
    "node-manager-port",
    "object-manager-port",
    "ray-client-server-port",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A Ray head on loopback whose jobs run with this venv's python. It runs in its own process
    group (`--block`), which is killed afterwards: `ray stop` would also stop the test session's
    own in-process Ray."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    port, dashboard = free_port(), free_port()
    start = [
        f"{bin_dir}/ray",
        "start",
        "--head",
        "--block",
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
        # Ports of its own: the test session may run another (in-process) Ray beside it.
        *(arg for name in AGENT_PORTS for arg in (f"--{name}", str(free_port()))),
        "--temp-dir",
        tempfile.mkdtemp(prefix="ray", dir="/tmp"),  # socket paths must stay short
    ]
    head = subprocess.Popen(
        start, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 120
        while not _answers(f"http://127.0.0.1:{dashboard}/api/version"):
            assert head.poll() is None and time.time() < deadline, "ray head did not start"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    """True once `url` answers at all (even with an auth error)."""
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


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
