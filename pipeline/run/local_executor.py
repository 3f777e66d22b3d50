"""Local runner: plain Python in one process, no Ray."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.columns import ROW, SHARD
from pipeline.core.executor import Executor
from pipeline.global_steps.disk_shuffle import shuffle_on_disk, summarise_files
from pipeline.global_steps.shuffle import Resolve, Source, Summary
from pipeline.io.readers import InputShard
from pipeline.io.storage import Location
from pipeline.run.commit import commit_shard, write_pieces
from pipeline.run.publish import publish_shard, publishes_only
from pipeline.run.stages import SECONDS_META, StageContext, process_chunk, stage_chunks


class LocalExecutor(Executor):
    """Runs shards one after another and global steps as on-disk bucket passes."""

    name = "local"

    def gpus(self) -> int:
        """CUDA devices torch can see (0 without torch)."""
        try:
            import torch
        except ImportError:
            return 0
        return torch.cuda.device_count()

    def run_stage(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> None:
        """Process and commit each pending shard of one stage."""
        if publishes_only(ctx.stage):
            for shard in pending:
                on_rows(publish_shard(ctx, shard))
            return
        step_rows = smallest_batch(ctx.stage.steps)
        for shard in pending:
            for chunk in stage_chunks(ctx, shard):
                # A model step may take minutes over a chunk: run it a model batch at a time so
                # that progress moves, and write the chunk once.
                outs = []
                for start in range(0, max(chunk.num_rows, 1), step_rows):
                    piece = chunk.slice(start, step_rows)
                    outs.append(process_chunk(piece, ctx.stage))
                    on_rows(piece.num_rows)
                write_pieces(
                    joined(outs), ctx.layout, ctx.stage.index, ctx.attempt, ctx.deferred_columns
                )
            commit_shard(ctx, shard)

    def shuffle(
        self, sources: list[Source], resolve: Resolve, dest: Location, buckets: int
    ) -> None:
        """Group rows by bucket with an on-disk pass (see pipeline/global_steps/shuffle.py)."""
        shuffle_on_disk(sources, resolve, dest, buckets)

    def summarise(
        self, files: list[Location], columns: list[str], fn: Summary, size: int
    ) -> np.ndarray:
        """Sum of `fn` (an int64 array of `size`) over every batch of `files`."""
        return summarise_files(files, columns, fn, size)


def smallest_batch(steps: list[Any]) -> int:
    """The fewest rows any of `steps` takes per model call (a chunk's worth when none says)."""
    sizes = [
        getattr(getattr(s, "params", None), "batch_size", None) or getattr(s, "batch_size", None)
        for s in steps
    ]
    return min([n for n in sizes if isinstance(n, int) and n > 0], default=1 << 30)


def joined(outs: list[pa.Table]) -> pa.Table:
    """The outputs of a chunk's slices as one table, their seconds per step added up."""
    if len(outs) == 1:
        return outs[0]
    seconds: Counter[str] = Counter()
    for out in outs:
        seconds.update(json.loads((out.schema.metadata or {}).get(SECONDS_META, b"{}")))
    table = pa.concat_tables(outs, promote_options="permissive")
    table = table.sort_by([(SHARD, "ascending"), (ROW, "ascending")])  # as one call leaves it
    return table.replace_schema_metadata({SECONDS_META: json.dumps(seconds).encode()})
