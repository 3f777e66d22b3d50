"""The loop with a real teacher: SmolLM2-135M behind the project's OpenAI-compatible server,
which needs a key and fails on purpose (HTTP 500 and 429)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main as tamis
from tests.teach.conftest import KEY_ENV, SHORT_PROMPT, TEACHER_KEY, stats

pytestmark = pytest.mark.slow


def test_annotate_with_real_teacher_retries_caches_and_hides_the_key(
    teacher: str,
    samples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(KEY_ENV, TEACHER_KEY)
    out = tmp_path / "annotations.parquet"
    argv = ["annotate", "--input", str(samples), "--prompt", str(SHORT_PROMPT)]
    argv += ["--endpoint", teacher, "--model", "smollm2-135m", "--sample", "8", "--out", str(out)]
    argv += ["--api-key-env", KEY_ENV, "--concurrency", "4"]
    before = stats(teacher)
    assert tamis(argv) == 0
    after = stats(teacher)
    table = pq.read_table(out)
    assert table.num_rows == 8 and table["raw"].null_count == 0
    # The weak teacher rarely answers in format; every row is either scored or says why not.
    for score, error in zip(table["score"].to_pylist(), table["parse_error"].to_pylist()):
        assert (score is None) != (error is None)
    assert after["completions"] - before["completions"] == 8
    assert after["injected_500"] > before["injected_500"]
    assert after["injected_429"] > before["injected_429"]
    assert tamis(argv) == 0  # the rerun is served from the cache
    assert stats(teacher)["requests"] == after["requests"]
    printed = capsys.readouterr()
    assert "8/8 (8 cached" in printed.out
    assert TEACHER_KEY not in printed.out + printed.err
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or TEACHER_KEY.encode() not in path.read_bytes(), path
