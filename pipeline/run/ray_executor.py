"""Ray Data runner: shards stream through Ray Data (filters as tasks, scorers as actor pools);
global steps shuffle with map tasks writing one file per bucket range and one reduce task per
range (pipeline/global_steps/ray_shuffle.py)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.cluster.auth import use_cluster_token
from pipeline.core.executor import Executor
from pipeline.core.registry import imported_modules
from pipeline.core.step import Step, StepKind
from pipeline.global_steps.disk_shuffle import shuffle_on_disk, summarise_files
from pipeline.global_steps.ray_shuffle import shuffle_with_tasks
from pipeline.global_steps.shuffle import Resolve, Source, Summary
from pipeline.io.readers import InputShard
from pipeline.io.storage import Location
from pipeline.run import reaper
from pipeline.run.commit import commit_shard, write_pieces
from pipeline.run.markers import in_bulk
from pipeline.run.memory import release_freed_memory
from pipeline.run.publish import publish_shard, publishes_only
from pipeline.run.stages import StageContext, apply_steps, stage_chunks, step_groups

SUMMARY_TASKS_PER_CPU = 4
# Shards one Ray Data execution streams, at least (SHARDS_PER_CPU per cluster CPU beyond): what
# it keeps per block and task is freed when it ends, so the driver's memory follows the cluster's
# size, not the input's. Each execution drains before the next starts, and model actors load
# again: enough shards per CPU keep both small.
SHARDS_PER_PIPELINE = 2048
SHARDS_PER_CPU = 16
# Workers' Arrow allocator. Arrow's default (mimalloc in pyarrow 26) keeps freed memory in
# long-lived workers, so their RSS crept up with data size (229 -> 304 MB from 1x to 16x in make
# bench-scale); the system allocator held 219 -> 236 MB at the same speed. A value set by the
# user or the job wins. Workers inherit their raylet's environment, so a driver joining a
# running cluster passes it in its runtime env (worker_env_vars); one that finds Ray already
# initialised (in user code or a Ray task) leaves the workers as they are.
WORKER_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system"}
JOB_CONFIG_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray in a submitted job's driver


def worker_env_vars(environ: Mapping[str, str]) -> dict[str, str]:
    """WORKER_ENV with the driver's own values, less keys a submitted job's runtime env sets."""
    # Ray refuses a driver runtime env whose env_vars overlap the job's.
    job = json.loads(environ.get(JOB_CONFIG_VAR, "{}"))
    taken = ((job.get("runtime_env") or {}).get("env_vars")) or {}
    return {k: environ.get(k, v) for k, v in WORKER_ENV.items() if k not in taken}


def _read_shards(batch: pa.Table, ctx: StageContext) -> Iterator[pa.Table]:
    """Every chunk entering the stage for the shards described in `batch` (one InputShard a
    row: each task is given its own shards only)."""
    for row in batch.to_pylist():
        yield from stage_chunks(ctx, InputShard(**row))


def hide_gpus_not_given() -> None:
    """Let this worker see only the GPUs Ray gave it: Ray leaves CUDA_VISIBLE_DEVICES as it is
    for a worker that asked for none, and torch would then take cuda:0 behind Ray's back."""
    import ray

    if not ray.get_gpu_ids():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def _model_actor(step: Step) -> type:
    """An actor class with a model step built in (so no constructor arguments live in the
    object store); its model loads once per actor."""

    class ModelActor:
        def __init__(self) -> None:
            self.step = step  # the model loads on the first batch that needs it
            hide_gpus_not_given()

        def __call__(self, batch: pa.Table) -> pa.Table:
            return apply_steps(batch, [self.step])

    ModelActor.__name__ = ModelActor.__qualname__ = f"Score_{step.name}"
    return ModelActor


def _write(batch: pa.Table, ctx: StageContext) -> pa.Table:
    """Add the next global step's keys, write pieces; returns (shard, rows) written."""
    keyed = apply_steps(batch, [], ctx.stage.keys_for)
    written = write_pieces(keyed, ctx.layout, ctx.stage.index, ctx.attempt, ctx.deferred_columns)
    return pa.table({"shard": [s for s, _ in written], "rows": [n for _, n in written]})


