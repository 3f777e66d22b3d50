"""Scale: the same recipe on 1x, 4x and 16x the data; throughput and memory per worker.

    make bench-scale      # or: .venv/bin/python benchmarks/bench_scale.py [--quick]

Synthetic shards are the sample shards (samples/web) resampled with noise: each document is a
random sample document with ~8% of its words replaced and ~2% inserted (words drawn from the
whole sample), so documents are mostly distinct; 2% are planted exact copies and 3% near copies
(1% of words replaced) of an earlier document. Shards keep one size at every scale, so bigger
means more shards, and each scale's shards are a prefix of the largest scale's.

Each scale runs `tamis run` in a subprocess (the heuristics recipe plus `minhash_dedup: {}` by
default) with one or more runners (--runners):

    ray      the Ray runner, starting its own local Ray in every run (what `tamis run` does)
    cluster  the Ray runner as a driver connecting to a head the benchmark started once with
             `ray start --head` (RAY_ADDRESS), which is how jobs run on a cluster
    local    the local runner

Prints docs/s end to end and inside the pipeline (the manifest's stage seconds, which leave out
interpreter and Ray start-up), their ratio to 1x (goal: within +-20%), the driver's peak RSS
and the largest peak RSS of any single Ray worker (goal: flat, 16x/1x <= 1.2).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: the repo's tests package is not on the path
from tests.ray_head import RayHead, ray_head  # noqa: E402  (the tests' loopback Ray head)

SAMPLES = REPO / "samples" / "web"
TAMIS = REPO / ".venv" / "bin" / "tamis"
DEFAULT_RECIPE = REPO / "configs" / "web-en-heuristics.yaml"
TOLERANCE = 0.20  # throughput within +-20% of 1x; memory 16x/1x at most 1 + TOLERANCE
# Ray processes that are not workers (they are started once per run, whatever the data size).
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
RUNNERS = ("ray", "cluster", "local")
RAY_RUNNERS = ("ray", "cluster")


# --- synthetic data -------------------------------------------------------------------------


def _noisy(
    words: list[str], rng: np.random.Generator, pool: list[str], sub: float, ins: float
) -> list[str]:
    """`words` with about `sub` of them replaced (two at least) and `ins` inserted, from `pool`.
    Words holding a line break are never replaced, so the line structure survives; a text left
    unchanged that way (e.g. Chinese, no spaces) gets one word inserted instead."""
    n = len(words)
    out = list(words)
    changed = False
    for i in rng.choice(n, size=min(n, max(2, rng.binomial(n, sub))), replace=False):
        if "\n" not in out[i]:
            out[i] = pool[rng.integers(len(pool))]
            changed = True
    inserts = rng.binomial(n, ins) or (0 if changed else 1)
    for i in sorted(rng.choice(n + 1, size=inserts), reverse=True):
        out.insert(int(i), pool[rng.integers(len(pool))])
    return out


def make_corpus(folder: Path, shards: int, shard_rows: int, seed: int) -> list[Path]:
    """`shards` Parquet shards of `shard_rows` rows resampled from samples/web (see above)."""
    sample = pa.concat_tables(pq.read_table(p) for p in sorted(SAMPLES.glob("*.parquet")))
    texts, urls = sample["text"].to_pylist(), sample["url"].to_pylist()
    labels = sample["source"].to_pylist()
    split = [t.split(" ") if isinstance(t, str) else None for t in texts]
    pool = [w for ws in split if ws for w in ws if w and "\n" not in w]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str | None, str | None]] = []  # (text, url) of every document so far
    paths = []
    for s in range(shards):
        rows: dict[str, list] = {"id": [], "text": [], "url": [], "source": []}
        for _ in range(shard_rows):
            i, roll = len(made), rng.random()
            j = int(rng.integers(i)) if i else 0
            if i and roll < 0.02:  # planted exact copy of an earlier document
                (text, url), label = made[j], "syn:exact"
            elif i and roll < 0.05 and made[j][0] is not None:  # planted near copy
                text = " ".join(_noisy(made[j][0].split(" "), rng, pool, 0.01, 0.0))
                url, label = made[j][1], "syn:near"
            else:  # a fresh noisy resample (null and empty texts stay as they are)
                k = int(rng.integers(len(texts)))
                ws = split[k]
                text = " ".join(_noisy(ws, rng, pool, 0.08, 0.02)) if ws else texts[k]
                url, label = urls[k], labels[k]
            made.append((text, url))
            rows["id"].append(f"syn-{i:08d}")
            rows["text"].append(text)
            rows["url"].append(url)
            rows["source"].append(label)
        path = folder / f"part-{s:05d}.parquet"
        pq.write_table(pa.table(rows, schema=sample.schema), path, compression="zstd")
        paths.append(path)
    return paths


def link_prefix(corpus: list[Path], folder: Path, shards: int) -> Path:
    """A folder holding the first `shards` corpus shards (hard links; copies if not possible)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in corpus[:shards]:
        try:
            os.link(path, folder / path.name)
        except OSError:
            shutil.copy(path, folder / path.name)
    return folder


