"""Rows a model step has scored so far in the chunk being processed, for progress lines.

A model step may take minutes over one read chunk; the local runner sets `ON_MODEL_ROWS` while
it processes a chunk, and a scorer calls `model_rows_done` after each model batch."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

ON_MODEL_ROWS: ContextVar[Callable[[int], None] | None] = ContextVar("on_model_rows", default=None)


def model_rows_done(rows: int) -> None:
    """Tell whoever follows progress that a model batch of `rows` rows is scored."""
    report = ON_MODEL_ROWS.get()
    if report is not None:
        report(rows)