class RayExecutor(Executor):
    """Runs each stage as a Ray Data pipeline over pending shards; commits shards as they finish.

    Joins the cluster at `address` (or RAY_ADDRESS), else starts a local Ray with `num_cpus`.
    Modules a recipe imported from outside the installed packages travel to workers by value.
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, num_cpus: int | None = None, cpu_fallback: bool = False
    ):
        super().__init__(cpu_fallback)
        address = address or os.environ.get("RAY_ADDRESS")
        joining = address not in (None, "", "local")  # "local" starts a new Ray, like None
        if joining:
            use_cluster_token()  # before importing ray, which reads its auth mode once
        import ray

        self._ray = ray
        if not ray.is_initialized():
            env_vars = worker_env_vars(os.environ) if joining else {}
            if not joining:  # a new local Ray's workers inherit the driver's environment
                for key, value in WORKER_ENV.items():
                    os.environ.setdefault(key, value)
            ray.init(
                address=address,
                num_cpus=None if joining else num_cpus,
                runtime_env={"env_vars": env_vars} if env_vars else None,
                include_dashboard=False,
                logging_level=logging.ERROR,  # not Ray's start-up notes, only its errors
                # A failing task's traceback would flood the console; its error reaches the
                # driver as an exception, which the CLI prints as one line.
                log_to_driver=os.environ.get("TAMIS_RAY_WORKER_LOGS") == "1",
            )
            if not joining:  # ours: its processes end with this one, however it ends
                node = ray._private.worker.global_worker.node
                reaper.start(os.getpid(), node.get_session_dir_path())
        context = ray.data.DataContext.get_current()  # imports ray.data, which sets up its logging
        context.print_on_execution_start = False
        # Keep the console to our progress bar and summary: Ray Data's lines go to its log file,
        # and a failed task is reported once, by the CLI, from the exception it raises.
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("ray.data")] + [
            "ray.data"
        ]:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        context.enable_progress_bars = False
        for module in imported_modules():
            if not _installed(module):
                ray.cloudpickle.register_pickle_by_value(module)

    def run_stage(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> None:
        """Stream pending shards through Ray Data; commit each once all its rows are written.
        A commit's statistics stay in its shard's marker: the driver keeps only the commits in
        flight, not one result per shard."""
        if publishes_only(ctx.stage):
            self._publish(ctx, pending, on_rows)
            return
        window = max(SHARDS_PER_PIPELINE, SHARDS_PER_CPU * int(self._cpus()))
        for start in range(0, len(pending), window):
            self._stream(ctx, pending[start : start + window], on_rows)
            release_freed_memory()  # else driver memory grows with the shard count

    def _stream(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> None:
        """One Ray Data execution over some of a stage's shards, each committed as it ends."""
        ray = self._ray
        if not pending:
            return
        shards = {s.index: s for s in pending}
        ds = ray.data.from_items([asdict(s) for s in pending], override_num_blocks=len(pending))
        ds = ds.map_batches(
            _read_shards,
            fn_kwargs={"ctx": ctx},
            batch_size=1,
            batch_format="pyarrow",
            num_cpus=1,
        )
        groups = step_groups(ctx.stage.steps)
        share = self._cpu_share([g[0] for g in groups if g[0].kind is StepKind.MODEL])
        for group in groups:
            if group[0].kind is StepKind.MODEL:
                ds = self._actor_pool(ds, group[0], share)
            else:
                ds = ds.map_batches(
                    apply_steps, fn_kwargs={"steps": group}, batch_format="pyarrow", num_cpus=1
                )
        results = ds.map_batches(_write, fn_kwargs={"ctx": ctx}, batch_format="pyarrow", num_cpus=1)
        commit = ray.remote(num_cpus=0)(commit_shard)
        shared_ctx = ray.put(ctx)  # once, not pickled again with every commit
        written: dict[int, int] = {}
        submitted: set[int] = set()
        # Commits take no CPU slot (so they never wait behind the pipeline), hence Ray would
        # start a worker for each one at once: keep a few in flight instead. Their stats are in
        # their markers; waiting on them raises a failed commit's error.
        commits = InFlight(ray, max(2, int(self._cpus())))

        def submit(shard: int) -> None:
            submitted.add(shard)
            commits.add(commit.remote(shared_ctx, shards[shard]))

        for out in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for shard, rows in zip(out["shard"].to_pylist(), out["rows"].to_pylist(), strict=True):
                written[shard] = written.get(shard, 0) + rows
                on_rows(rows)
            # Only shards in this block can have just completed; the rest wait for their rows.
            candidates = sorted(set(out["shard"].to_pylist()) - submitted)
            for shard, complete in in_bulk(
                lambda s: self._complete(ctx, s, written.get(s, 0)), candidates
            ):
                if complete:
                    submit(shard)
        for shard in sorted(shards.keys() - submitted):  # empty shards, or markers written last
            submit(shard)
        commits.finish()

    def _publish(
        self, ctx: StageContext, pending: list[InputShard], on_rows: Callable[[int], None]
    ) -> None:
        """A last stage that only applies decisions: one task per shard writes its final
        files (pipeline/run/publish.py), a few per CPU in flight."""
        ray = self._ray
        task = ray.remote(num_cpus=1)(publish_shard)
        shared_ctx = ray.put(ctx)
        tasks = InFlight(ray, 2 * max(1, int(self._cpus())), on_rows)
        for shard in pending:
            tasks.add(task.remote(shared_ctx, shard))
        tasks.finish()

    def _cpus(self) -> float:
        """CPUs in the Ray cluster."""
        return self._ray.cluster_resources().get("CPU", 1)

    def gpus(self) -> int:
        """GPUs in the Ray cluster."""
        return int(self._ray.cluster_resources().get("GPU", 0))

    def _cpu_share(self, steps: list[Step]) -> float:
        """Scale factor for model actors' CPUs so that one actor of every pool plus one task
        fit in the cluster (else pools hold every CPU and reads starve)."""
        cpus = self._cpus()
        wanted = sum(s.worker_resources().cpus for s in steps)
        return min(1.0, max(cpus - 1, 0.5) / wanted) if wanted else 1.0

    def _actor_pool(self, ds: Any, step: Step, share: float) -> Any:
        """`ds` through an actor pool of a model step: one actor at least, more while CPUs
        allow."""
        res = step.worker_resources().on_cluster(self.gpus())
        cpus_per_actor = res.cpus * share
        cpus = self._cpus()
        size = getattr(step.params, "actors", None) or max(
            1, int((cpus - 1) // cpus_per_actor) if cpus_per_actor else 1
        )
        batch_size = getattr(step.params, "batch_size", None) or getattr(step, "batch_size", 1024)
        on_cpu = self.cpu_fallback and self.gpus() == 0
        return ds.map_batches(
            _model_actor(step),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=self._ray.data.ActorPoolStrategy(min_size=1, max_size=size),
            num_cpus=cpus_per_actor,
            num_gpus=0 if on_cpu else res.gpus,
            memory=res.memory_gb * 2**30 or None,
        )

    @staticmethod
    def _complete(ctx: StageContext, shard: int, written: int) -> bool:
        """True once the shard's reader finished and every row it read has been written."""
        marker = ctx.layout.read_marker(ctx.stage.index, shard, ctx.attempt)
        if not marker.exists():
            return False
        return marker.read_json()["rows"] == written

    def shuffle(
        self, sources: list[Source], resolve: Resolve, dest: Location, buckets: int
    ) -> None:
        """Group rows by bucket with map tasks writing one file per bucket range and one reduce
        task per range (pipeline/global_steps/ray_shuffle.py). A single bucket is one worker's
        job by design, so it runs as one on-disk task."""
        ray = self._ray
        if buckets == 1:
            ray.get(ray.remote(num_cpus=1)(shuffle_on_disk).remote(sources, resolve, dest, 1))
            return
        dest.remove()  # leftovers of an interrupted attempt
        dest.mkdir()
        files = sum(len(s.files) for s in sources)
        cpus = max(1, int(self._cpus()))
        if files:
            shuffle_with_tasks(ray, sources, resolve, dest, buckets, min(files, 2 * cpus))

    def summarise(
        self, files: list[Location], columns: list[str], fn: Summary, size: int
    ) -> np.ndarray:
        """Sum of `fn` over every batch of `files`: tasks over groups of files, summed here."""
        ray = self._ray
        cpus = max(1, int(self._cpus()))
        # A few tasks per CPU of the cluster, however large; their partial sums are added up
        # as they arrive, so the driver holds a few at a time, not one per task.
        tasks = min(len(files), cpus * SUMMARY_TASKS_PER_CPU)
        task = ray.remote(num_cpus=1)(summarise_files)
        running = [task.remote(files[i::tasks], columns, fn, size) for i in range(tasks)]
        total = np.zeros(size, np.int64)
        while running:
            ready, running = ray.wait(running, num_returns=min(len(running), cpus))
            for part in ray.get(ready):
                total += np.asarray(part, np.int64)
        return total

    def close(self) -> None:
        """Leave Ray running for the caller; it shuts down with the process."""


class InFlight:
    """Remote calls kept to `limit` in flight: adding one past it first waits until enough of
    them finish; each result goes to `on_result` (a failed call raises its error)."""

    def __init__(self, ray: Any, limit: int, on_result: Callable[[Any], None] | None = None):
        self.ray, self.limit, self.on_result = ray, limit, on_result
        self.running: list[Any] = []

    def add(self, ref: Any) -> None:
        if len(self.running) >= self.limit:
            done, self.running = self.ray.wait(
                self.running, num_returns=len(self.running) - self.limit + 1
            )
            self._take(done)
        self.running.append(ref)

    def finish(self) -> None:
        """Wait for every call still running."""
        self._take(self.running)
        self.running = []

    def _take(self, refs: list[Any]) -> None:
        for result in self.ray.get(refs):
            if self.on_result is not None:
                self.on_result(result)


def _installed(module: Any) -> bool:
    """True when a module lives in an installed distribution (site-packages), so workers
    import it like tamis itself; a recipe's own module elsewhere travels by value."""
    parts = Path(getattr(module, "__file__", "") or "").parts
    return "site-packages" in parts or "dist-packages" in parts
