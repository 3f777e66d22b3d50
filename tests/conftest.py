"""Shared fixtures: sample shards, a session-wide real Ray, tiny Parquet inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "web"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The sample shards shipped in the repo."""
    assert sorted(SAMPLES.glob("*.parquet")), "samples/web is empty; run `make samples`"
    return SAMPLES


@pytest.fixture(scope="session")
def ray_session():
    """One real in-process Ray for the whole test session."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture
def small_samples(tmp_path: Path, samples: Path) -> Path:
    """The first 300 rows of each sample shard, written as 4 small shards."""
    folder = tmp_path / "in"
    folder.mkdir()
    for shard in sorted(samples.glob("*.parquet")):
        pq.write_table(pq.read_table(shard).slice(0, 300), folder / shard.name)
    return folder


def write_parquet(path: Path, **columns: list) -> Path:
    """A Parquet file with the given columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def copy_tree(src: Path, dst: Path) -> Path:
    """A copy of a folder."""
    shutil.copytree(src, dst)
    return dst
