"""Passes of a decision that a rerun skips: a finished pass leaves a marker beside its output,
naming the inputs it ran on, and a later attempt at the same decision reuses its output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import xxhash

from pipeline.io.storage import Location


def fingerprint(*parts: Any) -> str:
    """A digest of what a pass's output depends on (parameters, source files, row counts)."""
    return xxhash.xxh3_64_hexdigest(repr(parts).encode())


def once(output: Location, inputs: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()` (which writes under `output` and returns its stats) unless an earlier attempt
    finished it on the same `inputs`; then its recorded stats, and `resumed: True`."""
    marker = output.parent / f"{output.name}.done.json"
    if marker.exists():
        found = marker.read_json()
        if found.get("inputs") == inputs:
            return {**found["stats"], "resumed": True}
    stats = run()
    marker.write_json({"inputs": inputs, "stats": stats})
    return stats
