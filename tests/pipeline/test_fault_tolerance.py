"""Killing a Ray worker in the middle of a run loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pipeline.core.recipe import load_recipe
from pipeline.run.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import _replicate, outputs

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"


def kill_a_worker_once_pieces_exist(work: Path, killed: list[int], timeout: float = 120) -> None:
    """SIGKILL one Ray Data worker process as soon as the last stage has written a piece."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = subprocess.run(
            ["pgrep", "-f", "ray::MapBatches"], capture_output=True, text=True
        ).stdout.split()
        if pids and list(work.glob("stage-1/shard-*/kept-*.parquet")):
            os.kill(int(pids[0]), signal.SIGKILL)
            killed.append(int(pids[0]))
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_worker_killed_mid_run(samples, tmp_path, ray_session):
    inp = _replicate(samples, tmp_path / "in", 3)
    killed: list[int] = []
    killer = threading.Thread(
        target=kill_a_worker_once_pieces_exist, args=(tmp_path / "ray" / "_work", killed)
    )
    killer.start()
    manifest = run_recipe(
        load_recipe(RECIPE, str(inp), str(tmp_path / "ray")), "ray", progress=False
    )
    killer.join()
    assert killed, "no worker was killed: the run finished before any piece was written"
    run_recipe(load_recipe(RECIPE, str(inp), str(tmp_path / "local")), "local", progress=False)
    for got, want in zip(outputs(tmp_path / "ray"), outputs(tmp_path / "local")):
        assert got.equals(want)
    assert (
        manifest["rows"]["in"] == manifest["rows"]["kept"] + manifest["rows"]["rejected"] == 11880
    )
