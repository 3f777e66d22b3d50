"""Registry of step classes by short name, as used in recipes, with where each came from.

Steps come from three places: tamis's own packages, installed packages that declare an entry
point in the `tamis.steps` group (its value a module that registers steps, or a step class
registered under the entry point's name), and modules a recipe names in `imports:`. The core
imports none of them by name: they are found and imported here, when first asked for.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from typing import Any, TypeVar

from pipeline.core.errors import RecipeError, first_line

log = logging.getLogger(__name__)
T = TypeVar("T", bound=type)

BUILTIN_MODULES = (
    "filters",
    "scorers",
    "scorers.embedding_classifier",
    "pipeline.dedup",
    "pipeline.selection",
)
ENTRY_POINT_GROUP = "tamis.steps"

_STEPS: dict[str, type] = {}
_FAILED: dict[str, str] = {}  # plugin -> why it did not load, for messages
_IMPORTED: dict[str, Any] = {}  # modules recipes named in `imports:`
_loaded = False


def register(name: str) -> Callable[[T], T]:
    """Register a step class under `name`; a second class with the same name raises."""

    def add(cls: T) -> T:
        known = _STEPS.get(name)
        if known is not None and known is not cls and _qualname(known) != _qualname(cls):
            raise ValueError(
                f"step name {name!r} is already registered by {_qualname(known)} "
                f"(from {_origin_of(known)})"
            )
        cls.name = name  # type: ignore[attr-defined]
        _STEPS[name] = cls
        return cls

    return add


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_steps() -> None:
    """Import tamis's own steps and every `tamis.steps` entry point, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist.name if entry.dist else "?"
        try:
            loaded = entry.load()
            if isinstance(loaded, type) and entry.name not in _STEPS:
                register(entry.name)(loaded)
        except Exception as err:  # a broken plugin must not stop the others, nor tamis
            _FAILED[f"{dist}:{entry.name}"] = f"{type(err).__name__}: {first_line(err)}"
            log.warning("step plugin %s (%s) did not load: %s", entry.name, dist, first_line(err))


def import_modules(modules: list[str]) -> list[Any]:
    """Import modules a recipe names (`imports:`); the steps they register say so."""
    imported = []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ImportError as err:
            raise RecipeError(f"imports: cannot import {name!r}: {first_line(err)}") from None
        _IMPORTED[name] = imported[-1]
    return imported


def imported_modules() -> list[Any]:
    """The modules recipes imported in this process (they may not exist on other machines)."""
    return list(_IMPORTED.values())


def get_step(name: str) -> type[Any]:
    """The step class registered as `name`, or a RecipeError listing close matches."""
    load_steps()
    if name not in _STEPS:
        close = difflib.get_close_matches(name, _STEPS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        broken = "; ".join(f"{k} ({v})" for k, v in _FAILED.items())
        broken = f" Plugins that failed to load: {broken}." if broken else ""
        raise RecipeError(
            f"unknown step {name!r}.{hint} Known steps: {', '.join(sorted(_STEPS))}.{broken}"
        )
    return _STEPS[name]


def registered() -> dict[str, type[Any]]:
    """All registered steps, by name."""
    load_steps()
    return dict(sorted(_STEPS.items()))


def origin(name: str) -> str:
    """Where the step registered as `name` comes from: "tamis", a plugin distribution and its
    version, "imports: <module>" for a module a recipe imported, or "module <name>"."""
    return _origin_of(get_step(name))


def _origin_of(cls: type) -> str:
    """The origin of a step class (see `origin`)."""
    module = cls.__module__
    for name in _IMPORTED:
        if module == name or module.startswith(f"{name}."):
            return f"imports: {name}"
    top = module.partition(".")[0]
    if top in {m.partition(".")[0] for m in BUILTIN_MODULES}:
        return "tamis"
    dists = _distributions().get(top, [])
    return f"{dists[0]} {metadata.version(dists[0])}" if dists else f"module {module}"


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    """Top-level module -> the distributions that install it."""
    return dict(metadata.packages_distributions())
