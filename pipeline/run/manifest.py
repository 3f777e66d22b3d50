"""The run manifest: what ran on what, row counts per step, timings, and their reconciliation."""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from typing import Any

from pipeline.core.errors import ManifestError
from pipeline.core.recipe import Recipe
from pipeline.io.layout import RunLayout
from pipeline.io.readers import INVALID_BY, InputShard
from pipeline.io.storage import parquet_rows, redacted
from pipeline.run.stages import Stage


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(
    recipe: Recipe,
    stages: list[Stage],
    shards: list[InputShard],
    layout: RunLayout,
    run: dict[str, Any],
    global_stats: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Aggregate shard markers into the manifest (see DESIGN.md, Output)."""
    last = len(stages) - 1
    markers = {
        (k, s.index): layout.done(k, s.index).read_json()
        for k in range(len(stages))
        for s in shards
    }
    reasons: dict[str, Counter[str]] = {}
    seconds: Counter[str] = Counter()
    for marker in markers.values():
        for key, n in marker["rejected"].items():
            by, reason = key.split("\t", 1)
            reasons.setdefault(by, Counter())[reason] += n
        seconds.update(marker["seconds"])
    nodes, rows_by_node = _nodes_per_stage(markers, len(stages))
    rows_in = sum(markers[(0, s.index)]["rows_in"] for s in shards)
    kept = sum(markers[(last, s.index)]["kept"] for s in shards)
    rejected = sum(sum(c.values()) for c in reasons.values())
    steps = []
    flowing = rows_in
    ordered = [(INVALID_BY, None, 0)] + [
        (step.name, step, stage.index) for stage in stages for step in _stage_steps(stage)
    ]
    for name, step, stage_index in ordered:
        dropped = reasons.get(name, Counter())
        entry: dict[str, Any] = {
            "step": name,
            "rows_in": flowing,
            "rejected": sum(dropped.values()),
            "kept": flowing - sum(dropped.values()),
            "reasons": dict(dropped.most_common()),
            "seconds": round(seconds.get(name, 0.0) + seconds.get(f"{name}:keys", 0.0), 3),
            "nodes": nodes[stage_index],
            "rows_by_node": rows_by_node[stage_index],
        }
        if step is not None:
            entry |= {"version": step.version, "params": step.params.model_dump()}
        if name in global_stats:
            entry["global"] = global_stats[name]
        steps.append(entry)
        flowing -= sum(dropped.values())
    return {
        "recipe": _without_secrets(recipe.model_dump()),
        "recipe_hash": recipe.fingerprint(),
        "versions": {
            "tamis": _version("tamis"),
            "python": platform.python_version(),
            "pyarrow": _version("pyarrow"),
            "ray": _version("ray"),
        },
        "run": run,
        "rows": {"in": rows_in, "kept": kept, "rejected": rejected},
        "steps": steps,
        "shards": [
            {
                "index": s.index,
                "input": redacted(s.path),
                "rows_in": markers[(0, s.index)]["rows_in"],
                "kept": markers[(last, s.index)]["kept"],
                "kept_file": str(layout.kept(s.index)),
                "rejected_file": str(layout.rejected(s.index)),
                "node": markers[(last, s.index)]["node"],
                "done": True,
            }
            for s in shards
        ],
    }


def _without_secrets(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe with credentials left out of its input and output URIs."""
    recipe["input"]["path"] = redacted(recipe["input"]["path"])
    recipe["output"]["path"] = redacted(recipe["output"]["path"])
    return recipe


def _nodes_per_stage(
    markers: dict[tuple[int, int], dict[str, Any]], n_stages: int
) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """Per stage: shards per node that read them, and rows per node that wrote them. A step's
    entry gets its stage's (a global step's: the stage that applies its decisions)."""
    shards: list[Counter[str]] = [Counter() for _ in range(n_stages)]
    rows: list[Counter[str]] = [Counter() for _ in range(n_stages)]
    for (stage, _), marker in markers.items():
        shards[stage][marker["node"]] += 1
        rows[stage].update(marker.get("rows_by_node", {}))
    return [dict(sorted(c.items())) for c in shards], [dict(sorted(c.items())) for c in rows]


def _stage_steps(stage: Stage) -> list[Any]:
    """The steps a stage accounts for, in order: the global step it applies, then its row steps."""
    return ([stage.applies] if stage.applies is not None else []) + stage.steps


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
