"""Run a recipe end to end on an executor, resuming finished shards and decisions.

`run_recipe` plans the run, checks what it needs (packages, GPUs), claims the output folder,
runs each stage (a global step's decision first, then the stage's row work on every pending
shard) and finishes with the manifest.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.core.errors import TamisError
from pipeline.core.executor import Executor
from pipeline.core.recipe import Recipe
from pipeline.core.step import Step
from pipeline.global_steps.survivors import surviving_keys
from pipeline.io.storage import Location
from pipeline.run.claim import claim_output
from pipeline.run.deferred_columns import deferred_columns
from pipeline.run.executors import make_executor
from pipeline.run.ids import check_unique_ids
from pipeline.run.lock import OutputLock, earlier_attempts
from pipeline.run.manifest import build_manifest, reconcile, write_manifest
from pipeline.run.markers import committed_sources, in_bulk
from pipeline.run.plan import RunPlan, parquet_row_count, plan_run
from pipeline.run.progress import StageProgress, say
from pipeline.run.stages import Stage, StageContext
from pipeline.run.tokens import token_counter

log = logging.getLogger(__name__)


def run_recipe(
    recipe: Recipe,
    runner: str = "ray",
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    reuse_scores: str | Path | Location | None = None,
    cpu_fallback: bool = False,
) -> dict[str, Any]:
    """Run `recipe` on the runner named `runner` (see pipeline/run/executors.py); returns the
    manifest written to OUT/manifest.json (OUT: a folder or a filesystem URI). With
    `reuse_scores` (an earlier run's output folder or URI), scorers take scores from there
    instead of rescoring. Steps that ask for GPUs fail fast where there are none, unless
    `cpu_fallback`."""
    started = time.time()
    plan = plan_run(recipe, limit, reuse_scores)
    if recipe.output.tokenizer:  # a tokenizer that cannot load stops the run before it starts
        token_counter(recipe.output.tokenizer)
    global_stats: dict[str, dict[str, Any]] = {}
    stage_records = []
    with make_executor(runner, cpu_fallback=cpu_fallback) as executor:
        check_gpus(plan.steps, executor)
        with OutputLock(plan.layout, started) as lock:
            claim_output(plan, overwrite)
            if overwrite:  # attempts at the run it replaces are not this run's
                lock.forget_other_attempts()
            lock.record_attempt()
            for number, step in enumerate(plan.steps):
                step.prepare(plan.layout.work / "prepared" / f"{number:02d}-{step.name}")
            for stage in plan.stages:
                t0 = time.time()
                for number, step in enumerate(stage.applies):
                    global_stats[step.name] = decide(executor, plan, stage, number, progress)
                pending = run_stage(executor, plan, stage, progress, lock.run)
                if stage.index == 0:
                    check_unique_ids(executor, plan)
                stage_records.append(
                    {
                        "stage": stage.index,
                        "steps": stage.describe(),
                        "shards_run": len(pending),
                        "shards_skipped": len(plan.shards) - len(pending),
                        "seconds": round(time.time() - t0, 3),
                    }
                )
            run = run_info(plan, runner, started, stage_records)
            earlier = earlier_attempts(plan.layout, lock.run)
            run |= {
                "attempts": len(earlier) + 1,
                "seconds_all_attempts": round(run["seconds"] + sum(earlier), 3),
            }
            return finish(plan, run, global_stats)


def check_gpus(steps: list[Step], executor: Executor) -> None:
    """Fail before reading data if a step asks for GPUs the machine or cluster lacks."""
    wanting = [s for s in steps if s.worker_resources().gpus > 0]
    if not wanting or executor.gpus() > 0:
        return
    names = ", ".join(f"{s.name} ({s.worker_resources().gpus:g} GPU)" for s in wanting)
    if not executor.cpu_fallback:
        raise TamisError(
            f"{names} asks for GPUs but the {executor.name} runner sees none; "
            "pass --cpu-fallback to run on CPU instead"
        )
    log.warning("no GPU found: %s will run on CPU (--cpu-fallback)", names)


def stage_context(plan: RunPlan, stage: Stage, attempt: str | None = None) -> StageContext:
    """What every task of a stage is given: the same whatever the number of shards (each
    shard's own settings travel with it, InputShard.limit and .reuse_from)."""
    return StageContext(
        plan.layout,
        stage,
        len(plan.stages),
        plan.read,
        plan.reuse.for_workers() if plan.reuse else None,
        plan.private_columns,
        plan.recipe.output.format,
        plan.step_columns(),
        plan.recipe.output.tokenizer,
        attempt,
        deferred_columns(
            plan.stages,
            stage.index,
            plan.read,
            {shard.format for shard in plan.shards},
            plan.input_columns,
        ),
    )


def run_stage(
    executor: Executor, plan: RunPlan, stage: Stage, progress: bool, attempt: str | None = None
) -> list[Any]:
    """Run one stage's row work on every shard it has not finished; returns the shards run.
    `attempt` (the id of the run's lock) names the pieces this attempt writes and fences the
    commits of older attempts."""
    layout, shards = plan.layout, plan.shards
    ctx = stage_context(plan, stage, attempt)
    listed = layout.stage_entries(stage.index)  # one listing, not a look-up per shard
    pending = [s for s in shards if s.index not in listed.done]
    for shard in pending:  # leftovers of an interrupted attempt
        if shard.index in listed.folders:
            layout.shard_dir(stage.index, shard.index).remove()
    steps = stage.describe()
    steps = steps if len(steps) <= 48 else f"{steps[:45]}..."
    label = f"stage {stage.index + 1}/{len(plan.stages)} ({steps})"
    if len(pending) < len(shards):
        say(
            progress,
            "%s: %d of %d shards already done, skipped",
            label,
            len(shards) - len(pending),
            len(shards),
        )
    if pending:
        # Counting the rows entering reads every input footer: only for a bar someone sees.
        total = rows_entering(plan, stage, pending) if progress else None
        with StageProgress(label, total, enabled=progress) as bar:
            executor.run_stage(ctx, pending, bar.update)
    return pending


def decide(
    executor: Executor, plan: RunPlan, stage: Stage, number: int, progress: bool
) -> dict[str, Any]:
    """Run the decision phase of a stage's `number`-th global step once; its marker makes
    reruns skip it. A step after the first decides on the keys of the rows the earlier ones
    keep. `node` is the driver's host, which ran the phase (its passes run wherever the
    executor puts them)."""
    step, layout = stage.applies[number], plan.layout
    done = layout.decisions_done(stage.index, number)
    if done.exists():
        stats = done.read_json()
        say(progress, "%s, decided by an earlier attempt", decision_summary(step.name, stats))
        return stats
    t0 = time.time()
    sources, rows = committed_sources(layout, stage.index - 1, plan.shards)
    keys = layout.survivor_keys(stage.index, number) if number else None
    if keys is not None:
        keys.remove()  # a copy an interrupted attempt left
        earlier = [(g, layout.decisions(stage.index, j)) for j, g in enumerate(stage.applies)]
        say(progress, "keeping the keys of %s's survivors...", stage.applies[number - 1].name)
        sources, rows = surviving_keys(executor, step, earlier[:number], sources, rows, keys)
    dest = layout.decisions(stage.index, number)
    dest.remove()
    say(progress, "deciding %s over %s rows...", step.name, f"{rows:,}")
    dest.mkdir()
    stats = step.decide(executor, sources, dest, rows)
    stats |= {"rows": rows, "seconds": round(time.time() - t0, 3), "node": socket.gethostname()}
    if keys is not None:  # decided: the copy is not needed again
        stats["decided_on"] = (
            "keys of the rows " + ", ".join(g.name for g in stage.applies[:number]) + " kept"
        )
        keys.remove()
    done.write_json(stats)
    say(progress, "%s in %.1f s", decision_summary(step.name, stats), stats["seconds"])
    return stats


def decision_summary(name: str, stats: dict[str, Any]) -> str:
    """What a global decision found, in a few words."""
    if "duplicates" in stats:
        return f"{name}: {stats['duplicates']:,} duplicates of {stats['rows']:,} rows"
    if "cutoff" in stats:
        if stats["cutoff"] is None:
            return f"{name}: no {stats['column']} cut-off, nothing kept"
        side = ">=" if stats["side"] == "top" else "<="
        return f"{name}: keeps {stats['column']} {side} {stats['cutoff']:.6g}"
    return f"{name}: decided over {stats['rows']:,} rows"


def rows_entering(plan: RunPlan, stage: Stage, pending: list[Any]) -> int | None:
    """Rows the pending shards bring into a stage, for the progress bar; None if unknown.
    Read in bulk: input footers for the first stage, the previous commits' counts after."""
    if stage.index > 0:
        return committed_sources(plan.layout, stage.index - 1, pending)[1]
    total = 0
    for shard, count in in_bulk(parquet_row_count, pending):
        if count is None:
            return None
        total += count if shard.limit is None else min(count, shard.limit)
    return total


def run_info(
    plan: RunPlan, runner: str, started: float, stages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The manifest's `run` section: how, where and how long."""
    reuse = plan.reuse
    return {
        "runner": runner,
        "limit": plan.limit,
        "reused_scores": {"from": str(reuse.old), "columns": list(reuse.columns)}
        if reuse
        else None,
        "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "seconds": round(time.time() - started, 3),
        "driver": {"node": socket.gethostname(), "pid": os.getpid()},
        "stages": stages,
    }


def finish(
    plan: RunPlan, run: dict[str, Any], global_stats: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Build the manifest from the shards' markers, check it reconciles, write it."""
    manifest = build_manifest(plan, run, global_stats)
    reconcile(manifest, plan.layout)
    write_manifest(manifest, plan.layout.manifest)
    return manifest
