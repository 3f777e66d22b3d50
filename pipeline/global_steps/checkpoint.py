"""Passes of a decision that a rerun skips: a finished pass leaves a marker beside its output,
naming the inputs it ran on, and a later attempt at the same decision reuses its output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import xxhash

from pipeline.io.storage import Location, read_table, write_parquet


def fingerprint(*parts: Any) -> str:
    """A digest of what a pass's output depends on (parameters, source files, row counts)."""
    return xxhash.xxh3_64_hexdigest(repr(parts).encode())


def work_dir(dest: Location) -> Location:
    """The folder beside a step's decisions that holds its checkpointed passes: kept across
    attempts (the runner clears the decisions folder, not this), removed once decided."""
    return dest.parent / f"{dest.name}.work"


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


def once_table(
    output: Location, inputs: str, compute: Callable[[], pa.Table]
) -> tuple[pa.Table, bool]:
    """`compute()`'s table, kept in one Parquet file at `output`, or the table an earlier
    attempt kept there on the same `inputs`; and whether it was reused."""
    computed: list[pa.Table] = []

    def run() -> dict[str, Any]:
        table = compute()
        write_parquet(table, output)
        computed.append(table)
        return {"rows": table.num_rows}

    stats = once(output, inputs, run)
    return (computed[0] if computed else read_table(output)), bool(stats.get("resumed"))
