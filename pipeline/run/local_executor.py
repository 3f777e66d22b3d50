"""Local runner: plain Python in one process, no Ray."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.core.batch_progress import ON_MODEL_ROWS
from pipeline.core.executor import Executor
from pipeline.core.step import StepKind
from pipeline.global_steps.disk_shuffle import shuffle_on_disk, summarise_files
from pipeline.global_steps.shuffle import Resolve, Source, Summary
from pipeline.io.readers import InputShard
from pipeline.io.storage import Location
from pipeline.run.commit import commit_shard, write_pieces
from pipeline.run.publish import publish_shard, publishes_only
from pipeline.run.stages import StageContext, process_chunk, stage_chunks


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
        models = sum(step.kind is StepKind.MODEL for step in ctx.stage.steps)
        for shard in pending:
            for chunk in stage_chunks(ctx, shard):
                # A model step may take minutes over a chunk: progress moves with its batches,
                # each model step of the stage counting for its share of the chunk's rows.
                shown = ModelRowsShown(chunk.num_rows, models, on_rows)
                token = ON_MODEL_ROWS.set(shown.scored)
                try:
                    chunk_out = process_chunk(chunk, ctx.stage)
                finally:
                    ON_MODEL_ROWS.reset(token)
                write_pieces(
                    chunk_out, ctx.layout, ctx.stage.index, ctx.attempt, ctx.deferred_columns
                )
                shown.finish()
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


class ModelRowsShown:
    """Rows of one chunk shown as done: a share of each model batch while the chunk is
    processed (the chunk's rows over the stage's model steps), the rest once it is written."""

    def __init__(self, rows: int, models: int, on_rows: Callable[[int], None]):
        self.rows, self.models, self.on_rows = rows, max(models, 1), on_rows
        self.shown, self._scored = 0, 0

    def scored(self, rows: int) -> None:
        """A model batch of `rows` rows is done."""
        self._scored += rows
        due = min(self._scored // self.models, self.rows - 1)  # the last row: when written
        if due > self.shown:
            self.on_rows(due - self.shown)
            self.shown = due

    def finish(self) -> None:
        """The chunk is written: show its remaining rows."""
        self.on_rows(self.rows - self.shown)
        self.shown = self.rows
