"""Tiny real models, trained once per test session from the sample shards."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.errors import MissingDependencyError

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
