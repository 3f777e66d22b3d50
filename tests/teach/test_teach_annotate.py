"""`tamis annotate` against the project's teacher server with a stand-in generator (fast):
retries on 500 and 429, Retry-After, the cache, the key's hygiene, one-line errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main as tamis
from pipeline.teach.annotate import annotate, sample_documents
from pipeline.teach.cache import AnswerCache
from pipeline.teach.client import ChatClient, TeacherError, TeacherUnavailable
from pipeline.teach.prompt import load_rubric
from pipeline.teach.teacher_server import Request, make_server

KEY = "sk-stub-91e0d7c4aa"
PROMPT = Path(__file__).with_name("short.yaml")


class Stub:
    """Answers "Score: N" with N from the document's length; stands in for the LM so these
    tests check HTTP behaviour in milliseconds (the real model runs in test_teach_loop.py)."""

    def ask(self, request: Request) -> Request:
        text = request.messages[-1]["content"]
        request.reply = (f"Looks fine.\nScore: {len(text) % 7}", len(text) // 4, 6)
        return request


@contextmanager
def serve(**options: Any) -> Iterator[str]:
    """The teacher server with the stand-in generator, in a thread; its URL."""
    server = make_server(Stub(), "stub", port=0, **options)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def flaky() -> Iterator[str]:
    """500 on every 3rd request, 429 with Retry-After 0.05 s on every 4th; needs KEY."""
    with serve(fail_every=3, rate_limit_every=4, retry_after=0.05, api_key=KEY) as url:
        yield url


def fetch_stats(url: str) -> dict[str, int]:
    import requests

    return requests.get(f"{url}/stats", timeout=5).json()


def test_retries_500_and_429_then_succeeds(flaky: str, samples: Path, tmp_path: Path) -> None:
    docs = sample_documents(str(samples), 20, seed=0)
    client = ChatClient(flaky, "stub", api_key=KEY, backoff_s=0.01)
    table, tally = annotate(docs, load_rubric(PROMPT), client, AnswerCache(tmp_path), 4)
    seen = fetch_stats(flaky)
    assert table.num_rows == 20 and table["parse_error"].null_count == 20
    assert seen["injected_500"] > 0 and seen["injected_429"] > 0
    assert client.retried == seen["injected_500"] + seen["injected_429"]
    assert seen["completions"] == 20 and tally.prompt_tokens > 0


def test_retry_after_is_honoured_and_retries_are_capped(tmp_path: Path) -> None:
    with serve(rate_limit_every=1, retry_after=0.3) as url:
        client = ChatClient(url, "stub", retries=2, backoff_s=0.001)
        started = time.time()
        with pytest.raises(TeacherUnavailable, match="failed 3 times .*HTTP 429"):
            client.complete([{"role": "user", "content": "x"}], 4, 0)
        assert time.time() - started >= 0.6  # two waits of Retry-After, not the 1 ms backoff
        assert fetch_stats(url)["requests"] == 3


def test_connection_errors_are_retried_then_one_error() -> None:
    client = ChatClient("http://127.0.0.1:9", "stub", retries=2, backoff_s=0.01)
    with pytest.raises(TeacherUnavailable, match="failed 3 times .*ConnectionError"):
        client.complete([{"role": "user", "content": "x"}], 4, 0)
    assert client.retried == 2


def test_cache_means_a_rerun_never_pays_twice(flaky: str, samples: Path, tmp_path: Path) -> None:
    rubric, cache = load_rubric(PROMPT), AnswerCache(tmp_path / "cache")
    client = ChatClient(flaky, "stub", api_key=KEY, backoff_s=0.01)
    first, _ = annotate(sample_documents(str(samples), 6, 0), rubric, client, cache)
    asked = fetch_stats(flaky)["completions"]
    # A larger sample with the same seed holds the smaller one: only the new rows are asked.
    second, tally = annotate(sample_documents(str(samples), 10, 0), rubric, client, cache)
    assert fetch_stats(flaky)["completions"] == asked + 4
    assert tally.cached == 6 and second.slice(0, 6)["raw"].equals(first["raw"])
    again, tally = annotate(sample_documents(str(samples), 10, 0), rubric, client, cache)
    assert fetch_stats(flaky)["completions"] == asked + 4 and tally.cached == 10
    other = ChatClient(flaky, "another-model", api_key=KEY, backoff_s=0.01)
    annotate(sample_documents(str(samples), 2, 0), rubric, other, cache)
    assert fetch_stats(flaky)["completions"] == asked + 6  # the model is part of the key


def test_cli_writes_annotations_and_never_the_key(
    flaky: str,
    samples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MY_TEACHER_KEY", KEY)
    out = tmp_path / "run" / "annotations.parquet"
    argv = ["annotate", "--input", str(samples), "--prompt", str(PROMPT), "--endpoint", flaky]
    argv += ["--model", "stub", "--sample", "12", "--out", str(out), "--api-key-env"]
    argv += ["MY_TEACHER_KEY", "--price-per-mtok-in", "3", "--price-per-mtok-out", "15"]
    with caplog.at_level(logging.DEBUG):
        assert tamis(argv) == 0
    printed = capsys.readouterr()
    assert "annotate: 12/12 (0 cached" in printed.out and "~$0.00" in printed.out
    table = pq.read_table(out)
    assert table.column_names == [
        "id", "text", "score", "label", "raw", "model", "prompt_hash", "parse_error",
    ]  # fmt: skip
    assert table["score"].null_count == 0 and set(table["model"].to_pylist()) == {"stub"}
    written = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert len(written) == 13  # the annotations and one cached answer per document
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in printed.out + printed.err + caplog.text


def test_wrong_key_is_one_line_and_exit_2(
    flaky: str, samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["annotate", "--input", str(samples), "--prompt", str(PROMPT), "--endpoint", flaky]
    argv += ["--model", "stub", "--sample", "2", "--out", str(tmp_path / "a.parquet")]
    argv += ["--api-key-env", "NO_SUCH_VARIABLE_HERE"]
    assert tamis(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "HTTP 401" in err
    with pytest.raises(TeacherError, match="refused the request"):
        ChatClient(flaky, "stub", api_key="sk-wrong").complete([], 4, 0)


def test_repeats_are_cached_apart_and_repeat_zero_is_the_plain_answer(
    flaky: str, samples: Path, tmp_path: Path
) -> None:
    rubric, cache = load_rubric(PROMPT), AnswerCache(tmp_path / "cache")
    client = ChatClient(flaky, "stub", api_key=KEY, backoff_s=0.01)
    docs = sample_documents(str(samples), 3, 0)
    annotate(docs, rubric, client, cache)
    asked = fetch_stats(flaky)["completions"]
    _, tally = annotate(docs, rubric, client, cache, repeat=0)
    assert tally.cached == 3  # repeat 0 is the plain answer's key
    for repeat in (1, 2):
        _, tally = annotate(docs, rubric, client, cache, repeat=repeat)
        assert tally.cached == 0 and tally.prompt_tokens > 0
    _, tally = annotate(docs, rubric, client, cache, repeat=2)
    assert tally.cached == 3 and fetch_stats(flaky)["completions"] == asked + 6
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 9
