"""The executors a run can use, by name: the one table the CLI and `run_recipe` read.

An installed package may add its own through an entry point in the `tamis.runners` group
whose value is an `Executor` subclass (`my_pkg.executor:SlurmExecutor`).
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from pipeline.core.errors import RecipeError
from pipeline.core.executor import Executor

ENTRY_POINT_GROUP = "tamis.runners"
# name -> "module:class"; imported only when chosen, so the local runner never imports Ray.
BUILTIN = {
    "local": "pipeline.run.local_executor:LocalExecutor",
    "ray": "pipeline.run.ray_executor:RayExecutor",
}


def runner_names() -> list[str]:
    """Every runner a recipe can run on: tamis's own, then installed ones."""
    extra = [e.name for e in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return list(BUILTIN) + sorted(set(extra) - set(BUILTIN))


def make_executor(name: str, **settings: Any) -> Executor:
    """A new executor of the runner `name`, built with `settings` (e.g. `cpu_fallback`)."""
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        found = [e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
        if not found:
            raise RecipeError(
                f"unknown runner {name!r}; expected one of {', '.join(runner_names())}"
            )
        cls = found[0].load()
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise RecipeError(f"runner {name!r} is not an Executor subclass: {cls!r}")
    return cls(**settings)
