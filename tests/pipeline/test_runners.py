"""Runs end to end: manifest reconciliation, local = Ray, resume after a real interruption."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import ManifestError
from pipeline.core.recipe import load_recipe, parse_recipe
from pipeline.io.layout import RunLayout
from pipeline.io.storage import Location, read_table
from pipeline.run.manifest import reconcile
from pipeline.run.runner import run_recipe
from tests.conftest import REPO

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"


def outputs(out: Path | str) -> tuple[pa.Table, pa.Table]:
    """All kept and all rejected rows of a run (a folder or URI), sorted by id."""
    root = Location.of(out)
    kept = pa.concat_tables([read_table(p) for p in (root / "kept").glob("*.parquet")])
    rejected = pa.concat_tables([read_table(p) for p in (root / "rejected").glob("*.parquet")])
    return kept.sort_by("id"), rejected.sort_by("id")


def run(inp: Path, out: Path, runner: str = "local", **kwargs):
    return run_recipe(
        load_recipe(RECIPE, str(inp), str(out)), runner=runner, progress=False, **kwargs
    )


def test_local_run_accounts_for_every_row(small_samples, tmp_path):
    manifest = run(small_samples, tmp_path / "out")
    kept, rejected = outputs(tmp_path / "out")
    inputs = pa.concat_tables([pq.read_table(p) for p in sorted(small_samples.glob("*.parquet"))])
    assert manifest["rows"] == {
        "in": inputs.num_rows,
        "kept": kept.num_rows,
        "rejected": rejected.num_rows,
    }
    assert sorted(kept["id"].to_pylist() + rejected["id"].to_pylist()) == sorted(
        inputs["id"].to_pylist()
    )
    assert rejected["reject_reason"].null_count == 0 and kept.column_names[:4] == [
        "id",
        "text",
        "url",
        "source",
    ]
    assert "_shard" not in kept.column_names and "reject_reason" not in kept.column_names
    private = {"_shard", "_row", "_bucket", "_exact_key"}
    assert not private & (set(kept.column_names) | set(rejected.column_names))
    # The step table chains: each step sees what the previous one kept.
    steps = manifest["steps"]
    assert [s["step"] for s in steps] == [
        "input",
        "exact_dedup",
        "gopher_repetition",
        "gopher_quality",
        "c4",
        "fineweb_quality",
    ]
    for before, after in zip(steps, steps[1:]):
        assert after["rows_in"] == before["rows_in"] - before["rejected"]
    assert steps[-1]["kept"] == kept.num_rows
    assert (
        steps[0]["reasons"] == {"invalid:empty_text": 3, "invalid:null_text": 2}
        or steps[0]["rejected"] <= 5
    )
    # Duplicates point at an input id; the manifest records the global step's figures.
    dups = rejected.filter(pa.compute.equal(rejected["rejected_by"], "exact_dedup"))
    assert dups.num_rows == steps[1]["rejected"] == steps[1]["global"]["duplicates"] > 0
    assert set(dups["duplicate_of"].to_pylist()) <= set(inputs["id"].to_pylist())
    # Which node ran what: shards per node per step, rows each node wrote, the decision's node.
    host = socket.gethostname()
    assert all(s["nodes"] == {host: 4} for s in steps)
    assert steps[0]["rows_by_node"] == {host: inputs.num_rows}
    assert steps[-1]["rows_by_node"] == {host: steps[1]["rows_in"]}
    assert steps[1]["global"]["node"] == manifest["run"]["driver"]["node"] == host
    text = (tmp_path / "out" / "manifest.json").read_text()
    assert json.loads(text) == json.loads(json.dumps(manifest, default=str))
    # one line per shard, so the file and the memory to write it grow by a line a shard
    assert [line.strip().rstrip(",") for line in text.splitlines() if '"index":' in line] == [
        json.dumps(s) for s in manifest["shards"]
    ]


def test_rerun_skips_finished_work_and_refuses_other_recipes(small_samples, tmp_path):
    run(small_samples, tmp_path / "out")
    again = run(small_samples, tmp_path / "out")
    assert all(stage["shards_run"] == 0 for stage in again["run"]["stages"])
    recipe = load_recipe(RECIPE, str(small_samples), str(tmp_path / "out")).model_copy(
        update={"name": "other"}
    )
    with pytest.raises(ManifestError, match="holds a run of another recipe; pass --overwrite"):
        run_recipe(recipe, runner="local", progress=False)
    assert (
        run_recipe(recipe, runner="local", progress=False, overwrite=True)["rows"] == again["rows"]
    )
    run(small_samples, tmp_path / "limited", limit=50)
    with pytest.raises(ManifestError, match=r"--limit 50 \(this one has no --limit\)"):
        run(small_samples, tmp_path / "limited")
    first, *others = sorted(small_samples.glob("*.parquet"))
    size = first.stat().st_size
    pq.write_table(pq.read_table(first).slice(0, 10), first)  # an input file changed, one gone
    others[0].unlink()
    with pytest.raises(
        ManifestError,
        match=rf"other input \(.*{first.name} went from {size:,} to {first.stat().st_size:,} "
        rf"bytes; .*{others[0].name} is gone\); pass --overwrite",
    ):
        run_recipe(recipe, runner="local", progress=False)


def test_limit_reads_at_most_n_rows(small_samples, tmp_path):
    manifest = run(small_samples, tmp_path / "out", limit=450)
    assert manifest["rows"]["in"] == 450
    assert [s["rows_in"] for s in manifest["shards"]] == [300, 150]


@pytest.mark.slow
def test_ray_runner_matches_local(small_samples, tmp_path, ray_session):
    run(small_samples, tmp_path / "local", "local")
    manifest = run(small_samples, tmp_path / "ray", "ray")
    local_kept, local_rejected = outputs(tmp_path / "local")
    ray_kept, ray_rejected = outputs(tmp_path / "ray")
    assert ray_kept.equals(local_kept)
    assert ray_rejected.equals(local_rejected)
    assert manifest["run"]["runner"] == "ray" and manifest["rows"]["in"] == 1200


def _replicate(samples: Path, folder: Path, copies: int) -> Path:
    folder.mkdir()
    for c in range(copies):
        for shard in sorted(samples.glob("*.parquet")):
            table = pq.read_table(shard)
            ids = pa.compute.binary_join_element_wise(table["id"], pa.scalar(f"c{c}"), "-")
            pq.write_table(table.set_column(0, "id", ids), folder / f"c{c}-{shard.name}")
    return folder


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_output(samples, tmp_path):
    inp = _replicate(samples, tmp_path / "in", 2)
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "run",
        str(RECIPE),
        "--input",
        str(inp),
        "--runner",
        "local",
        "--quiet",
    ]
    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [*command, "--output", str(interrupted)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Kill the run once the first shard of the last stage is committed, i.e. mid-way through.
    deadline = time.time() + 120
    while not list((interrupted / "_work" / "stage-1").glob("shard-*.done.json")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (interrupted / "manifest.json").exists()
    finished_before = len(list((interrupted / "_work" / "stage-1").glob("shard-*.done.json")))
    assert finished_before < 8

    resumed = subprocess.run(
        [*command, "--output", str(interrupted)], cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    subprocess.run(
        [*command, "--output", str(tmp_path / "clean")], cwd=REPO, check=True, capture_output=True
    )

    manifest = json.loads((interrupted / "manifest.json").read_text())
    assert manifest["run"]["stages"][0]["shards_run"] == 0  # stage 1 was complete, not redone
    assert manifest["run"]["stages"][1]["shards_skipped"] >= finished_before
    for got, want in zip(outputs(interrupted), outputs(tmp_path / "clean")):
        assert got.equals(want)
    assert (
        manifest["rows"] == json.loads((tmp_path / "clean" / "manifest.json").read_text())["rows"]
    )


def test_reconcile_catches_a_lost_row(small_samples, tmp_path):
    manifest = run(small_samples, tmp_path / "out")
    layout = RunLayout.at(tmp_path / "out")
    reconcile(manifest, layout)  # a real run reconciles
    kept_file = tmp_path / "out" / "kept" / "part-00000.parquet"
    assert str(layout.kept(0)) == str(kept_file)
    pq.write_table(pq.read_table(kept_file).slice(1), kept_file)  # lose one kept row
    with pytest.raises(ManifestError, match="output files hold"):
        reconcile(manifest, layout)
    broken = {**manifest, "rows": {**manifest["rows"], "kept": manifest["rows"]["kept"] + 1}}
    with pytest.raises(ManifestError, match="rows do not reconcile"):
        reconcile(broken, layout)


def test_limit_spans_jsonl_shards(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, n in (("a", 30), ("b", 30), ("c", 30)):
        lines = [json.dumps({"id": f"{name}{i}", "text": f"doc {name} {i}"}) for i in range(n)]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    recipe = parse_recipe(
        {
            "name": "j",
            "input": {"path": str(folder)},
            "output": {"path": str(tmp_path / "o")},
            "steps": [{"exact_dedup": {}}],
        }
    )
    manifest = run_recipe(recipe, "local", limit=70, progress=False)
    assert [s["rows_in"] for s in manifest["shards"]] == [30, 30, 10]
