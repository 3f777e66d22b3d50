"""Fixtures of the teach loop: a real teacher server (SmolLM2-135M) on 127.0.0.1, started once
per session as a subprocess with failure injection, and annotations labelled from the
samples' known sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SHORT_PROMPT = Path(__file__).with_name("short.yaml")
TEACHER_KEY = "sk-tamis-test-4f1c9e27b0d3"  # what the tests grep every output for
KEY_ENV = "TAMIS_TEST_TEACHER_KEY"


@pytest.fixture(scope="session")
def teacher() -> Iterator[str]:
    """URL of a real SmolLM2 teacher that needs the test key and fails on purpose: HTTP 500 on
    every 5th request and 429 (Retry-After 0.2 s) on every 7th."""
    pytest.importorskip("transformers", reason="pip install transformers gguf accelerate")
    from pipeline.teach.teacher_server import spawn

    flags = ["--api-key-env", KEY_ENV, "--fail-every", "5", "--rate-limit-every", "7"]
    process, url = spawn(*flags, "--threads", "2", env={KEY_ENV: TEACHER_KEY})
    yield url
    process.terminate()
    process.wait(timeout=30)


def stats(url: str) -> dict[str, int]:
    """The teacher server's request counters."""
    return requests.get(f"{url}/stats", timeout=10).json()


@pytest.fixture(scope="session")
def labelled_annotations(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    """Annotations in `tamis annotate`'s format whose scores come from the samples' known
    sources (reference text 4, synthetic noise 0), for training with real signal: the weak
    local teacher rarely answers in format."""
    from pipeline.teach.annotate import SCHEMA, write_annotations

    table = pq.read_table(sorted(samples.glob("*.parquet"))[0], columns=["id", "text", "source"])
    source = table["source"]
    clean = pc.is_in(source, pa.array(["wikitext", "state_union", "shakespeare", "gsm8k"]))
    noise = pc.starts_with(source, "noise:")
    table = table.filter(pc.or_(clean, noise)).slice(0, 160)
    scores = pc.if_else(
        pc.is_in(table["source"], pa.array(["wikitext", "state_union", "shakespeare", "gsm8k"])),
        4,
        0,
    )
    rows = table.num_rows
    annotations = pa.table(
        {
            "id": table["id"],
            "text": table["text"],
            "score": pc.cast(scores, pa.int32()),
            "label": pc.cast(pc.cast(scores, pa.int32()), pa.string()),
            "raw": pc.binary_join_element_wise("Score: ", pc.cast(scores, pa.string()), ""),
            "model": pa.array(["sources"] * rows),
            "prompt_hash": pa.array(["-"] * rows),
            "parse_error": pa.nulls(rows, pa.string()),
        },
        schema=SCHEMA,
    )
    out = tmp_path_factory.mktemp("labelled") / "annotations.parquet"
    about = {
        "prompt": {"name": "sources", "hash": "-"},
        "rubric": {"scale": [0, 5]},
        "teacher": {"model": "samples' source column"},
        "input": str(samples),
        "sample": rows,
    }
    write_annotations(annotations, out, about)
    return out
