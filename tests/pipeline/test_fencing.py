"""Commits vouch for exactly their pieces: a stray piece is ignored and reported, and a task of
an older attempt at the run cannot commit."""

from __future__ import annotations

import logging
import shutil

import pyarrow.parquet as pq
import pytest

from pipeline.core.recipe import parse_recipe
from pipeline.io.layout import RunLayout, piece_name
from pipeline.run.commit import StaleAttempt, commit_shard, write_pieces
from pipeline.run.lock import OutputLock
from pipeline.run.plan import plan_run
from pipeline.run.runner import run_recipe, stage_context
from pipeline.run.stages import process_chunk, stage_chunks
from tests.pipeline.test_runners import outputs


def recipe(inp, out):
    return parse_recipe(
        {
            "name": "fenced",
            "input": {"path": str(inp)},
            "output": {"path": str(out)},
            "steps": [{"exact_dedup": {}}, {"gopher_quality": {}}],
        }
    )


def counts(manifest: dict) -> list[tuple]:
    """Rows in and rejected (with reasons) per step."""
    return [(s["step"], s["rows_in"], s["rejected"], s["reasons"]) for s in manifest["steps"]]


def test_a_stray_piece_in_a_committed_shard_is_ignored_and_reported(
    small_samples, tmp_path, caplog
):
    out = tmp_path / "out"
    first = run_recipe(recipe(small_samples, out), "local", progress=False)
    want = outputs(out)
    assert first["run"]["stray_pieces"] == 0

    # The run as if it stopped after its first stage: the second stage, the decision it
    # applies and the final files are gone. A task of an earlier attempt, still running,
    # then wrote one more piece into a shard the first stage had committed: its rows
    # repeat that shard's (they would show up as duplicates if anything read them).
    layout = RunLayout.at(str(out))
    shutil.rmtree(layout.stage_dir(1).path)
    for name in ("kept", "rejected", "manifest.json"):
        (layout.root / name).remove()
    folder = layout.shard_dir(0, 0)
    committed = layout.committed_pieces(0, 0)[0][0]
    stray = folder / piece_name("kept", 0, "0123456789ab")
    shutil.copy(committed.path, stray.path)
    assert pq.read_metadata(stray.path).num_rows > 0

    with caplog.at_level(logging.WARNING, logger="pipeline.run.manifest"):
        again = run_recipe(recipe(small_samples, out), "local", progress=False)
    stages = again["run"]["stages"]
    assert stages[0]["shards_run"] == 0 and stages[1]["shards_run"] == 4
    for got, expected in zip(outputs(out), want, strict=True):
        assert got.equals(expected)
    assert again["rows"] == first["rows"] and counts(again) == counts(first)
    assert again["run"]["stray_pieces"] == 1
    assert stray.exists()  # left for whoever looks; never read
    assert "1 stray piece(s)" in caplog.text and stray.name in caplog.text


def test_a_task_of_an_older_attempt_cannot_commit(small_samples, tmp_path):
    plan = plan_run(recipe(small_samples, tmp_path / "out"))
    stage, shard = plan.stages[0], plan.shards[0]
    with OutputLock(plan.layout) as lock:  # the attempt now holding the output
        new = stage_context(plan, stage, lock.run)
        old = stage_context(plan, stage, "0123456789ab")
        # Both attempts read and wrote the shard; only the new one's pieces count.
        for ctx in (old, new):
            for chunk in stage_chunks(ctx, shard):
                write_pieces(process_chunk(chunk, stage), plan.layout, stage.index, ctx.attempt)
        with pytest.raises(StaleAttempt, match="0123456789ab"):
            commit_shard(old, shard)
        assert not plan.layout.done(stage.index, shard.index).exists()
        stats = commit_shard(new, shard)
    assert stats["attempt"] == lock.run
    assert stats["kept"] + sum(stats["rejected"].values()) == stats["rows_in"] > 0
    listed = stats["pieces"]["kept"] + stats["pieces"]["rejected"]
    assert listed and all(name.endswith(f"-{lock.run}.parquet") for name in listed)
    on_disk = [p.name for p in plan.layout.kept_pieces(stage.index, shard.index)]
    assert len(on_disk) == 2 * len(stats["pieces"]["kept"])  # the old attempt's, ignored
    # Once the lock is released, no attempt can commit.
    with pytest.raises(StaleAttempt):
        commit_shard(new, shard)
