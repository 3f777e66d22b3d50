"""Driver and task cost per shard as the shard count grows: 1k, 10k and 30k tiny shards.

    make bench-shards      # or: .venv/bin/python benchmarks/bench_shards.py [--sizes 1000 3000]

Each shard is a tiny Parquet file (a few rows), so a run is almost all per-shard overhead: the
driver's planning, marker checks, task submissions and commits, and each task's own start-up and
payload. Each size runs the Ray runner (a local Ray with --cpus CPUs) in a fresh subprocess on
a light recipe (exact dedup, then one heuristic filter: two stages and one global decision),
and reports:

    driver ms/shard   CPU seconds of the driver process during the run, per shard
    task ms/shard     CPU seconds of the Ray worker processes during the run, per shard
    wall ms/shard     the run's wall seconds, per shard
    driver MB         the driver's peak RSS

with each figure's ratio to the smallest size (goal: within 1.3x). Ray's start-up is left out:
the clock starts once Ray is up. The machine is shared, so compare ratios, not absolutes.

`--phases` adds the driver's RSS by phase of the run (each stage's decisions and row work, then
the manifest: markers read, reconciled, written), sampled every 0.25 s: where the peak is.

`--engine` adds bare Ray Data's figures over the same shards: the runner's windows, two
passes that read each shard and return its row count, no tamis code. What the engine's own
driver grows by is the floor for ours.

First it prints what one read task and one commit call carry at each size (bytes, and the
read task's unpickle time), from the objects the runner hands Ray (`--payloads-only`: just
that, in a second). Driver and task CPU include Ray's own threads, which burn CPU while a run
waits, so on a loaded machine they rise with wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
GOAL = 1.3  # largest / smallest size, per shard (memory: absolute)
RAY_SERVICES = ("gcs_server", "raylet", "dashboard", "log_monitor", "ray::DashboardAgent")
WORDS = "the quick brown fox jumps over a lazy dog while seven wise owls watch quietly".split()


def make_shards(folder: Path, count: int, rows: int) -> None:
    """`count` tiny Parquet shards of `rows` documents each (every 17th a copy of one of a few
    documents, so exact dedup finds something)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        texts = []
        for r in range(rows):
            n = i * rows + r
            seed = n % 5 if n % 17 == 0 else n
            pick = np.random.default_rng(seed).integers(len(WORDS), size=(5, 9))
            texts.append(
                "\n".join(" ".join(WORDS[w] for w in line).capitalize() + "." for line in pick)
            )
        table = pa.table({"id": [f"{i}-{r}" for r in range(rows)], "text": texts})
        pq.write_table(table, folder / f"shard-{i:06d}.parquet", compression="none")


def recipe_dict(inp: Path, out: Path) -> dict:
    return {
        "name": "bench-shards",
        "input": {"path": str(inp), "format": "parquet"},
        "output": {"path": str(out)},
        "steps": [{"exact_dedup": {}}, {"c4": {"remove_lines": False}}],
    }


