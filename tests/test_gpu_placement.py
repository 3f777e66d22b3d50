"""GPUs on a Ray cluster: a scorer that runs on CUDA when it can asks for a GPU where the cluster
has one, a recipe's `gpus: 0` keeps it off, and a worker that was given no GPU sees none even
where every process of the node could (CUDA_VISIBLE_DEVICES set, as on a GPU machine). The
cluster is a local Ray started with one logical GPU, in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO

PROBES = '''
import os

import pyarrow as pa
import ray

from pipeline.core.columns import set_column
from pipeline.core.registry import register
from pipeline.core.resources import Resources
from scorers.base import Scorer


def seen(batch, column):
    """What this worker sees: CUDA_VISIBLE_DEVICES and the GPUs Ray gave it."""
    value = f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}|{ray.get_gpu_ids()}"
    return set_column(batch, column, pa.array([value] * batch.num_rows, pa.string()))


@register("cuda_when_possible_probe")
class CudaWhenPossible(Scorer):
    """Records the GPUs its worker sees; runs on CUDA when it can."""

    resources = Resources(cpus=0.5, auto_gpus=1)
    outputs = {"cuda_probe": pa.string()}

    def score(self, batch):
        return seen(batch, "cuda_probe")


@register("cuda_turned_off_probe")
class CudaTurnedOff(CudaWhenPossible):
    """The same step, which a recipe keeps off the GPU with `gpus: 0`."""

    outputs = {"cuda_off_probe": pa.string()}

    def score(self, batch):
        return seen(batch, "cuda_off_probe")


@register("cpu_probe")
class CpuOnly(Scorer):
    """Records the GPUs its worker sees; a CPU model."""

    resources = Resources(cpus=0.5)
    outputs = {"cpu_probe": pa.string()}

    def score(self, batch):
        return seen(batch, "cpu_probe")
'''

DRIVER = """
import json, sys

import ray

ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe

run_recipe(parse_recipe(json.loads(sys.argv[1])), "ray", progress=False)
"""


def run_on_a_gpu_node(tmp_path) -> dict[str, set[str]]:
    """Run the probes on a local Ray with one logical GPU; what each probe's workers saw."""
    folder = tmp_path / "in"
    folder.mkdir()
    texts = [f"document number {i} about rivers and hills" for i in range(40)]
    pq.write_table(
        pa.table({"id": [f"d{i}" for i in range(40)], "text": texts}), folder / "part-0.parquet"
    )
    (tmp_path / "gpu_probes.py").write_text(textwrap.dedent(PROBES))
    recipe = {
        "name": "probes",
        "imports": ["gpu_probes"],
        "input": {"path": str(folder)},
        "output": {"path": str(tmp_path / "out"), "report": False, "tokenizer": None},
        "steps": [
            {"cuda_when_possible_probe": {}},
            {"cuda_turned_off_probe": {"gpus": 0}},
            {"cpu_probe": {}},
        ],
    }
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "0",  # every process of this node could reach the GPU
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "RAY_ADDRESS": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(recipe)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    kept = pq.read_table(tmp_path / "out" / "kept")
    assert kept.num_rows == 40
    return {c: set(kept[c].to_pylist()) for c in ("cuda_probe", "cuda_off_probe", "cpu_probe")}


@pytest.mark.slow
def test_gpu_steps_get_the_gpu_and_cpu_steps_never_see_it(tmp_path):
    assert run_on_a_gpu_node(tmp_path) == {
        "cuda_probe": {"0|['0']"},  # asked for the GPU by itself, and got it
        "cuda_off_probe": {"|[]"},  # the recipe said gpus: 0
        "cpu_probe": {"|[]"},  # sees no GPU, though the node's processes could
    }
