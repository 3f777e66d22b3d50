"""Claiming an output folder for a run: what it holds, so that a rerun resumes the same run
and never mixes runs of different recipes, inputs, limits or step versions."""

from __future__ import annotations

from typing import Any

from pipeline.core.errors import ManifestError
from pipeline.io.layout import RunLayout
from pipeline.io.readers import input_size
from pipeline.run.markers import in_bulk
from pipeline.run.plan import RunPlan


def claim_state(plan: RunPlan) -> dict[str, Any]:
    """What an output folder records about the run it holds."""
    paths = [s.path for s in plan.shards]
    return {
        "recipe_hash": plan.recipe.fingerprint(),
        "limit": plan.limit,
        "reuse_scores": str(plan.reuse.old) if plan.reuse else None,
        "inputs": [[path, size] for path, size in in_bulk(input_size, paths)],  # sizes in bulk
        "step_versions": {s.name: s.version for s in plan.steps},
        "stages": [s.describe() for s in plan.stages],  # the work folder's layout
    }


def claim_output(plan: RunPlan, overwrite: bool) -> None:
    """Record what the output folder holds; refuse one holding another run."""
    layout: RunLayout = plan.layout
    state = claim_state(plan)
    if overwrite:  # everything but the lock this run holds
        for name in ("kept", "rejected", "manifest.json"):
            (layout.root / name).remove()
        for name in layout.work.entries():
            if name not in (layout.lock.name, layout.attempts.name):
                (layout.work / name).remove()
    if layout.state.exists():
        previous = layout.state.read_json()
        if previous == state:
            return
        raise ManifestError(f"{layout.root} {_difference(previous, state)}")
    others = [n for n in layout.root.entries() if n != layout.work.name]
    if not overwrite and (
        others or set(layout.work.entries()) - {layout.lock.name, layout.attempts.name}
    ):
        raise ManifestError(
            f"{layout.root} is not empty and holds no tamis run; "
            "choose another --output or pass --overwrite"
        )
    layout.state.write_json(state)


def _difference(previous: dict[str, Any], state: dict[str, Any]) -> str:
    """Why an earlier run in the folder cannot be resumed, and what to do."""
    fix = "pass --overwrite to replace it, or choose another --output"
    if previous.get("recipe_hash") != state["recipe_hash"]:
        return f"holds a run of another recipe; {fix}"
    old, new = previous.get("step_versions"), state["step_versions"]
    if old is None:
        return f"holds a run made by an earlier tamis that did not record step versions; {fix}"
    if old != new:
        changed = ", ".join(
            f"{name} v{old.get(name)} -> v{version}"
            for name, version in new.items()
            if old.get(name) != version
        )
        return f"holds a run made by other versions of its steps ({changed}); {fix}"
    if previous.get("stages") != state["stages"]:
        return f"holds a run made by a tamis that cut the recipe into other stages; {fix}"
    if previous.get("limit") != state["limit"]:
        limits = (previous.get("limit"), state["limit"])
        was, now = (f"--limit {n}" if n else "no --limit" for n in limits)
        return f"holds a run with {was} (this one has {now}); {fix}"
    if previous.get("inputs") != state["inputs"]:
        return f"holds a run over other input ({_input_change(previous, state)}); {fix}"
    return f"holds a run that reused other scores (--reuse-scores); {fix}"


def _input_change(previous: dict[str, Any], state: dict[str, Any]) -> str:
    """The input files that differ between two claims, in words: the first few named."""
    old, new = (dict(map(tuple, c.get("inputs") or [])) for c in (previous, state))
    changes = [
        f"{path} is new" if path not in old else f"{path} went from {old[path]:,} to {size:,} bytes"
        for path, size in new.items()
        if old.get(path) != size
    ] + [f"{path} is gone" for path in old if path not in new]
    more = f", and {len(changes) - 2} more" if len(changes) > 2 else ""
    return "; ".join(changes[:2]) + more if changes else "the same files, in another order"
