"""A real Ray head on loopback for cluster tests, and helpers to submit to it and watch jobs.

The head runs `ray start --head --block` in its own process group, with ports and a temp dir of
its own, so that the test session's in-process Ray (or another engineer's) is left alone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
AGENT_PORTS = (
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "metrics-export-port",
    "runtime-env-agent-port",
    "node-manager-port",
    "object-manager-port",
    "ray-client-server-port",
)
FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")
RECIPE = REPO / "configs" / "web-en-heuristics.yaml"  # exact dedup + heuristics, no models


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RayHead:
    """A running head: its dashboard address, the environment to reach it with, its temp dir,
    the address drivers connect to (RAY_ADDRESS) and the pid of its `ray start` process."""

    address: str
    env: dict[str, str]
    temp_dir: str
    gcs: str
    pid: int

    def submit(self, *args: str, wait: bool = True, timeout: float = 600) -> str:
        """`tamis submit ARGS --address HEAD` from the repo; its stdout (asserting exit 0)."""
        command = [sys.executable, "-m", "pipeline.cli", "submit", *args, "--address"]
        command += [self.address, *([] if wait else ["--no-wait"])]
        done = subprocess.run(
            command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def job_status(self, job: str) -> str:
        """The job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED), asked in a separate
        process that sends the cluster's token the way `tamis submit` does."""
        ask = (
            "import sys; from pipeline.cluster.auth import use_cluster_token; use_cluster_token(); "
            "from ray.job_submission import JobSubmissionClient as Client; "
            "print(Client(sys.argv[1]).get_job_status(sys.argv[2]).value)"
        )
        done = subprocess.run(
            [sys.executable, "-c", ask, self.address, job],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    def wait_finished(self, job: str, timeout: float = 120) -> str:
        """Poll until the job has ended; returns its final status."""
        deadline = time.time() + timeout
        while (status := self.job_status(job)) not in FINISHED:
            assert time.time() < deadline, f"job {job} still {status}"
            time.sleep(1)
        return status


def job_recipe(path: Path, inp: Path, out: Path) -> Path:
    """The heuristic recipe reading `inp` (absolute: the job runs on this machine) into `out`."""
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["input"] |= {"path": str(inp)}
    recipe["output"] = {"path": str(out)}
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[RayHead]:
    """Start a head whose jobs run with this venv's python; kill it (and every process it
    started, job drivers included) afterwards. `ray stop` would also stop the test session's
    own in-process Ray, and SIGTERM makes the head drain for 30 s, so its group is killed."""
    bin_dir = str(Path(sys.executable).parent)
    port, dashboard = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # socket paths must stay short
    # Token auth with a token of its own, as `ray start` runs where ~/.ray/auth_token exists;
    # clients get the token's path but not RAY_AUTH_MODE, so tamis must find it itself. Nothing
    # leaks in from the test session (an in-process RayExecutor sets the Arrow allocator).
    token = Path(temp_dir) / "auth_token"
    token.write_text(secrets.token_hex(32))
    unset = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "ARROW_DEFAULT_MEMORY_POOL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {"PATH": f"{bin_dir}:{os.environ['PATH']}", "RAY_AUTH_TOKEN_PATH": str(token)}
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
        str(num_cpus),
        "--disable-usage-stats",
        # Ports of its own: the test session may run another (in-process) Ray beside it.
        *(arg for name in AGENT_PORTS for arg in (f"--{name}", str(free_port()))),
        "--temp-dir",
        temp_dir,
    ]
    head = subprocess.Popen(
        start,
        env={**env, "RAY_AUTH_MODE": "token"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while not _answers(f"http://127.0.0.1:{dashboard}/api/version"):
            assert head.poll() is None and time.time() < deadline, "ray head did not start"
            time.sleep(0.5)
        yield RayHead(f"http://127.0.0.1:{dashboard}", env, temp_dir, f"127.0.0.1:{port}", head.pid)
    finally:
        _stop(head, temp_dir)


def _stop(head: subprocess.Popen, temp_dir: str) -> None:
    """Kill the head's process group, then whatever it started in sessions of their own (job
    drivers, found by their working dir or command line under the head's temp dir)."""
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait(timeout=30)
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if temp_dir in cmdline or (proc.info["cwd"] or "").startswith(temp_dir):
            try:
                proc.kill()
            except psutil.Error:
                pass
    shutil.rmtree(temp_dir, ignore_errors=True)


def _answers(url: str) -> bool:
    """True once `url` answers at all (even with an auth error)."""
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
