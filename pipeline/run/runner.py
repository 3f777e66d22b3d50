"""Run a recipe end to end with the local or the Ray executor, resuming finished shards."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.columns import INTERNAL
from pipeline.core.errors import ManifestError, SchemaError, TamisError
from pipeline.core.recipe import Recipe, build_steps
from pipeline.global_steps.base import BUCKET
from pipeline.io.layout import RunLayout
from pipeline.io.readers import (
    InputShard,
    ReadOptions,
    discover,
    input_size,
    open_input,
    read_shard,
)
from pipeline.io.storage import Location, parquet_rows
from pipeline.run.manifest import build_manifest, reconcile
from pipeline.run.progress import StageProgress, say
from pipeline.run.reuse import ScoreReuse, plan_reuse
from pipeline.run.stages import Stage, StageContext, build_stages

log = logging.getLogger(__name__)
Runner = Literal["local", "ray"]


def run_recipe(
    recipe: Recipe,
    runner: Runner = "ray",
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    reuse_scores: str | Path | Location | None = None,
    cpu_fallback: bool = False,
) -> dict[str, Any]:
    """Run `recipe`; returns the manifest written to OUT/manifest.json (OUT: a folder or a
    filesystem URI). With `reuse_scores` (an earlier run's output folder or URI), scorers
    take scores from there instead of rescoring. Steps that ask for GPUs fail fast where
    there are none, unless `cpu_fallback`."""
    started = time.time()
    steps = build_steps(recipe)
    stages = build_stages(steps)
    shards = discover(recipe.input.path, recipe.input.format)
    opts = ReadOptions(
        recipe.input.text_column,
        recipe.input.id_column,
        recipe.input.max_text_chars,
        recipe.input.chunk_rows,
    )
    limits = _row_limits(shards, limit, opts)
    if limit is not None:
        shards = [s for s in shards if limits[s.index] > 0]
    layout = RunLayout.at(recipe.output.path)
    reuse = plan_reuse(Location.of(reuse_scores), steps, shards) if reuse_scores else None
    if reuse is not None and reuse.old.same_place(layout.root):
        raise ManifestError("--reuse-scores must name another run's output folder than --output")
    _claim_output(layout, recipe, shards, limit, overwrite, reuse)
    executor = _executor(runner)
    _check_gpus(steps, executor, cpu_fallback)
    keys = {c for stage in stages if stage.keys_for for c in stage.keys_for.key_columns}
    private = (*INTERNAL, BUCKET, *sorted(keys))
    global_stats: dict[str, dict[str, Any]] = {}
    stage_seconds = []
    try:
        for stage in stages:
            t0 = time.time()
            if stage.applies is not None:
                global_stats[stage.applies.name] = _decide(
                    executor, layout, stage, shards, progress
                )
            ctx = StageContext(layout, stage, len(stages), opts, limits, reuse, private)
            pending = [s for s in shards if not layout.done(stage.index, s.index).exists()]
            for shard in pending:  # leftovers of an interrupted attempt
                layout.shard_dir(stage.index, shard.index).remove()
            steps = stage.describe()
            steps = steps if len(steps) <= 48 else f"{steps[:45]}..."
            label = f"stage {stage.index + 1}/{len(stages)} ({steps})"
            if len(pending) < len(shards):
                say(
                    progress,
                    "%s: %d of %d shards already done, skipped",
                    label,
                    len(shards) - len(pending),
                    len(shards),
                )
            if pending:
                total = _rows_entering(layout, stage, pending, limits)
                with StageProgress(label, total, enabled=progress) as bar:
                    executor.run_stage(ctx, pending, bar.update)
            stage_seconds.append(
                {
                    "stage": stage.index,
                    "steps": stage.describe(),
                    "shards_run": len(pending),
                    "shards_skipped": len(shards) - len(pending),
                    "seconds": round(time.time() - t0, 3),
                }
            )
    finally:
        executor.close()
    run = {
        "runner": runner,
        "limit": limit,
        "reused_scores": {"from": str(reuse.old), "columns": list(reuse.columns)}
        if reuse
        else None,
        "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "seconds": round(time.time() - started, 3),
        "driver": {"node": socket.gethostname(), "pid": os.getpid()},
        "stages": stage_seconds,
    }
    manifest = build_manifest(recipe, stages, shards, layout, run, global_stats)
    reconcile(manifest, layout)
    layout.manifest.write_json(manifest)
    return manifest


def _executor(runner: Runner) -> Any:
    """The executor for a runner name; Ray is imported only when asked for."""
    if runner == "local":
        from pipeline.run.local_executor import LocalExecutor

        return LocalExecutor()
    if runner == "ray":
        from pipeline.run.ray_executor import RayExecutor

        return RayExecutor()
    raise ValueError(f"unknown runner {runner!r}; expected 'local' or 'ray'")


def _check_gpus(steps: list[Any], executor: Any, cpu_fallback: bool) -> None:
    """Fail before reading data if a step asks for GPUs the machine or cluster lacks."""
    wanting = [s for s in steps if getattr(getattr(s, "resources", None), "gpus", 0) > 0]
    if not wanting:
        return
    available = executor.gpus()
    if available > 0:
        return
    names = ", ".join(f"{s.name} ({s.resources.gpus:g} GPU)" for s in wanting)
    if not cpu_fallback:
        raise TamisError(
            f"{names} asks for GPUs but the {executor.name} runner sees none; "
            "pass --cpu-fallback to run on CPU instead"
        )
    log.warning("no GPU found: %s will run on CPU (--cpu-fallback)", names)
    executor.gpu_fallback = True


def _decide(
    executor: Any, layout: RunLayout, stage: Stage, shards: list[InputShard], progress: bool
) -> dict[str, Any]:
    """Run a global step's decision phase once; its marker makes reruns skip it. `node` is
    the driver's host, which ran the phase (its passes run wherever the executor puts them)."""
    step = stage.applies
    assert step is not None
    done = layout.decisions_done(stage.index)
    if done.exists():
        stats = done.read_json()
        say(progress, "%s, decided by an earlier attempt", _decision_summary(step.name, stats))
        return stats
    sources = [p for s in shards for p in layout.kept_pieces(stage.index - 1, s.index)]
    rows = parquet_rows(sources)
    dest = layout.decisions(stage.index)
    dest.remove()
    say(progress, "deciding %s over %s rows...", step.name, f"{rows:,}")
    t0 = time.time()
    dest.mkdir()
    stats = step.decide(executor, sources, dest, rows)
    stats |= {"rows": rows, "seconds": round(time.time() - t0, 3), "node": socket.gethostname()}
    done.write_json(stats)
    say(progress, "%s in %.1f s", _decision_summary(step.name, stats), stats["seconds"])
    return stats


def _decision_summary(name: str, stats: dict[str, Any]) -> str:
    """What a global decision found, in a few words."""
    if "duplicates" in stats:
        return f"{name}: {stats['duplicates']:,} duplicates of {stats['rows']:,} rows"
    if "cutoff" in stats:
        if stats["cutoff"] is None:
            return f"{name}: no {stats['column']} cut-off, nothing kept"
        side = ">=" if stats["side"] == "top" else "<="
        return f"{name}: keeps {stats['column']} {side} {stats['cutoff']:.6g}"
    return f"{name}: decided over {stats['rows']:,} rows"


def _row_limits(
    shards: list[InputShard], limit: int | None, opts: ReadOptions
) -> dict[int, int | None]:
    """Rows to read from each shard so that at most `limit` are read in total, in input order."""
    if limit is None:
        return {s.index: None for s in shards}
    limits: dict[int, int | None] = {}
    left = limit
    for shard in shards:
        limits[shard.index] = left
        if left > 0:
            left -= min(left, _count_rows(shard, opts))
    return limits


def _row_count(shard: InputShard) -> int | None:
    """Rows in a shard when cheap to know (Parquet metadata), else None."""
    if shard.format != "parquet":
        return None
    try:
        with open_input(shard.path) as source:
            return pq.read_metadata(source).num_rows
    except (OSError, pa.ArrowException) as err:
        raise SchemaError(f"{shard.path}: cannot read parquet file: {err}") from None


def _count_rows(shard: InputShard, opts: ReadOptions) -> int:
    """Rows in a shard, reading it if its metadata does not say (only for --limit)."""
    known = _row_count(shard)
    if known is not None:
        return known
    return sum(chunk.num_rows for chunk in read_shard(shard, opts))


def _rows_entering(
    layout: RunLayout, stage: Stage, pending: list[InputShard], limits: dict[int, int | None]
) -> int | None:
    """Rows the pending shards bring into a stage, for the progress bar; None if unknown."""
    total = 0
    for shard in pending:
        if stage.index == 0:
            count = _row_count(shard)
            if count is None:
                return None
            limit = limits.get(shard.index)
            total += count if limit is None else min(count, limit)
        else:
            total += parquet_rows(layout.kept_pieces(stage.index - 1, shard.index))
    return total


def _claim_output(
    layout: RunLayout,
    recipe: Recipe,
    shards: list[InputShard],
    limit: int | None,
    overwrite: bool,
    reuse: ScoreReuse | None,
) -> None:
    """Record what this output folder holds; refuse to mix runs of different recipes or inputs."""
    state = {
        "recipe_hash": recipe.fingerprint(),
        "limit": limit,
        "reuse_scores": str(reuse.old) if reuse else None,
        "inputs": [[s.path, input_size(s.path)] for s in shards],
    }
    if overwrite:
        for name in ("kept", "rejected", "_work", "manifest.json"):
            (layout.root / name).remove()
    if layout.state.exists():
        previous = layout.state.read_json()
        if previous != state:
            raise ManifestError(
                f"{layout.root} holds a run of another recipe, input or --limit; "
                "pass --overwrite to replace it, or choose another --output"
            )
        return
    if not overwrite and not layout.root.is_empty():
        raise ManifestError(
            f"{layout.root} is not empty and holds no tamis run; "
            "choose another --output or pass --overwrite"
        )
    layout.state.write_json(state)
