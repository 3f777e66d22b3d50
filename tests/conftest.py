"""Shared fixtures: sample shards, a session-wide real Ray, tiny Parquet inputs, and tiny real
models trained once per session from the sample shards."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import MissingDependencyError

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "web"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The sample shards shipped in the repo."""
    assert sorted(SAMPLES.glob("*.parquet")), "samples/web is empty; run `make samples`"
    return SAMPLES


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """host:port of a real S3 API server (moto) on 127.0.0.1, for object-store outputs."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Callable[[str], str]:
    """A fresh bucket; calling the fixture with a key gives that key's `s3://` URI (the
    credentials and endpoint ride in the URI, so Ray workers reach the bucket too)."""
    import pyarrow.fs as pafs

    bucket = f"tamis-{uuid.uuid4().hex[:12]}"
    options = f"endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    fs, _ = pafs.FileSystem.from_uri(
        f"s3://test:test@{bucket}?{options}&allow_bucket_creation=true"
    )
    fs.create_dir(bucket)
    return lambda key: f"s3://test:test@{bucket}/{key}?{options}"


@pytest.fixture(scope="session")
def ray_session():
    """One real in-process Ray for the whole test session."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_head():
    """A real Ray head on 127.0.0.1 with ports of its own, killed afterwards (tests/ray_head.py)."""
    from tests.ray_head import ray_head as start_head

    with start_head() as head:
        yield head


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


CLEAN = ["wikitext", "state_union", "inaugural", "gsm8k"]


@pytest.fixture(scope="session")
def sample_docs(samples: Path) -> pa.Table:
    """All valid sample rows."""
    table = pq.read_table(samples)
    return table.filter(pc.invert(pc.starts_with(table["source"], "invalid:")))


def by_source(
    table: pa.Table, sources: list[str] | None = None, prefix: str | None = None
) -> pa.Table:
    """Rows whose source is in `sources` or starts with `prefix`."""
    if prefix is not None:
        return table.filter(pc.starts_with(table["source"], prefix))
    return table.filter(pc.is_in(table["source"], pa.array(sources)))


@pytest.fixture(scope="session")
def quality_model(tmp_path_factory, sample_docs) -> Path:
    """A fastText quality classifier: clean sample sources vs English web noise."""
    from scorers.train_quality import train_quality

    folder = tmp_path_factory.mktemp("quality")
    noise = by_source(sample_docs, prefix="noise:")
    noise = noise.filter(pc.invert(pc.starts_with(noise["source"], "noise:non_english")))
    pq.write_table(by_source(sample_docs, CLEAN), folder / "pos.parquet")
    pq.write_table(noise, folder / "neg.parquet")
    train_quality(
        [str(folder / "pos.parquet")], [str(folder / "neg.parquet")], folder / "q.bin", holdout=0.2
    )
    return folder / "q.bin"


@pytest.fixture(scope="session")
def kenlm_model(tmp_path_factory, sample_docs) -> Path:
    """A 3-gram KenLM over SentencePiece pieces, trained on the sample's Wikipedia articles."""
    from scorers.train_lm import train_lm

    folder = tmp_path_factory.mktemp("kenlm")
    pq.write_table(by_source(sample_docs, ["wikitext"]), folder / "wiki.parquet")
    try:
        train_lm([str(folder / "wiki.parquet")], folder / "wiki", order=3, vocab_size=2000)
    except MissingDependencyError as err:
        pytest.skip(f"{err}")
    return folder / "wiki"