def write_recipe(base: Path, dest: Path, minhash: bool, rows_per_bucket: int | None) -> Path:
    """`base` renamed to bench-scale, with `minhash_dedup: {}` appended unless it has one, and
    every dedup step's `rows_per_bucket` set if given."""
    recipe = yaml.safe_load(base.read_text())
    recipe["name"] = "bench-scale"
    if minhash and not any("minhash_dedup" in step for step in recipe["steps"]):
        recipe["steps"].append({"minhash_dedup": {}})
    for step in recipe["steps"]:
        name = next(iter(step))
        if rows_per_bucket and name.endswith("_dedup"):
            step[name] = {**(step[name] or {}), "rows_per_bucket": rows_per_bucket}
    dest.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return dest


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Peaks:
    """Peak RSS of a run's process tree, polled: per worker, and the whole tree at once."""

    workers: dict[int, tuple[int, str]] = field(default_factory=dict)  # pid -> (rss, title)
    last_task: dict[int, str] = field(default_factory=dict)  # pid -> last title not IDLE
    worker_rss: int = 0  # largest RSS of one worker, shared pages included
    driver: int = 0
    tree: int = 0
    seen: set[int] = field(default_factory=set)

    def worker_max(self) -> tuple[int, str]:
        return max(self.workers.values(), default=(0, "-"))


def _title(proc: psutil.Process) -> str | None:
    """The Ray title of a worker process (`ray::IDLE`, `ray::MapBatches(...)`), else None."""
    cmd = proc.cmdline()
    line = " ".join(cmd)
    if cmd and cmd[0].startswith("ray::"):
        title = line.strip()
        return None if title.startswith(RAY_AGENTS) else title
    if "default_worker.py" in line:
        return "default_worker.py (starting)"
    return None


def _tree(pids: list[int]) -> list[psutil.Process]:
    """The processes `pids` and everything under them that is still alive."""
    procs = []
    for root in _alive(set(pids)):
        try:
            procs += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


def watch(
    pid: int, roots: list[int], skip: set[int], peaks: Peaks, stop: threading.Event, every: float
) -> None:
    """Poll the RSS of the driver `pid` and the processes under `roots`, less `skip`."""
    while not stop.is_set():
        procs = [p for p in _tree([pid, *roots]) if p.pid not in skip]
        if not any(p.pid == pid for p in procs):  # the driver has gone
            return
        total = 0
        for proc in procs:
            try:
                info = proc.memory_info()
                rss = info.rss
                title = _title(proc) if proc.pid != pid else None
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            peaks.seen.add(proc.pid)
            total += rss
            if proc.pid == pid:
                peaks.driver = max(peaks.driver, rss)
            if title is not None and title != "ray::IDLE":
                peaks.last_task[proc.pid] = title
            # A worker's own memory as Ray's memory monitor counts it: RSS less shared pages,
            # which are mostly the object store's shared memory it has touched.
            own = rss - getattr(info, "shared", 0)
            if title is not None and own > peaks.workers.get(proc.pid, (0, ""))[0]:
                if title == "ray::IDLE" and proc.pid in peaks.last_task:
                    title = f"ray::IDLE after {peaks.last_task[proc.pid]}"
                peaks.workers[proc.pid] = (own, title)
            if title is not None:
                peaks.worker_rss = max(peaks.worker_rss, rss)
        peaks.tree = max(peaks.tree, total)
        stop.wait(every)


