"""The driver of a Ray job SIGKILLed mid-run, then the same command resubmitted: the second job
resumes from the shards the first committed and gives the local runner's output."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from pipeline.core.recipe import load_recipe
from pipeline.io.layout import RunLayout
from pipeline.run.manifest import reconcile
from pipeline.run.runner import run_recipe
from tests.pipeline.test_runners import outputs
from tests.ray_head import job_recipe

SPLIT = 3  # each sample shard becomes 3 input shards: 12 shards, 3,960 rows


def split_samples(samples: Path, folder: Path) -> Path:
    """The sample shards cut into SPLIT consecutive parts each (ids unchanged)."""
    folder.mkdir()
    for shard in sorted(samples.glob("*.parquet")):
        table = pq.read_table(shard)
        size = -(-table.num_rows // SPLIT)
        for part in range(SPLIT):
            pq.write_table(table.slice(part * size, size), folder / f"{shard.stem}-{part}.parquet")
    return folder


def find_driver(out: Path, timeout: float = 120) -> psutil.Process:
    """The job's driver: the `python -m jobs.curate` process writing to `out`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if cmdline[1:3] == ["-m", "jobs.curate"] and str(out) in cmdline:
                return proc
        time.sleep(0.2)
    raise AssertionError("the job's driver never started")


@pytest.mark.slow
def test_driver_killed_then_resubmitted_resumes(ray_head, samples, tmp_path):
    inp = split_samples(samples, tmp_path / "in")
    shards = len(list(inp.glob("*.parquet")))
    out = tmp_path / "cluster"
    recipe = job_recipe(tmp_path / "recipe.yaml", inp, out)
    job = re.search(r"submitted job (\S+) to", ray_head.submit(str(recipe), wait=False))[1]

    # SIGKILL the driver once the last stage has committed a shard, i.e. mid-way through it.
    driver = find_driver(out)
    committed = out / "_work" / "stage-1"
    deadline = time.time() + 180
    while not list(committed.glob("shard-*.done.json")):
        assert driver.is_running() and time.time() < deadline, "the driver ended on its own"
        time.sleep(0.02)
    driver.kill()
    assert ray_head.wait_finished(job) == "FAILED"
    assert not (out / "manifest.json").exists()
    before = {p.name: p.read_bytes() for p in committed.glob("shard-*.done.json")}
    assert 0 < len(before) < shards, f"{len(before)} of {shards} shards done: not mid-way"

    logs = ray_head.submit(str(recipe))  # the same command again
    assert "SUCCEEDED" in logs and "web-en-heuristics: 3960 rows in" in logs
    assert f"{len(before)} of {shards} shards already done, skipped" in logs
    assert "decided by an earlier attempt" in logs

    manifest = json.loads((out / "manifest.json").read_text())
    first, last = manifest["run"]["stages"]
    assert first["shards_run"] == 0 and first["shards_skipped"] == shards
    assert last["shards_skipped"] == len(before) and last["shards_run"] == shards - len(before)
    # Shards committed before the kill were kept as they were, not redone.
    assert {n: (committed / n).read_bytes() for n in before} == before
    reconcile(manifest, RunLayout.at(out))
    # Which node ran what: here every shard ran on this machine.
    host = socket.gethostname()
    steps = manifest["steps"]
    assert all(step["nodes"] == {host: shards} for step in steps)
    assert steps[0]["rows_by_node"] == {host: manifest["rows"]["in"]}  # stage 1 read every row
    assert all(step["rows_by_node"] == {host: steps[1]["rows_in"]} for step in steps[1:])
    assert steps[1]["step"] == "exact_dedup" and steps[1]["global"]["node"] == host

    run_recipe(load_recipe(recipe, output_path=str(tmp_path / "local")), "local", progress=False)
    local = json.loads((tmp_path / "local" / "manifest.json").read_text())
    assert manifest["rows"] == local["rows"]
    assert [s["reasons"] for s in manifest["steps"]] == [s["reasons"] for s in local["steps"]]
    for got, want in zip(outputs(out), outputs(tmp_path / "local")):
        assert got.equals(want)  # same ids, same reasons, same columns
