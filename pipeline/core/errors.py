"""Errors tamis raises: each says what failed, where, and how to fix it."""


class TamisError(Exception):
    """Base of every error tamis raises on purpose; the CLI prints it as one line."""


class RecipeError(TamisError):
    """A recipe is malformed: names the step, the key and what was expected."""


class SchemaError(TamisError):
    """An input file cannot be read or lacks what the recipe needs; names the file."""


class ManifestError(TamisError):
    """Row counts do not reconcile, or an output folder belongs to another run."""


class MissingDependencyError(TamisError, ImportError):
    """An optional package a step needs is not installed; says what to pip install."""


class ModelNotFoundError(TamisError):
    """A model setting resolves to nothing usable offline."""


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__
