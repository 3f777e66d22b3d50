"""GPU placement and busy fraction on a Ray node with one logical GPU.

    .venv/bin/python benchmarks/bench_gpu_busy.py [--shards 8] [--rows 500] [--work-ms 30]

Runs a two-step recipe on a local Ray started with `num_gpus=1` (CUDA_VISIBLE_DEVICES=0, as on
a GPU machine): a CPU probe scorer, then a probe that runs on CUDA when it can (auto_gpus=1)
and sleeps --work-ms per batch in place of GPU work. Every batch records its worker's pid,
CUDA_VISIBLE_DEVICES, ray.get_gpu_ids() and its wall-clock start and end. Prints, per step:

    seen             CUDA_VISIBLE_DEVICES and GPU ids of its workers (GPU step: '0' ['0'];
                     CPU step: '' [], no GPU though every process of the node could see it)
    actors           worker processes it ran in
    actor up         seconds from the run's start to the step's object reaching its worker
    first batch      seconds from the run's start to its first batch (the placement delay)
    busy (span)      union of its batch intervals / first batch start to last batch end
    busy (run)       the same union / the run's wall time
    batches, rows/s  over its span

Exits non-zero if the GPU step did not get the GPU or the CPU step saw one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from string import Template

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
# What each probe batch records (column suffix -> Arrow type).
FIELDS = {"pid": "int64", "cuda": "string", "gpus": "string"} | dict.fromkeys(
    ("up", "start", "end"), "float64"
)

PROBES = Template('''
import os
import time

import pyarrow as pa
import ray

from pipeline.core.columns import set_column
from pipeline.core.registry import register
from pipeline.core.resources import Resources
from scorers.base import Scorer

FIELDS = $fields


def columns(prefix):
    return {f"{prefix}_{name}": getattr(pa, kind)() for name, kind in FIELDS.items()}


class Probe(Scorer):
    """Sleeps `work_s` per batch; records where and when each batch ran."""

    resources = Resources(cpus=0.5)
    batch_size = $batch
    prefix = "cpu"
    work_s = 0.0
    outputs = columns("cpu")

    def __setstate__(self, state):
        super().__setstate__(state)
        self.up = time.time()  # the step reaches its actor, pickled with the actor class

    def score(self, batch):
        start = time.time()
        time.sleep(self.work_s)
        cuda = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
        seen = {"pid": os.getpid(), "cuda": cuda, "gpus": str(ray.get_gpu_ids()),
                "up": getattr(self, "up", start), "start": start, "end": time.time()}
        for name, value in seen.items():
            batch = set_column(batch, f"{self.prefix}_{name}", pa.array([value] * batch.num_rows))
        return batch


@register("busy_cpu_probe")
class CpuProbe(Probe):
    """A CPU model: never asks for a GPU."""


@register("busy_gpu_probe")
class GpuProbe(Probe):
    """Runs on CUDA when it can."""

    resources = Resources(cpus=0.5, auto_gpus=1)
    prefix = "gpu"
    work_s = $work_s
    outputs = columns("gpu")
''')

DRIVER = """
import json, sys, time

import ray

ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe

recipe = parse_recipe(json.loads(sys.argv[1]))
start = time.time()
run_recipe(recipe, "ray", progress=False)
json.dump({"start": start, "end": time.time()}, open(sys.argv[2], "w"))
"""


def union(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of `intervals`."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total


def step_figures(kept: pa.Table, prefix: str, run: dict[str, float]) -> dict[str, object]:
    """What one probe step's batches show, from its columns of the kept rows."""
    rows = kept.select([f"{prefix}_{k}" for k in FIELDS]).to_pylist()
    batches = {(r[f"{prefix}_pid"], r[f"{prefix}_start"]): r for r in rows}.values()
    spans = [(b[f"{prefix}_start"], b[f"{prefix}_end"]) for b in batches]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    busy = union(spans)
    return {
        "seen": sorted({f"{r[f'{prefix}_cuda']!r} {r[f'{prefix}_gpus']}" for r in rows}),
        "actors": len({r[f"{prefix}_pid"] for r in rows}),
        "actor up s": min(r[f"{prefix}_up"] for r in rows) - run["start"],
        "first batch s": first - run["start"],
        "busy (span)": busy / (last - first),
        "busy (run)": busy / (run["end"] - run["start"]),
        "batches": len(spans),
        "rows/s": len(rows) / (last - first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rows", type=int, default=500, help="rows per shard")
    parser.add_argument("--batch", type=int, default=50, help="rows per model batch")
    parser.add_argument("--work-ms", type=float, default=30, help="GPU step's sleep per batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        for i in range(args.shards):
            ids = [f"s{i}-{r}" for r in range(args.rows)]
            texts = [f"document {i}/{r} about rivers and hills" for r in range(args.rows)]
            pq.write_table(pa.table({"id": ids, "text": texts}), root / "in" / f"{i:03d}.parquet")
        probes = PROBES.substitute(fields=FIELDS, batch=args.batch, work_s=args.work_ms / 1000)
        (root / "busy_probes.py").write_text(probes)
        recipe = {
            "name": "gpu-busy",
            "imports": ["busy_probes"],
            "input": {"path": str(root / "in")},
            "output": {"path": str(root / "out"), "report": False, "tokenizer": None},
            "steps": [{"busy_cpu_probe": {}}, {"busy_gpu_probe": {}}],
        }
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "0",  # every process of the node could reach the GPU
            "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
            "RAY_ADDRESS": "",
        }
        command = [sys.executable, "-c", DRIVER, json.dumps(recipe), str(root / "run.json")]
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        run = json.loads((root / "run.json").read_text())
        kept = pq.read_table(root / "out" / "kept")
    assert kept.num_rows == args.shards * args.rows, kept.num_rows
    gpu, cpu = step_figures(kept, "gpu", run), step_figures(kept, "cpu", run)
    print(
        f"run: {run['end'] - run['start']:.2f} s, {kept.num_rows} rows, "
        f"GPU step sleeps {args.work_ms:g} ms per {args.batch}-row batch"
    )
    print(f"{'':14}{'GPU step':>22}{'CPU step':>22}")
    for key in gpu:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in (gpu[key], cpu[key])]
        print(f"{key:14}{cells[0]:>22}{cells[1]:>22}")
    assert gpu["seen"] == ["'0' ['0']"], f"GPU step did not get the GPU: {gpu['seen']}"
    assert cpu["seen"] == ["'' []"], f"CPU step saw a GPU: {cpu['seen']}"


if __name__ == "__main__":
    main()
