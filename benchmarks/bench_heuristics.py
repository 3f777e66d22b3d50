"""Heuristic filters: tamis vs datatrove on the same shards, and tamis local vs Ray.

    make bench            # or: .venv/bin/python benchmarks/bench_heuristics.py [--repeat N]

Both sides run the same rules (Gopher repetition, Gopher quality, C4 with line removal, FineWeb
quality, in FineWeb's order) on one core each, measured side by side in one run. Prints docs/s,
their ratio, and the share of documents on which the two agree (keep/drop).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters import C4, FineWebQuality, GopherQuality, GopherRepetition  # noqa: E402
from pipeline.core.recipe import parse_recipe  # noqa: E402
from pipeline.run.runner import run_recipe  # noqa: E402

BENCH_PY = REPO / ".bench-venv" / "bin" / "python"


def make_shards(folder: Path, repeat: int) -> list[Path]:
    """The sample shards (valid rows only) repeated `repeat` times with fresh ids."""
    folder.mkdir(parents=True)
    paths = []
    for r in range(repeat):
        for shard in sorted((REPO / "samples" / "web").glob("*.parquet")):
            table = pq.read_table(shard, columns=["id", "text"])
            table = table.filter(
                pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["text"])), 0)
            )
            ids = pc.binary_join_element_wise(table["id"], pa.scalar(f"r{r}"), "-")
            path = folder / f"r{r}-{shard.name}"
            pq.write_table(table.set_column(0, "id", ids), path)
            paths.append(path)
    return paths


def run_tamis(paths: list[Path]) -> tuple[dict[str, str | None], float]:
    """First dropping step per id, and seconds, for tamis's filters in one process."""
    steps = [GopherRepetition(), GopherQuality(), C4(remove_lines=True), FineWebQuality()]
    tables = [pq.read_table(p, columns=["id", "text"]) for p in paths]
    verdicts: dict[str, str | None] = {}
    start = time.perf_counter()
    for table in tables:
        for chunk in table.to_batches(max_chunksize=4096):
            live = pa.Table.from_batches([chunk])
            for step in steps:
                live, rejected = step.split(live)
                verdicts.update(
                    zip(rejected["id"].to_pylist(), rejected["reject_reason"].to_pylist())
                )
            verdicts.update((i, None) for i in live["id"].to_pylist())
    return verdicts, time.perf_counter() - start


def run_datatrove(paths: list[Path], scratch: Path) -> tuple[dict[str, str | None], float]:
    """The same, with datatrove in the benchmark venv."""
    out = scratch / "datatrove.parquet"
    done = subprocess.run(
        [
            str(BENCH_PY),
            str(REPO / "benchmarks" / "datatrove_heuristics.py"),
            str(out),
            *map(str, paths),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    table = pq.read_table(out)
    return dict(zip(table["id"].to_pylist(), table["dropped"].to_pylist())), seconds


def run_pipeline(folder: Path, out: Path, runner: str) -> float:
    """Seconds for the whole heuristic recipe (read, filter, write, manifest) with one runner."""
    recipe = parse_recipe(
        {
            "name": f"bench-{runner}",
            "input": {"path": str(folder)},
            "output": {"path": str(out)},
            "steps": [
                {"gopher_repetition": {}},
                {"gopher_quality": {}},
                {"c4": {"remove_lines": True}},
                {"fineweb_quality": {}},
            ],
        }
    )
    start = time.perf_counter()
    run_recipe(recipe, runner=runner, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="copies of the sample shards")
    parser.add_argument("--no-ray", action="store_true", help="skip the local-vs-Ray comparison")
    parser.add_argument("--show", type=int, default=5, help="disagreements to print")
    args = parser.parse_args()
    if not BENCH_PY.exists():
        sys.exit("benchmark venv missing: run `make bench` (it creates .bench-venv with datatrove)")
    scratch = Path(tempfile.mkdtemp(prefix="tamis-bench-"))
    try:
        paths = make_shards(scratch / "in", args.repeat)
        ours, t_ours = run_tamis(paths)
        theirs, t_theirs = run_datatrove(paths, scratch)
        n = len(ours)
        agree = sum((ours[i] is None) == (theirs[i] is None) for i in ours)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"python {platform.python_version()}"
        )
        print(f"documents: {n} ({args.repeat} x samples/web, valid rows)")
        print(f"{'':<12}{'docs/s (1 core)':>16}{'kept':>8}")
        print(f"{'tamis':<12}{n / t_ours:>16.0f}{sum(v is None for v in ours.values()):>8}")
        print(f"{'datatrove':<12}{n / t_theirs:>16.0f}{sum(v is None for v in theirs.values()):>8}")
        print(f"speed ratio tamis/datatrove: {t_theirs / t_ours:.2f}x")
        print(f"keep/drop agreement: {agree / n:.4f} ({n - agree} of {n} differ)")
        confusion = Counter(
            (str(ours[i]).split(":")[0], str(theirs[i]).split(":")[0])
            for i in ours
            if (ours[i] is None) != (theirs[i] is None)
        )
        for (mine, other), count in confusion.most_common():
            print(f"  tamis {mine:<18} datatrove {other:<18} {count}")
        shown = [i for i in ours if (ours[i] is None) != (theirs[i] is None)][: args.show]
        for i in shown:
            print(f"  e.g. {i}: tamis={ours[i]} datatrove={theirs[i]}")
        if not args.no_ray:
            t_local = run_pipeline(scratch / "in", scratch / "out-local", "local")
            import ray

            start = time.perf_counter()
            ray.init(include_dashboard=False, logging_level="ERROR")
            t_init = time.perf_counter() - start
            t_ray = run_pipeline(scratch / "in", scratch / "out-ray", "ray")
            print(
                "pipeline end to end (read + 4 filters + write + manifest), "
                f"{n} docs in {len(paths)} shards:"
            )
            print(f"  local runner (1 process): {n / t_local:.0f} docs/s")
            print(
                f"  Ray runner ({os.cpu_count()} CPUs, Ray already started): "
                f"{n / t_ray:.0f} docs/s "
                f"(ray/local {t_local / t_ray:.2f}x); ray.init took {t_init:.1f} s"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
