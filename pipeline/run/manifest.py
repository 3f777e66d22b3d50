"""The run manifest: what ran on what, row counts per step, timings, and their reconciliation."""

from __future__ import annotations

import json
import logging
import platform
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from pipeline.core.errors import ManifestError
from pipeline.io.layout import RunLayout
from pipeline.io.readers import INVALID_BY
from pipeline.io.storage import parquet_rows, redacted
from pipeline.run.markers import in_bulk, read_markers
from pipeline.run.plan import RunPlan

log = logging.getLogger(__name__)

MAX_NAMED = 5  # stray pieces named in the warning


@dataclass
class MarkerTotals:
    """What the manifest needs from every shard's commit markers, summed as they are read
    (the markers themselves are not kept): counts per step and node, and per shard only the
    few numbers its entry shows."""

    n_stages: int
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: Counter[str] = field(default_factory=Counter)
    nodes: list[Counter[str]] = field(default_factory=list)  # per stage: shards per node
    rows_by_node: list[Counter[str]] = field(default_factory=list)  # per stage
    rows_in: dict[int, int] = field(default_factory=dict)  # shard -> rows in (first stage)
    last: dict[int, tuple[int, str, Any]] = field(default_factory=dict)  # kept, node, tokens
    strays: list[str] = field(default_factory=list)  # pieces no commit vouches for

    def __post_init__(self) -> None:
        self.nodes = [Counter() for _ in range(self.n_stages)]
        self.rows_by_node = [Counter() for _ in range(self.n_stages)]

    def add(self, stage: int, shard: int, marker: dict[str, Any]) -> None:
        for key, n in marker["rejected"].items():
            by, reason = key.split("\t", 1)
            self.reasons.setdefault(by, Counter())[reason] += n
        self.seconds.update(marker["seconds"])
        self.nodes[stage][marker["node"]] += 1
        self.rows_by_node[stage].update(marker.get("rows_by_node", {}))
        if stage == 0:
            self.rows_in[shard] = marker["rows_in"]
        if stage == self.n_stages - 1:
            self.last[shard] = (marker["kept"], marker["node"], marker.get("tokens"))


def read_totals(plan: RunPlan) -> MarkerTotals:
    """Every commit marker of the run, read in bulk stage by stage, summed; with one listing
    per stage, the pieces in committed shards' folders that no commit lists (strays)."""
    layout = plan.layout
    totals = MarkerTotals(len(plan.stages))
    for stage in range(len(plan.stages)):
        found = layout.stage_pieces(stage)
        for shard, marker in read_markers(layout, stage, plan.shards):
            totals.add(stage, shard.index, marker)
            if "pieces" in marker:  # an earlier tamis's marker vouches for the whole folder
                listed = {*marker["pieces"]["kept"], *marker["pieces"]["rejected"]}
                totals.strays += [
                    str(layout.shard_dir(stage, shard.index) / name)
                    for name in found.get(shard.index, [])
                    if name not in listed
                ]
    if totals.strays:
        log.warning(
            "%d stray piece(s) in committed shards' folders, written by no commit (a task of "
            "an earlier attempt?), were ignored: %s%s",
            len(totals.strays),
            ", ".join(totals.strays[:MAX_NAMED]),
            ", ..." if len(totals.strays) > MAX_NAMED else "",
        )
    return totals


