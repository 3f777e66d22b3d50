"""What the driver sends each task, and how it finds finished shards, does not grow with the
number of shards."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.recipe import parse_recipe
from pipeline.io.readers import InputShard
from pipeline.run.plan import plan_run
from pipeline.run.runner import run_recipe, stage_context


def tiny_shards(folder, count: int):
    folder.mkdir(parents=True)
    for i in range(count):
        texts = [f"Document {i}-{r} has a few words in it." for r in range(3)]
        pq.write_table(
            pa.table({"id": [f"{i}-{r}" for r in range(3)], "text": texts}),
            folder / f"part-{i:04d}.parquet",
        )
    return folder


def plan_for(tmp_path, count: int, limit: int | None):
    inp = tiny_shards(tmp_path / f"in{count:04d}", count)
    spec = {
        "name": "tiny",
        "input": {"path": str(inp)},
        "output": {"path": str(tmp_path / f"out{count:04d}")},
        "steps": [{"exact_dedup": {}}, {"c4": {"remove_lines": False}}],
    }
    return plan_run(parse_recipe(spec), limit=limit)


def test_what_each_task_is_given_does_not_grow_with_shards(tmp_path):
    for limit in (None, 10_000):
        small = plan_for(tmp_path / f"{limit}", 4, limit)
        large = plan_for(tmp_path / f"{limit}", 400, limit)
        for stage in (0, 1):
            sizes = [
                len(pickle.dumps(stage_context(p, p.stages[stage], "0123456789ab")))
                for p in (small, large)
            ]
            assert sizes[0] == sizes[1], f"stage {stage}, --limit {limit}: {sizes}"
        # Each shard carries its own settings, and a read task rebuilds it from its row alone.
        shard = large.shards[-1]
        assert InputShard(**asdict(shard)) == shard
        assert shard.limit == (None if limit is None else limit - 399 * 3)


def test_finished_shards_are_found_by_one_listing(tmp_path):
    inp = tiny_shards(tmp_path / "in", 6)
    spec = {
        "name": "tiny",
        "input": {"path": str(inp)},
        "output": {"path": str(tmp_path / "out")},
        "steps": [{"c4": {"remove_lines": False}}],
    }
    run_recipe(parse_recipe(spec), "local", progress=False)
    plan = plan_run(parse_recipe(spec))
    layout = plan.layout
    layout.done(0, 2).remove()
    listed = layout.stage_entries(0)
    assert listed.done == {0, 1, 3, 4, 5}
    assert listed.folders == {0, 1, 2, 3, 4, 5}
    pieces = {shard: layout.shard_pieces(0, shard) for shard in range(6)}
    assert all(names for names in pieces.values()) and all(
        n.startswith(("kept-", "rejected-")) for names in pieces.values() for n in names
    )
    again = run_recipe(parse_recipe(spec), "local", progress=False)
    assert again["run"]["stages"][0]["shards_run"] == 1  # shard 2 alone


def test_ray_streams_a_stage_in_windows_of_shards(tmp_path, ray_session, monkeypatch):
    from pipeline.run import ray_executor

    inp = tiny_shards(tmp_path / "in", 7)
    outputs = {}
    for runner in ("local", "ray"):
        spec = {
            "name": "tiny",
            "input": {"path": str(inp)},
            "output": {"path": str(tmp_path / runner)},
            "steps": [{"exact_dedup": {}}, {"c4": {"remove_lines": False}}],
        }
        outputs[runner] = run_recipe(parse_recipe(spec), runner, progress=False)
    # The same again, 3 shards per Ray Data execution: three executions a stage.
    monkeypatch.setattr(ray_executor, "SHARDS_PER_PIPELINE", 3)
    monkeypatch.setattr(ray_executor, "SHARDS_PER_CPU", 0)
    spec["output"] = {"path": str(tmp_path / "windows")}
    windows = run_recipe(parse_recipe(spec), "ray", progress=False)
    for name in ("local", "ray"):
        assert windows["rows"] == outputs[name]["rows"]
        assert [s["kept"] for s in windows["shards"]] == [
            s["kept"] for s in outputs[name]["shards"]
        ]
    for shard in range(7):
        for kind in ("kept", "rejected"):
            name = f"{kind}/part-{shard:05d}.parquet"
            assert pq.read_table(tmp_path / "windows" / name).equals(
                pq.read_table(tmp_path / "local" / name)
            )


def _anon_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(x.split()[1]) for x in status if x.startswith("RssAnon")) / 1024


def test_the_driver_returns_freed_heap_pages_between_executions():
    """On glibc, the call after each Ray Data execution gives back the pages of freed blocks
    that sit between live ones (which glibc alone keeps)."""
    import platform

    from pipeline.run.memory import _malloc_trim, release_freed_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    assert _malloc_trim() is not None
    blocks = [bytearray(4000) for _ in range(20_000)]  # ~80 MB from malloc's heap
    kept = blocks[::10]  # one in ten stays alive, pinning the heap around the holes
    del blocks
    before = _anon_mb()
    release_freed_memory()
    assert before - _anon_mb() > 30, "freed pages stayed resident"
    assert len(kept) == 2_000


def test_the_manifest_is_written_a_few_shard_lines_at_a_time(tmp_path):
    from pipeline.io.storage import Location
    from pipeline.run.manifest import manifest_chunks, write_manifest

    manifest = {
        "rows": {"in": 9},
        "shards": [{"index": i, "input": f"in/part-{i}.parquet"} for i in range(5)],
        "steps": [],
    }
    pieces = list(manifest_chunks(manifest, lines_per_chunk=2))
    assert len(pieces) == 5  # the head, three pieces of at most two shard lines, the tail
    assert max(p.count(b'"index"') for p in pieces) == 2
    text = b"".join(pieces).decode()
    assert json.loads(text) == manifest
    shard_lines = [line.strip().rstrip(",") for line in text.splitlines() if '"index"' in line]
    assert shard_lines == [json.dumps(s) for s in manifest["shards"]]
    for empty in ({**manifest, "shards": []}, {"rows": {"in": 0}}):
        assert json.loads(b"".join(manifest_chunks(empty))) == empty
    write_manifest(manifest, Location.of(tmp_path / "manifest.json"))
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