@dataclass
class Result:
    runner: str
    scale: int
    docs: int
    shards: int
    wall: float
    pipeline: float  # sum of the manifest's stage seconds
    driver_rss: int
    worker_rss: int  # RSS less shared pages
    worker_plain_rss: int  # shared pages included
    worker_title: str
    worker_procs: int  # Ray worker processes seen during the run
    tree_rss: int
    load: float
    stages: list[dict]
    decide: dict[str, float]
    duplicates: dict[str, int]
    kept: int


def raylet_of(head: RayHead, timeout: float = 60) -> int:
    """The pid of the head's raylet (its workers are the raylet's children); it starts a moment
    after the head's dashboard answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in _tree([head.pid]):
            with contextlib.suppress(psutil.Error):
                if proc.name() == "raylet":
                    return proc.pid
        time.sleep(0.5)
    raise RuntimeError(f"the Ray head at {head.gcs} started no raylet in {timeout:.0f} s")


def run_one(
    recipe: Path,
    data: Path,
    out: Path,
    runner: str,
    scale: int,
    log: Path,
    every: float,
    limit: int | None = None,
    head: RayHead | None = None,
) -> Result:
    """`tamis run` on `data` in a subprocess, watched; numbers from its manifest. With `head`,
    the run is a driver connecting to that cluster; without, a Ray runner starts its own."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a fresh local Ray
    if head is not None:
        env = {**head.env, "RAY_ADDRESS": head.gcs}
    cmd = [str(TAMIS), "run", str(recipe), "--input", str(data), "--output", str(out)]
    cmd += ["--runner", "local" if runner == "local" else "ray", "--quiet", "--overwrite"]
    cmd += ["--limit", str(limit)] if limit else []
    # On a cluster the run's workers are the raylet's children, beside the head's own processes
    # and the detached actors earlier runs left (Ray Data's stats and autoscaling actors).
    roots = [raylet_of(head)] if head is not None else []
    lasting = {p.pid for p in _tree([head.pid])} if head is not None else set()
    load = os.getloadavg()[0]
    peaks, stop = Peaks(), threading.Event()
    with log.open("w") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        watcher = threading.Thread(
            target=watch, args=(proc.pid, roots, lasting, peaks, stop, every)
        )
        watcher.start()
        proc.wait()
        wall = time.perf_counter() - start
        stop.set()
        watcher.join()
    # The run's workers outlive the driver by a moment: let them go before the next run.
    psutil.wait_procs(_alive(peaks.seen - {proc.pid}), timeout=20)
    if proc.returncode != 0:
        sys.exit(f"tamis run failed ({proc.returncode}); log: {log}\n{log.read_text()[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    steps = {s["step"]: s for s in manifest["steps"]}
    worker_rss, title = peaks.worker_max()
    return Result(
        runner=runner,
        scale=scale,
        docs=manifest["rows"]["in"],
        shards=len(manifest["shards"]),
        wall=wall,
        pipeline=sum(s["seconds"] for s in manifest["run"]["stages"]),
        driver_rss=peaks.driver,
        worker_rss=worker_rss,
        worker_plain_rss=peaks.worker_rss,
        worker_title=title,
        worker_procs=len(peaks.workers),
        tree_rss=peaks.tree,
        load=load,
        stages=manifest["run"]["stages"],
        decide={n: s["global"]["seconds"] for n, s in steps.items() if "global" in s},
        duplicates={n: s["rejected"] for n, s in steps.items() if n.endswith("dedup")},
        kept=manifest["rows"]["kept"],
    )


def _alive(pids: set[int]) -> list[psutil.Process]:
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return procs


# --- report -------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f}"


def _verdict(ratio: float, low: float, high: float) -> str:
    return "PASS" if low <= ratio <= high else "FAIL"


# Two ways of timing a run: from process start to exit, and the pipeline's own stages.
CLOCKS = {"end to end": lambda r: r.wall, "in pipeline": lambda r: r.pipeline}


def report(results: list[Result]) -> None:
    """The main table, a per-stage breakdown and the verdicts, per runner."""
    print(
        f"{'runner':<7}{'scale':>6}{'docs':>8}{'shards':>7}{'wall s':>8}{'pipe s':>8}"
        f"{'outside s':>10}{'docs/s e2e':>11}{'docs/s pipe':>12}{'e2e/1x':>8}{'pipe/1x':>8}"
        f"{'driver MB':>10}{'worker MB':>10}{'w RSS MB':>9}{'workers':>8}{'tree MB':>9}"
        f"{'load':>6}"
    )
    for r in results:
        base = next(b for b in results if b.runner == r.runner)
        e2e, pipe = r.docs / r.wall, r.docs / r.pipeline
        ray = r.runner in RAY_RUNNERS
        worker = _mb(r.worker_rss) if ray else "-"
        plain = _mb(r.worker_plain_rss) if ray else "-"
        procs = r.worker_procs if ray else "-"
        print(
            f"{r.runner:<7}{r.scale:>5}x{r.docs:>8}{r.shards:>7}{r.wall:>8.1f}{r.pipeline:>8.1f}"
            f"{r.wall - r.pipeline:>10.1f}{e2e:>11.0f}{pipe:>12.0f}"
            f"{e2e / (base.docs / base.wall):>8.2f}{pipe / (base.docs / base.pipeline):>8.2f}"
            f"{_mb(r.driver_rss):>10}{worker:>10}{plain:>9}{procs:>8}{_mb(r.tree_rss):>9}"
            f"{r.load:>6.1f}"
        )
    print("\nper stage, seconds per 1k docs (flat = scales linearly); global decide s; dup rate")
    for r in results:
        stages = "  ".join(f"s{s['stage']} {1000 * s['seconds'] / r.docs:5.2f}" for s in r.stages)
        decide = "  ".join(f"{n} {s:.1f}" for n, s in r.decide.items())
        dups = "  ".join(f"{n} {100 * d / r.docs:.1f}%" for n, d in r.duplicates.items())
        worker = f"  worker peak: {r.worker_title[:40]}" if r.runner in RAY_RUNNERS else ""
        print(f"{r.runner:<7}{r.scale:>3}x  {stages}  | decide {decide}  | {dups}{worker}")
    print()
    lo, hi = 1 - TOLERANCE, 1 + TOLERANCE
    for runner in dict.fromkeys(r.runner for r in results):
        rows = [r for r in results if r.runner == runner]
        first, last = rows[0], rows[-1]
        for label, clock in CLOCKS.items():
            ratios = [(r.docs / clock(r)) / (first.docs / clock(first)) for r in rows[1:]]
            worst = max(ratios, key=lambda x: abs(x - 1), default=1.0)
            print(
                f"{runner}: docs/s {label}, furthest from {first.scale}x: {worst:.2f}x "
                f"{_verdict(worst, lo, hi)} (within +-{TOLERANCE:.0%})"
            )
        if len(rows) > 1:  # seconds = fixed + docs / marginal rate, over the two largest scales
            a, b = rows[-2], rows[-1]
            for label, clock in CLOCKS.items():
                rate = (b.docs - a.docs) / max(clock(b) - clock(a), 1e-9)
                print(
                    f"{runner}: {label}, {a.scale}x -> {b.scale}x: marginal {rate:.0f} docs/s, "
                    f"fixed cost {clock(a) - a.docs / rate:.1f} s"
                )
        memory = [("driver", first.driver_rss, last.driver_rss)]
        if runner in RAY_RUNNERS:
            memory.append(("largest worker", first.worker_rss, last.worker_rss))
        for label, small, big in memory:
            ratio = big / small if small else float("nan")
            print(
                f"{runner}: peak RSS {label} {last.scale}x/{first.scale}x {ratio:.2f} "
                f"{_verdict(ratio, 0, hi)} (<= {hi:.1f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=3960, help="docs at 1x (rounded to shards)")
    parser.add_argument("--scales", default="1,4,16", help="comma-separated multiples of --base")
    parser.add_argument(
        "--runners", default="ray", help=f"comma-separated: {', '.join(RUNNERS)} (see above)"
    )
    parser.add_argument("--shard-rows", type=int, default=990, help="rows per synthetic shard")
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="recipe to run")
    parser.add_argument("--no-minhash", action="store_true", help="do not append minhash_dedup")
    parser.add_argument(
        "--rows-per-bucket",
        type=int,
        help="rows_per_bucket of every dedup step (default: the steps' own, 1M); smaller "
        "buckets fill at 1x already, so per-worker memory compares like with like",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: scales 1,2, base 1980")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between RSS polls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    if args.quick:
        args.base, args.scales = 1980, "1,2"
    scales = sorted({int(s) for s in args.scales.split(",")})
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    if not runners or not set(runners) <= set(RUNNERS):
        sys.exit(f"--runners: expected some of {', '.join(RUNNERS)}, got {args.runners!r}")
    shards_1x = max(1, round(args.base / args.shard_rows))
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="tamis-bench-scale-"))
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}"
        )
        start = time.perf_counter()
        corpus = make_corpus(scratch / "corpus", shards_1x * scales[-1], args.shard_rows, args.seed)
        print(
            f"data: {len(corpus)} shards x {args.shard_rows} rows synthesised in "
            f"{time.perf_counter() - start:.0f} s; 1x = {shards_1x} shards "
            f"({shards_1x * args.shard_rows} docs); scales {scales}"
        )
        recipe = write_recipe(
            args.recipe, scratch / "recipe.yaml", not args.no_minhash, args.rows_per_bucket
        )
        steps = [next(iter(s)) for s in yaml.safe_load(recipe.read_text())["steps"]]
        buckets = (
            f" (dedup rows_per_bucket {args.rows_per_bucket:,})" if args.rows_per_bucket else ""
        )
        print(f"recipe: {args.recipe.name} -> {', '.join(steps)}{buckets}")
        inputs = {s: link_prefix(corpus, scratch / f"in-{s}x", shards_1x * s) for s in scales}
        results = []
        for runner in runners:
            cluster = ray_head(num_cpus=os.cpu_count() or 1) if runner == "cluster" else None
            with cluster or contextlib.nullcontext() as head:
                if head is not None:
                    print(f"  cluster: ray start --head at {head.gcs}", flush=True)
                # Untimed warm-up: imports and page cache, so 1x pays no more than the others.
                warm, warm_log = scratch / "out-warm", scratch / f"{runner}-warm.log"
                data = inputs[scales[0]]
                run_one(recipe, data, warm, runner, 0, warm_log, every=0.5, limit=500, head=head)
                shutil.rmtree(warm)
                for scale in scales:
                    out = scratch / f"out-{runner}-{scale}x"
                    log = scratch / f"{runner}-{scale}x.log"
                    data = inputs[scale]
                    r = run_one(recipe, data, out, runner, scale, log, every=args.poll, head=head)
                    results.append(r)
                    shutil.rmtree(out)
                    print(
                        f"  {runner} {scale}x: {r.docs} docs in {r.wall:.1f} s "
                        f"(pipeline {r.pipeline:.1f} s), {r.kept} kept",
                        flush=True,
                    )
        print(
            "\nwall = subprocess start to exit; pipe = sum of the manifest's stage seconds "
            "(no interpreter or Ray start-up); outside = wall - pipe; "
            "driver = peak RSS of the `tamis run` process; worker = largest peak of one Ray "
            "worker's own memory (RSS less shared pages, as Ray's memory monitor counts it: "
            "shared pages are mostly object-store memory the worker touched); w RSS = the "
            f"largest plain RSS of one worker (all polled every {args.poll} s); workers = Ray "
            "worker processes seen; tree = peak RSS summed over the run's processes (shared "
            "memory counted in each)\n"
        )
        report(results)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