def build_manifest(
    plan: RunPlan, run: dict[str, Any], global_stats: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Aggregate shard markers into the manifest (see DESIGN.md, Output). `run.stray_pieces`
    counts the files found in committed shards' folders that their commits do not list."""
    totals = read_totals(plan)
    steps = step_entries(plan, totals, global_stats)
    rows_in = sum(totals.rows_in.values())
    tokens = token_counts(plan, totals, steps)
    return {
        "recipe": _without_secrets(plan.recipe.model_dump()),
        "recipe_hash": plan.recipe.fingerprint(),
        "versions": {
            "tamis": _version("tamis"),
            "python": platform.python_version(),
            "pyarrow": _version("pyarrow"),
            "ray": _version("ray"),
        },
        "run": run | {"stray_pieces": len(totals.strays)},
        "rows": {
            "in": rows_in,
            "kept": sum(kept for kept, _, _ in totals.last.values()),
            "rejected": sum(step["rejected"] for step in steps),
        },
        **({"tokens": tokens} if tokens else {}),
        "steps": steps,
        "skipped_files": [redacted(s) for s in plan.skipped_files],
        "shards": shard_entries(plan, totals),
    }


def step_entries(
    plan: RunPlan, totals: MarkerTotals, global_stats: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per step, in order (input validation first): rows in, kept and rejected with reasons,
    seconds, where it ran, its version and parameters, and a global step's statistics."""
    reasons, seconds = totals.reasons, totals.seconds
    nodes = [dict(sorted(c.items())) for c in totals.nodes]
    rows_by_node = [dict(sorted(c.items())) for c in totals.rows_by_node]
    ordered = [(INVALID_BY, None, 0)] + [
        (step.name, step, stage.index) for stage in plan.stages for step in stage.accounted_steps()
    ]
    entries = []
    flowing = sum(totals.rows_in.values())
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
    plan: RunPlan, totals: MarkerTotals, steps: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Tokens in, kept and rejected over the run, with the tokenizer's name; adds `tokens_in`
    and `tokens_rejected` to each step entry (counted on the text as written out)."""
    counts = [totals.last[s.index][2] for s in plan.shards]
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


def shard_entries(plan: RunPlan, totals: MarkerTotals) -> list[dict[str, Any]]:
    """Per input shard: its file, rows in and kept, its output files and the node that wrote
    its final pieces."""
    return [
        {
            "index": s.index,
            "input": redacted(s.path),
            "rows_in": totals.rows_in[s.index],
            "kept": totals.last[s.index][0],
            "kept_file": str(plan.layout.kept(s.index)),
            "rejected_file": str(plan.layout.rejected(s.index)),
            "node": totals.last[s.index][1],
            "done": True,
        }
        for s in plan.shards
    ]


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as indented JSON with one line per shard: its size and the memory to write
    it grow by one short line per shard (an indented dump of every shard's fields would hold
    dozens of small strings per shard at once)."""
    if "shards" not in manifest:
        return json.dumps(manifest, indent=2, default=str).encode()
    text = json.dumps({**manifest, "shards": None}, indent=2, default=str)
    before, after = text.rsplit('"shards": null', 1)
    lines = ",\n    ".join(json.dumps(entry, default=str) for entry in manifest["shards"])
    listed = f"[\n    {lines}\n  ]" if lines else "[]"
    return f'{before}"shards": {listed}{after}'.encode()


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


def reconcile(manifest: dict[str, Any], layout: RunLayout) -> None:
    """Check rows in = kept + rejected, in the counts and in the files written (their
    footers read in bulk); raise if not."""
    rows = manifest["rows"]
    if rows["in"] != rows["kept"] + rows["rejected"]:
        raise ManifestError(
            f"rows do not reconcile: {rows['in']} in, "
            f"{rows['kept']} kept + {rows['rejected']} rejected"
        )
    files = [layout.kept(s["index"]) for s in manifest["shards"]]
    kept_files = sum(n for _, n in in_bulk(lambda f: parquet_rows([f]), files))
    files = [layout.rejected(s["index"]) for s in manifest["shards"]]
    rejected_files = sum(n for _, n in in_bulk(lambda f: parquet_rows([f]), files))
    if (kept_files, rejected_files) != (rows["kept"], rows["rejected"]):
        raise ManifestError(
            f"output files hold {kept_files} kept and {rejected_files} rejected rows, "
            f"but the run counted {rows['kept']} and {rows['rejected']}"
        )
