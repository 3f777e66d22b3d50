"""Small files the driver reads per shard (commit markers, footers, sizes), read in bulk: many
at once (threads hide a remote store's latency), a window at a time (memory stays flat however
many shards there are)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, TypeVar

from pipeline.io.layout import RunLayout
from pipeline.io.readers import InputShard
from pipeline.io.storage import Location

READERS = 16  # small files read at once
WINDOW = 1024  # markers in flight at most
T = TypeVar("T")
R = TypeVar("R")


def in_bulk(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for each item, in order, READERS calls at a time (for small reads)."""
    it = iter(items)
    window = list(islice(it, WINDOW))
    if len(window) < 2:  # no threads for one
        yield from ((item, fn(item)) for item in window)
        return
    with ThreadPoolExecutor(READERS, thread_name_prefix="tamis-bulk") as pool:
        while window:
            yield from zip(window, pool.map(fn, window), strict=True)
            window = list(islice(it, WINDOW))


def read_markers(
    layout: RunLayout, stage: int, shards: Iterable[InputShard]
) -> Iterator[tuple[InputShard, dict[str, Any]]]:
    """(shard, its commit marker of `stage`) for each of `shards`, in their order."""
    return in_bulk(lambda s: layout.done(stage, s.index).read_json(), shards)


def committed_sources(
    layout: RunLayout, stage: int, shards: Iterable[InputShard], rejected: bool = False
) -> tuple[list[Location], int]:
    """The kept pieces (and rejected ones too, with `rejected`) that `stage` committed for
    `shards`, with their rows as the markers count them (no file is opened)."""
    pieces: list[Location] = []
    rows = 0
    for shard, marker in read_markers(layout, stage, shards):
        kept, dropped = layout.committed_pieces(stage, shard.index, marker)
        pieces += kept + dropped if rejected else kept
        rows += marker["rows_in"] if rejected else marker["kept"]
    return pieces, rows
