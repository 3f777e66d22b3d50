"""The run manifest: what ran on what, row counts per step, timings, and their reconciliation."""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from typing import Any

from pipeline.core.errors import ManifestError
from pipeline.io.layout import RunLayout
from pipeline.io.readers import INVALID_BY
from pipeline.io.storage import parquet_rows, redacted
from pipeline.run.plan import RunPlan

Markers = dict[tuple[int, int], dict[str, Any]]  # (stage, shard) -> the shard's commit marker


def build_manifest(
    plan: RunPlan, run: dict[str, Any], global_stats: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Aggregate shard markers into the manifest (see DESIGN.md, Output)."""
    layout, stages, shards = plan.layout, plan.stages, plan.shards
    markers = {
        (k, s.index): layout.done(k, s.index).read_json()
        for k in range(len(stages))
        for s in shards
    }
    steps = step_entries(plan, markers, global_stats)
    rows_in = sum(markers[(0, s.index)]["rows_in"] for s in shards)
    tokens = token_counts(plan, markers, steps)
    return {
        "recipe": _without_secrets(plan.recipe.model_dump()),
        "recipe_hash": plan.recipe.fingerprint(),
        "versions": {
            "tamis": _version("tamis"),
            "python": platform.python_version(),
            "pyarrow": _version("pyarrow"),
            "ray": _version("ray"),
        },
        "run": run,
        "rows": {
            "in": rows_in,
            "kept": sum(markers[(len(stages) - 1, s.index)]["kept"] for s in shards),
            "rejected": sum(step["rejected"] for step in steps),
        },
        **({"tokens": tokens} if tokens else {}),
        "steps": steps,
        "skipped_files": [redacted(s) for s in plan.skipped_files],
        "shards": shard_entries(plan, markers),
    }


def step_entries(
    plan: RunPlan, markers: Markers, global_stats: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per step, in order (input validation first): rows in, kept and rejected with reasons,
    seconds, where it ran, its version and parameters, and a global step's statistics."""
    reasons: dict[str, Counter[str]] = {}
    seconds: Counter[str] = Counter()
    for marker in markers.values():
        for key, n in marker["rejected"].items():
            by, reason = key.split("\t", 1)
            reasons.setdefault(by, Counter())[reason] += n
        seconds.update(marker["seconds"])
    nodes, rows_by_node = _nodes_per_stage(markers, len(plan.stages))
    ordered = [(INVALID_BY, None, 0)] + [
        (step.name, step, stage.index) for stage in plan.stages for step in stage.accounted_steps()
    ]
    entries = []
    flowing = sum(markers[(0, s.index)]["rows_in"] for s in plan.shards)
    for name, step, stage_index in ordered:
        dropped = reasons.get(name, Counter())
        rejected = sum(dropped.values())
        entry: dict[str, Any] = {
            "step": name,
            "rows_in": flowing,
            "rejected": rejected,
            "kept": flowing - rejected,
            "reasons": dict(dropped.most_common()),
            "seconds": round(seconds.get(name, 0.0) + seconds.get(f"{name}:keys", 0.0), 3),
            "nodes": nodes[stage_index],
            "rows_by_node": rows_by_node[stage_index],
        }
        if step is not None:
            entry |= {"version": step.version, "params": step.params.model_dump()}
            key = step.reuse_key()
            if key is not None:
                entry |= {"reuse_key": key, "model_digest": step.model_digest()}
        if name in global_stats:
            entry["global"] = global_stats[name]
        entries.append(entry)
        flowing -= rejected
    return entries


def token_counts(
    plan: RunPlan, markers: Markers, steps: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Tokens in, kept and rejected over the run, with the tokenizer's name; adds `tokens_in`
    and `tokens_rejected` to each step entry (counted on the text as written out)."""
    last = len(plan.stages) - 1
    counts = [markers[(last, s.index)].get("tokens") for s in plan.shards]
    if not plan.recipe.output.tokenizer or any(c is None for c in counts):
        return None
    kept = sum(c["kept"] for c in counts)
    rejected: Counter[str] = Counter()
    for c in counts:
        rejected.update(c["rejected"])
    flowing = kept + sum(rejected.values())
    for entry in steps:
        entry["tokens_in"], entry["tokens_rejected"] = flowing, rejected.get(entry["step"], 0)
        flowing -= entry["tokens_rejected"]
    return {
        "tokenizer": plan.recipe.output.tokenizer,
        "in": kept + sum(rejected.values()),
        "kept": kept,
        "rejected": sum(rejected.values()),
    }


def shard_entries(plan: RunPlan, markers: Markers) -> list[dict[str, Any]]:
    """Per input shard: its file, rows in and kept, its output files and the node that wrote
    its final pieces."""
    last = len(plan.stages) - 1
    return [
        {
            "index": s.index,
            "input": redacted(s.path),
            "rows_in": markers[(0, s.index)]["rows_in"],
            "kept": markers[(last, s.index)]["kept"],
            "kept_file": str(plan.layout.kept(s.index)),
            "rejected_file": str(plan.layout.rejected(s.index)),
            "node": markers[(last, s.index)]["node"],
            "done": True,
        }
        for s in plan.shards
    ]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _without_secrets(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe with credentials left out of its input and output URIs."""
    recipe["input"]["path"] = redacted(recipe["input"]["path"])
    recipe["output"]["path"] = redacted(recipe["output"]["path"])
    return recipe


def _nodes_per_stage(
    markers: Markers, n_stages: int
) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """Per stage: shards per node that read them, and rows per node that wrote them. A step's
    entry gets its stage's (a global step's: the stage that applies its decisions)."""
    shards: list[Counter[str]] = [Counter() for _ in range(n_stages)]
    rows: list[Counter[str]] = [Counter() for _ in range(n_stages)]
    for (stage, _), marker in markers.items():
        shards[stage][marker["node"]] += 1
        rows[stage].update(marker.get("rows_by_node", {}))
    return [dict(sorted(c.items())) for c in shards], [dict(sorted(c.items())) for c in rows]


def reconcile(manifest: dict[str, Any], layout: RunLayout) -> None:
    """Check rows in = kept + rejected, in the counts and in the files written; raise if not."""
    rows = manifest["rows"]
    if rows["in"] != rows["kept"] + rows["rejected"]:
        raise ManifestError(
            f"rows do not reconcile: {rows['in']} in, "
            f"{rows['kept']} kept + {rows['rejected']} rejected"
        )
    kept_files = parquet_rows([layout.kept(s["index"]) for s in manifest["shards"]])
    rejected_files = parquet_rows([layout.rejected(s["index"]) for s in manifest["shards"]])
    if (kept_files, rejected_files) != (rows["kept"], rows["rejected"]):
        raise ManifestError(
            f"output files hold {kept_files} kept and {rejected_files} rejected rows, "
            f"but the run counted {rows['kept']} and {rows['rejected']}"
        )
