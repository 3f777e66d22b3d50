"""Local runner: plain Python in one process, no Ray."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.dedup.base import Deduplicator
from pipeline.dedup.buckets import resolve_on_disk
from pipeline.io import InputShard
from pipeline.plan import StageContext, commit_shard, process_chunk, stage_chunks, write_pieces
from pipeline.thresholds import BINS, batch_histogram


class LocalExecutor:
    """Runs shards one after another and global steps as on-disk bucket passes."""

    name = "local"
    gpu_fallback = False

    def gpus(self) -> int:
        """CUDA devices torch can see (0 without torch)."""
        try:
            import torch
        except ImportError:
            return 0
        return torch.cuda.device_count()

    def run_stage(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> list[dict[str, Any]]:
        """Process and commit each pending shard of one stage."""
        stats = []
        for shard in pending:
            for chunk in stage_chunks(ctx, shard):
                write_pieces(process_chunk(chunk, ctx.stage), ctx.layout, ctx.stage.index)
                on_rows(chunk.num_rows)
            stats.append(commit_shard(ctx, shard))
        return stats

    def resolve_buckets(
        self, step: Deduplicator, sources: list[Path], dest: Path, buckets: int
    ) -> dict[str, int]:
        """Find duplicates with an on-disk bucket pass."""
        return resolve_on_disk(step, sources, dest, buckets)

    def key_histogram(self, sources: list[Path], column: str, prefix: int | None) -> np.ndarray:
        """Summed score-key histograms over every source file (see pipeline/thresholds.py)."""
        total = np.zeros(BINS, np.int64)
        for source in sources:
            for batch in pq.ParquetFile(source).iter_batches(columns=[column]):
                total += batch_histogram(pa.Table.from_batches([batch]), column, prefix)
        return total

    def close(self) -> None:
        """Nothing to release."""
