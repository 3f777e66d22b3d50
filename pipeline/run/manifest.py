"""The run manifest: what ran on what, row counts per step, timings, and their reconciliation."""

from __future__ import annotations

import json
import logging
import platform
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from typing import Any

from pipeline.core.errors import ManifestError
from pipeline.io.layout import RunLayout
from pipeline.io.readers import INVALID_BY
from pipeline.io.shards import InputShard
from pipeline.io.storage import Location, parquet_rows, redacted
from pipeline.run.markers import in_bulk
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
    last: dict[int, tuple[int, str]] = field(default_factory=dict)  # shard -> kept, node
    tokens_kept: int = 0  # tokens summed over the last stage's markers
    tokens_rejected: Counter[str] = field(default_factory=Counter)  # by step
    tokens_counted: bool = True  # every last-stage marker had token counts
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
            # one string for every shard a node wrote, not one per marker read
            self.last[shard] = (marker["kept"], sys.intern(marker["node"]))
            tokens = marker.get("tokens")
            if tokens is None:
                self.tokens_counted = False
            else:
                self.tokens_kept += tokens["kept"]
                self.tokens_rejected.update(tokens["rejected"])


def read_totals(plan: RunPlan) -> MarkerTotals:
    """Every commit marker of the run, read in bulk stage by stage, summed; with each marker,
    its shard folder's listing: the pieces there that no commit lists (strays)."""
    layout = plan.layout
    totals = MarkerTotals(len(plan.stages))
    for stage in range(len(plan.stages)):
        # A listing per shard, read beside its marker: a window of shards in memory at once,
        # where one recursive listing of the stage held every piece's entry (~20 MB at 10k).
        read = partial(marker_and_pieces, layout, stage)
        for shard, (marker, found) in in_bulk(read, plan.shards):
            totals.add(stage, shard.index, marker)
            if found:
                listed = {*marker["pieces"]["kept"], *marker["pieces"]["rejected"]}
                totals.strays += [
                    str(layout.shard_dir(stage, shard.index) / name)
                    for name in found
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


def marker_and_pieces(
    layout: RunLayout, stage: int, shard: InputShard
) -> tuple[dict[str, Any], list[str]]:
    """A shard's commit marker of `stage`, and the pieces its folder holds when the marker
    lists its own (a marker of an earlier tamis vouches for the whole folder: none)."""
    marker = layout.done(stage, shard.index).read_json()
    return marker, layout.shard_pieces(stage, shard.index) if "pieces" in marker else []


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
            "kept": sum(kept for kept, _ in totals.last.values()),
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
    if not plan.recipe.output.tokenizer or not totals.tokens_counted:
        return None
    kept, rejected = totals.tokens_kept, totals.tokens_rejected
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


def manifest_chunks(manifest: dict[str, Any], lines_per_chunk: int = 1024) -> Iterator[bytes]:
    """The manifest as indented JSON with one line per shard, in pieces to write one after
    the other: writing it holds one piece at a time, not the whole text (at 30k shards the
    whole text and its copies held ~30 MB more of the driver's memory than the entries)."""
    if "shards" not in manifest:
        yield json.dumps(manifest, indent=2, default=str).encode()
        return
    text = json.dumps({**manifest, "shards": None}, indent=2, default=str)
    before, after = text.rsplit('"shards": null', 1)
    entries = manifest["shards"]
    if not entries:
        yield f'{before}"shards": []{after}'.encode()
        return
    yield f'{before}"shards": [\n    '.encode()
    for start in range(0, len(entries), lines_per_chunk):
        lines = (json.dumps(e, default=str) for e in entries[start : start + lines_per_chunk])
        yield ((",\n    " if start else "") + ",\n    ".join(lines)).encode()
    yield f"\n  ]{after}".encode()


def write_manifest(manifest: dict[str, Any], dest: Location) -> None:
    """Write the manifest to `dest`, whole or not at all, a piece at a time."""
    with dest.writing() as stream:
        for chunk in manifest_chunks(manifest):
            stream.write(chunk)


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
    # Generators, not lists: in_bulk takes a window at a time.
    files = (layout.kept(s["index"]) for s in manifest["shards"])
    kept_files = sum(n for _, n in in_bulk(lambda f: parquet_rows([f]), files))
    files = (layout.rejected(s["index"]) for s in manifest["shards"])
    rejected_files = sum(n for _, n in in_bulk(lambda f: parquet_rows([f]), files))
    if (kept_files, rejected_files) != (rows["kept"], rows["rejected"]):
        raise ManifestError(
            f"output files hold {kept_files} kept and {rejected_files} rejected rows, "
            f"but the run counted {rows['kept']} and {rows['rejected']}"
        )
