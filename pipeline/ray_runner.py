"""Ray Data runner: shards stream through Ray Data; global steps use a Ray Data groupby."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.columns import DUPLICATE_OF
from pipeline.dedup.base import BUCKET, GlobalStep
from pipeline.dedup.buckets import assign_buckets, key_columns
from pipeline.io import InputShard
from pipeline.plan import StageContext, commit_shard, process_chunk, stage_chunks, write_pieces

log = logging.getLogger(__name__)


def _process_shards(
    batch: pa.Table, ctx: StageContext, shards: dict[int, InputShard]
) -> Iterator[pa.Table]:
    """Read, process and write every chunk of the shards named in `batch`; yield (shard, rows)."""
    for index in batch["shard"].to_pylist():
        for chunk in stage_chunks(ctx, shards[index]):
            written = write_pieces(process_chunk(chunk, ctx.stage), ctx.layout, ctx.stage.index)
            yield pa.table({"shard": [s for s, _ in written], "rows": [n for _, n in written]})


def _resolve_group(group: pa.Table, step: GlobalStep) -> pa.Table:
    """Duplicates in one bucket group."""
    return step.resolve(group)


class RayExecutor:
    """Runs each stage as a Ray Data pipeline over pending shards; commits shards as they finish."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        import ray

        self._ray = ray
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            ray.init(
                address=address,
                num_cpus=None if address else num_cpus,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=True,
            )
        context = ray.data.DataContext.get_current()  # imports ray.data, which sets up its logging
        context.print_on_execution_start = False
        # Keep the console to our own progress bar and summary; Ray Data's INFO lines go to its log file.
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("ray.data")] + [
            "ray.data"
        ]:
            logging.getLogger(name).setLevel(logging.ERROR)
        context.enable_progress_bars = False

    def run_stage(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> list[dict[str, Any]]:
        """Stream pending shards through Ray Data; each shard is committed once all its rows are written."""
        ray = self._ray
        if not pending:
            return []
        shards = {s.index: s for s in pending}
        items = ray.data.from_items(
            [{"shard": s.index} for s in pending], override_num_blocks=len(pending)
        )
        results = items.map_batches(
            _process_shards,
            fn_kwargs={"ctx": ctx, "shards": shards},
            batch_size=1,
            batch_format="pyarrow",
            num_cpus=1,
        )
        commit = ray.remote(num_cpus=0)(commit_shard)
        written: dict[int, int] = {}
        commits: dict[int, Any] = {}
        for out in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for shard, rows in zip(out["shard"].to_pylist(), out["rows"].to_pylist()):
                written[shard] = written.get(shard, 0) + rows
                on_rows(rows)
            for shard in shards.keys() - commits.keys():
                if self._complete(ctx, shard, written.get(shard, 0)):
                    commits[shard] = commit.remote(ctx, shards[shard])
        for shard in shards.keys() - commits.keys():  # empty shards, or markers written last
            commits[shard] = commit.remote(ctx, shards[shard])
        return ray.get(list(commits.values()))

    @staticmethod
    def _complete(ctx: StageContext, shard: int, written: int) -> bool:
        """True once the shard's reader finished and every row it read has been written."""
        marker = ctx.layout.read_marker(ctx.stage.index, shard)
        if not marker.exists():
            return False
        return json.loads(marker.read_text())["rows"] == written

    def resolve(
        self, step: GlobalStep, sources: list[Path], dest: Path, buckets: int
    ) -> dict[str, int]:
        """Group keys by bucket with a Ray Data groupby and resolve each bucket on a worker."""
        ray = self._ray
        dest.mkdir(parents=True, exist_ok=True)
        if not sources:
            return {"duplicates": 0, "clusters": 0, "buckets": buckets}
        keys = ray.data.read_parquet([str(s) for s in sources]).select_columns(key_columns(step))
        keys = keys.map_batches(
            assign_buckets, fn_kwargs={"buckets": buckets}, batch_format="pyarrow"
        )
        found = keys.groupby(BUCKET).map_groups(
            _resolve_group, fn_kwargs={"step": step}, batch_format="pyarrow"
        )
        # Decisions are written by the workers; only counts come back to the driver.
        found = found.materialize()
        found.write_parquet(str(dest))
        duplicates = found.count()
        clusters = found.groupby(DUPLICATE_OF).count().count() if duplicates else 0
        return {"duplicates": duplicates, "clusters": clusters, "buckets": buckets}

    def close(self) -> None:
        """Leave Ray running for the caller; it shuts down with the process."""