class WorkerCpu:
    """CPU seconds of a process tree's Ray workers, polled (a worker's time is kept once it
    exits, from its last poll)."""

    def __init__(self, root: int, every: float = 0.2):
        self.root, self.every = root, every
        self.seen: dict[tuple[int, float], float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        try:
            children = psutil.Process(self.root).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for proc in children:
            try:
                name = " ".join(proc.cmdline()[:1])
                if any(s in name for s in RAY_SERVICES) or "reaper" in " ".join(proc.cmdline()):
                    continue
                cpu = proc.cpu_times()
                self.seen[(proc.pid, proc.create_time())] = cpu.user + cpu.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue

    def total(self) -> float:
        return sum(self.seen.values())


class Phases:
    """The driver's RSS through a run, by phase (each stage's decisions and row work, then the
    manifest: markers read, reconciled, written), sampled every `every` seconds."""

    def __init__(self, every: float = 0.25):
        self.me = psutil.Process()
        self.samples: list[tuple[float, float]] = []
        self.spans: list[tuple[str, float, float, float, float]] = []
        self.stop = threading.Event()
        self.every = every
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def rss(self) -> float:
        return self.me.memory_info().rss / 2**20

    def _poll(self) -> None:
        while not self.stop.wait(self.every):
            self.samples.append((time.perf_counter(), self.rss()))

    def watch(self, module: Any, name: str, label: Callable[..., str]) -> None:
        """Record each call of `module.name` as a phase named by `label(*args)`."""
        fn = getattr(module, name)

        def watched(*args: Any, **kwargs: Any) -> Any:
            t0, mb0 = time.perf_counter(), self.rss()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spans.append((label(*args), t0, mb0, time.perf_counter(), self.rss()))

        setattr(module, name, watched)

    def table(self) -> list[dict]:
        rows = []
        for name, t0, mb0, t1, mb1 in self.spans:
            inside = [mb for t, mb in self.samples if t0 <= t <= t1]
            rows.append(
                {
                    "phase": name,
                    "seconds": round(t1 - t0, 1),
                    "start_mb": round(mb0, 1),
                    "end_mb": round(mb1, 1),
                    "max_mb": round(max([mb0, mb1, *inside]), 1),
                }
            )
        return rows


def watch_phases() -> Phases:
    """Phases of the runner's own steps, as `run_recipe` calls them."""
    from pipeline.run import runner

    phases = Phases()
    phases.watch(runner, "decide", lambda ex, plan, stage, *_: f"stage {stage.index} decide")
    phases.watch(runner, "run_stage", lambda ex, plan, stage, *_: f"stage {stage.index} rows")
    phases.watch(runner, "build_manifest", lambda *_: "manifest: markers")
    phases.watch(runner, "reconcile", lambda *_: "manifest: reconcile")
    phases.watch(runner, "write_manifest", lambda *_: "manifest: write")
    phases.thread.start()
    return phases


def child(inp: Path, out: Path, cpus: int, phases: bool = False) -> None:
    """One measured run (in its own process): prints a JSON line of figures."""
    from pipeline.core.recipe import parse_recipe
    from pipeline.run.ray_executor import RayExecutor
    from pipeline.run.runner import run_recipe

    RayExecutor(num_cpus=cpus)  # Ray starts here, outside the measured span
    watched = watch_phases() if phases else None
    workers = WorkerCpu(os.getpid())
    workers.sample()
    before_workers = workers.total()
    workers.thread.start()
    me = psutil.Process()
    cpu0, t0 = me.cpu_times(), time.perf_counter()
    manifest = run_recipe(parse_recipe(recipe_dict(inp, out)), runner="ray", progress=False)
    wall = time.perf_counter() - t0
    if watched:
        watched.stop.set()
    cpu1 = me.cpu_times()
    workers.stop.set()
    workers.sample()
    print(
        json.dumps(
            {
                "shards": len(manifest["shards"]),
                "rows": manifest["rows"],
                "driver_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
                "task_s": workers.total() - before_workers,
                "wall_s": wall,
                "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "stray_pieces": manifest["run"].get("stray_pieces"),
                "stages_s": [s["seconds"] for s in manifest["run"]["stages"]],
                "decide_s": [s["global"]["seconds"] for s in manifest["steps"] if "global" in s],
                **({"phases": watched.table()} if watched else {}),
            }
        ),
        flush=True,
    )


def _count_rows(batch: pa.Table) -> pa.Table:
    """A bare pass's row work: read each shard named in the batch, return its row count."""
    counts = [pq.read_table(path).num_rows for path in batch["path"].to_pylist()]
    return pa.table({"path": batch["path"], "rows": counts})


def engine_child(inp: Path, cpus: int) -> None:
    """The engine alone, for comparison: the same shards through bare Ray Data, in the
    runner's windows, twice (two stages), with no tamis code; prints a JSON line."""
    import ray

    from pipeline.run.ray_executor import SHARDS_PER_CPU, SHARDS_PER_PIPELINE

    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    paths = sorted(str(p) for p in inp.glob("*.parquet"))
    window = max(SHARDS_PER_PIPELINE, SHARDS_PER_CPU * cpus)
    me = psutil.Process()
    cpu0, t0 = me.cpu_times(), time.perf_counter()
    rows = 0
    for _ in range(2):
        for start in range(0, len(paths), window):
            part = paths[start : start + window]
            ds = ray.data.from_items([{"path": p} for p in part], override_num_blocks=len(part))
            ds = ds.map_batches(_count_rows, batch_size=1, batch_format="pyarrow", num_cpus=1)
            for out in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                rows += sum(out["rows"].to_pylist())
    cpu1 = me.cpu_times()
    print(
        json.dumps(
            {
                "shards": len(paths),
                "rows": rows // 2,
                "driver_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
                "wall_s": time.perf_counter() - t0,
                "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


def measure(
    size: int, base: Path, rows: int, cpus: int, engine: bool = False, phases: bool = False
) -> dict:
    """Run one size in a subprocess (tamis' Ray runner, or with `engine` bare Ray Data)."""
    inp, out = base / f"in-{size}", base / f"out-{size}"
    if not inp.exists():
        make_shards(inp, size, rows)
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resumed one
    args = [sys.executable, __file__, "--child", str(inp), str(out), "--cpus", str(cpus)]
    args += ["--engine"] if engine else []
    args += ["--phases"] if phases else []
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"size {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def report(results: list[dict]) -> None:
    first = results[0]

    def per(r: dict, key: str) -> float:
        return 1000 * r[key] / r["shards"]

    print(
        f"{'shards':>8}{'driver ms/sh':>14}{'x':>6}{'task ms/sh':>12}{'x':>6}"
        f"{'wall ms/sh':>12}{'x':>6}{'driver MB':>11}{'x':>6}"
    )
    for r in results:
        cells = []
        for key in ("driver_s", "task_s", "wall_s"):
            cells.append(f"{per(r, key):>12.2f}{per(r, key) / per(first, key):>6.2f}")
        rss = r["driver_rss_mb"]
        print(
            f"{r['shards']:>8}{cells[0]:>14}{cells[1]}{cells[2]}"
            f"{rss:>11.0f}{rss / first['driver_rss_mb']:>6.2f}"
        )
    last = results[-1]
    worst = max(
        per(last, "driver_s") / per(first, "driver_s"),
        per(last, "task_s") / per(first, "task_s"),
        last["driver_rss_mb"] / first["driver_rss_mb"],
    )
    verdict = "within" if worst <= GOAL else "OVER"
    print(
        f"largest/smallest, worst of driver, task and RSS: {worst:.2f} ({verdict} {GOAL}x); "
        "wall is shown for reference (2 CPUs shared with Ray's own services)"
    )


def report_phases(results: list[dict]) -> None:
    """The driver's RSS at the start and end of each phase, and its highest within."""
    for r in results:
        print(f"{r['shards']} shards, driver RSS by phase (MB):")
        print(f"  {'phase':<22}{'seconds':>9}{'start':>8}{'end':>8}{'max':>8}")
        for p in r["phases"]:
            print(
                f"  {p['phase']:<22}{p['seconds']:>9.1f}{p['start_mb']:>8.1f}"
                f"{p['end_mb']:>8.1f}{p['max_mb']:>8.1f}"
            )


def report_engine(ours: list[dict], bare: list[dict]) -> None:
    """Driver CPU and peak RSS growth of tamis' runner next to bare Ray Data's."""
    print("the engine alone: bare Ray Data, same shards and windows, two passes, no tamis code")
    head = f"{'shards':>8}{'driver ms/sh':>14}{'x':>6}{'driver MB':>11}{'x':>6}"
    print(head + f"{'tamis MB':>10}{'x':>6}")
    for r, t in zip(bare, ours, strict=True):
        ms, ms0 = (1000 * x["driver_s"] / x["shards"] for x in (r, bare[0]))
        mb, tmb = r["driver_rss_mb"], t["driver_rss_mb"]
        mbx, tmbx = mb / bare[0]["driver_rss_mb"], tmb / ours[0]["driver_rss_mb"]
        print(
            f"{r['shards']:>8}{ms:>14.2f}{ms / ms0:>6.2f}{mb:>11.0f}{mbx:>6.2f}"
            f"{tmb:>10.0f}{tmbx:>6.2f}"
        )
    growth = [(x[-1]["driver_rss_mb"] - x[0]["driver_rss_mb"]) for x in (ours, bare)]
    print(
        f"driver RSS growth, largest - smallest size: tamis {growth[0]:.0f} MB, "
        f"bare Ray Data {growth[1]:.0f} MB"
    )


def payloads(sizes: list[int], base: Path) -> None:
    """Bytes a read task and a commit call carry at each size, and the time to unpickle the
    read task's (no Ray: the objects the runner hands Ray, for synthetic shards)."""
    import pickle
    from dataclasses import asdict, replace

    from pipeline.core.recipe import parse_recipe
    from pipeline.run.plan import plan_run
    from pipeline.run.runner import stage_context

    inp = base / "in-payload"
    if not inp.exists():
        make_shards(inp, 2, 3)
    plan = plan_run(parse_recipe(recipe_dict(inp, base / "out-payload")), limit=10**9)
    ctx = stage_context(plan, plan.stages[1], "0123456789ab")
    print(f"{'shards':>8}{'read task KB':>14}{'unpickle ms':>13}{'commit call KB':>16}")
    for size in sorted(sizes):
        last = replace(plan.shards[0], index=size - 1, limit=1000)  # the last of `size` shards
        read = pickle.dumps({"ctx": ctx}) + pickle.dumps(asdict(last))  # kwargs + its own row
        t0 = time.perf_counter()
        for _ in range(20):
            pickle.loads(read)
        ms = 1000 * (time.perf_counter() - t0) / 20
        commit = pickle.dumps(last)  # the stage's context goes by reference, put once
        print(f"{size:>8}{len(read) / 1024:>14.1f}{ms:>13.2f}{len(commit) / 1024:>16.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 30000])
    parser.add_argument("--rows", type=int, default=3, help="rows per shard")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--work", type=Path, help="folder for shards and outputs (kept)")
    parser.add_argument("--payloads-only", action="store_true", help="skip the Ray runs")
    parser.add_argument(
        "--engine",
        action="store_true",
        help="also run bare Ray Data over the same shards and windows (driver CPU and RSS)",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="also sample the driver's RSS by phase (decisions, row work, manifest)",
    )
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.engine:
            engine_child(args.child[0], args.cpus)
        else:
            child(*args.child, args.cpus, args.phases)
        return
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        base = args.work or Path(tmp)
        payloads(args.sizes, base)
        if args.payloads_only:
            return
        results = []
        for size in sorted(args.sizes):
            result = measure(size, base, args.rows, args.cpus, phases=args.phases)
            print(f"{size} shards: {json.dumps(result)}", flush=True)
            results.append(result)
        report(results)
        if args.phases:
            report_phases(results)
        if args.engine:
            bare = []
            for size in sorted(args.sizes):
                bare.append(measure(size, base, args.rows, args.cpus, engine=True))
                print(f"{size} shards, bare Ray Data: {json.dumps(bare[-1])}", flush=True)
            report_engine(results, bare)


if __name__ == "__main__":
    main()
