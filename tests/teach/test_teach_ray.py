"""`tamis annotate --runner ray`: a real in-process Ray against the real teacher (SmolLM2-135M)
gives the local run's output from the same cache, caps requests in flight over its actors,
and never lets the key out."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

from pipeline.cli import main as tamis
from pipeline.teach.annotate import sample_documents
from pipeline.teach.cache import AnswerCache
from pipeline.teach.client import ChatClient
from pipeline.teach.prompt import load_rubric
from pipeline.teach.ray_annotate import annotate_on_ray, split_concurrency
from pipeline.teach.teacher_server import Request, make_server
from tests.teach.conftest import KEY_ENV, SHORT_PROMPT, TEACHER_KEY, stats


@pytest.mark.parametrize("concurrency", [1, 2, 4, 6, 7, 16])
@pytest.mark.parametrize(("cpus", "docs"), [(1, 100), (2, 100), (8, 100), (8, 3)])
def test_split_is_exactly_the_cap(concurrency: int, cpus: int, docs: int) -> None:
    split = split_concurrency(concurrency, cpus, docs)
    assert split.actors * split.threads == concurrency
    assert 1 <= split.actors <= min(cpus, docs)
    assert 1 <= split.batch_size <= max(1, -(-docs // split.actors))


def files_holding(root: Path, secret: bytes) -> list[Path]:
    """Regular files under `root` whose bytes contain `secret`."""
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and secret in path.read_bytes():
                found.append(path)
        except OSError:  # a socket, or a file Ray removed meanwhile
            continue
    return found


@pytest.mark.slow
def test_ray_run_equals_the_local_run_shares_its_cache_and_hides_the_key(
    teacher: str,
    samples: Path,
    tmp_path: Path,
    ray_session,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ray = ray_session
    monkeypatch.setenv(KEY_ENV, TEACHER_KEY)
    cache = tmp_path / "cache"

    def run(runner: str, sample: int) -> tuple[pq.ParquetFile, int]:
        out = tmp_path / f"{runner}{sample}" / "annotations.parquet"
        argv = ["annotate", "--input", str(samples), "--prompt", str(SHORT_PROMPT)]
        argv += ["--endpoint", teacher, "--model", "smollm2-135m", "--out", str(out)]
        argv += ["--sample", str(sample), "--cache", str(cache), "--api-key-env", KEY_ENV]
        argv += ["--concurrency", "2", "--runner", runner]
        before = stats(teacher)["completions"]
        assert tamis(argv) == 0
        return pq.read_table(out), stats(teacher)["completions"] - before

    local2, paid = run("local", 2)
    assert paid == 2
    by_ray, paid = run("ray", 3)  # the sample of 3 holds the 2 the local run paid for
    assert paid == 1 and by_ray.slice(0, 2).equals(local2)
    local3, paid = run("local", 3)
    assert paid == 0
    assert local3.equals(by_ray) and local3.schema.metadata == by_ray.schema.metadata
    printed = capsys.readouterr()
    assert "annotate: 3/3 (2 cached" in printed.out and "annotate: 3/3 (3 cached" in printed.out

    # The key reached the actors (the teacher refuses requests without it) through the object
    # store alone: not the workers' environment, the job's runtime env, or any file.
    @ray.remote(num_cpus=0)
    def worker_env() -> str | None:
        return os.environ.get(KEY_ENV)

    assert ray.get(worker_env.remote()) is None
    assert TEACHER_KEY not in str(ray.get_runtime_context().runtime_env)
    assert TEACHER_KEY not in printed.out + printed.err
    session = Path(ray._private.worker.global_worker.node.get_session_dir_path())
    assert any((session / "logs").iterdir())  # the search below has files to search
    assert files_holding(session, TEACHER_KEY.encode()) == []
    assert files_holding(tmp_path, TEACHER_KEY.encode()) == []


class SlowStub:
    """Answers "Score: 1" after 20 ms, so that requests overlap and the cap shows."""

    def ask(self, request: Request) -> Request:
        time.sleep(0.02)
        request.reply = ("Score: 1", 10, 3)
        return request


@pytest.mark.slow
def test_requests_in_flight_never_exceed_the_cap_across_actors(
    samples: Path, tmp_path: Path, ray_session
) -> None:
    server = make_server(SlowStub(), "stub", port=0)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://{}:{}".format(*server.server_address[:2])
    try:
        docs = sample_documents(str(samples), 48, seed=3)
        client = ChatClient(url, "stub")
        table, tally = annotate_on_ray(
            docs, load_rubric(SHORT_PROMPT), client, AnswerCache(tmp_path), 4
        )
        seen = requests.get(f"{url}/stats", timeout=5).json()
    finally:
        server.shutdown()
        server.server_close()
    assert table["id"].equals(docs["id"]) and table["score"].to_pylist() == [1] * 48
    assert seen["completions"] == tally.done == 48 and tally.prompt_tokens == 480
    assert 2 <= seen["max_in_flight"] <= 4  # 2 actors x 2 threads, never more
