"""Errors tamis raises: each says what failed, where, and how to fix it.

The command line prints one line for any of them and exits with the class's `exit_code`:
2 when what the user gave must change (recipe, input, output, models, packages), 1 when the
run failed on its way (a step, the cluster, the disk); an unexpected exception is 1 too.
"""

from __future__ import annotations


class TamisError(Exception):
    """Base of every error tamis raises on purpose; the CLI prints it as one line."""

    exit_code = 2


class RecipeError(TamisError):
    """A recipe is malformed: names the step, the key and what was expected."""


class SchemaError(TamisError):
    """An input file cannot be read or lacks what the recipe needs; names the file."""


class ManifestError(TamisError):
    """Row counts do not reconcile, or an output folder belongs to another run."""


class OutputError(TamisError):
    """The output folder cannot be used: in use by another run, unwritable, full; names it."""


class MissingDependencyError(TamisError, ImportError):
    """An optional package a step needs is not installed; says what to pip install."""


class ModelNotFoundError(TamisError):
    """A model setting resolves to nothing usable offline."""


class RunError(TamisError):
    """The run failed on its way (a step failing on most rows, a lost cluster): names where."""

    exit_code = 1


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


def root_cause(err: BaseException) -> BaseException:
    """The error that started it all: a TamisError a Ray task raised comes back wrapped (its
    `cause`) in Ray's own; the first TamisError down the chain, else the deepest error."""
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        if isinstance(current, TamisError) and not _ray_wrapper(current):
            return current
        seen.append(current)
        current = getattr(current, "cause", None) or current.__cause__
    return seen[-1]


def _ray_wrapper(err: BaseException) -> bool:
    """True for Ray's task error, which also passes for its cause's class."""
    return any(c.__module__.startswith("ray.") for c in type(err).__mro__[:1])
