"""Registry of step classes by short name, as used in recipes."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from pipeline.core.errors import RecipeError

T = TypeVar("T", bound=type)

_STEPS: dict[str, type] = {}


def register(name: str) -> Callable[[T], T]:
    """Register a step class under `name`; a second class with the same name raises."""

    def add(cls: T) -> T:
        if name in _STEPS and _STEPS[name] is not cls:
            raise ValueError(f"step name {name!r} is already registered by {_STEPS[name].__name__}")
        cls.name = name  # type: ignore[attr-defined]
        _STEPS[name] = cls
        return cls

    return add


def _load_builtin_steps() -> None:
    """Import the modules that register the built-in steps."""
    import filters  # noqa: F401
    import pipeline.dedup  # noqa: F401
    import scorers  # noqa: F401


def get_step(name: str) -> type[Any]:
    """The step class registered as `name`, or a RecipeError listing close matches."""
    _load_builtin_steps()
    if name not in _STEPS:
        close = difflib.get_close_matches(name, _STEPS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise RecipeError(f"unknown step {name!r}.{hint} Known steps: {', '.join(sorted(_STEPS))}")
    return _STEPS[name]


def registered() -> dict[str, type[Any]]:
    """All registered steps, by name."""
    _load_builtin_steps()
    return dict(sorted(_STEPS.items()))
