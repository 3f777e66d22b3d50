"""Progress: plain lines with rows/s and ETA where stderr is not a terminal (job logs), decision
phases announced, nothing with --quiet."""

from __future__ import annotations

import re
import time

import pyarrow.parquet as pq

import pipeline.run.progress
from pipeline.core.recipe import load_recipe, parse_recipe
from pipeline.run.progress import StageProgress, per_second
from pipeline.run.runner import run_recipe
from tests.conftest import REPO

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"
STAGE_2 = r"stage 2/2 \(exact_dedup -> gopher_repetition -> gopher_qu\.\.\.\)"
SPEED = r"[\d.]+ s, [\d.,]+ rows/s"


def test_plain_lines_where_stderr_is_not_a_terminal(small_samples, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pipeline.run.progress, "EVERY_S", 0.0)  # a line at every update
    recipe = load_recipe(RECIPE, str(small_samples), str(tmp_path / "out"))
    manifest = run_recipe(recipe, "local")
    err = capsys.readouterr().err
    assert "\r" not in err  # no bars in logs
    rows = manifest["rows"]["in"]
    entering = manifest["steps"][1]["rows_in"]
    lines = err.splitlines()
    assert lines[0] == f"stage 1/2 (read): started, {rows:,} rows"
    end = [i for i, line in enumerate(lines) if line.startswith("stage 1/2 (read): ")][-1]
    assert re.fullmatch(rf"stage 1/2 \(read\): {rows:,}/{rows:,} rows in {SPEED}", lines[end])
    assert lines[end + 1] == f"deciding exact_dedup over {entering:,} rows..."
    dups = manifest["steps"][1]["global"]["duplicates"]
    decided = rf"exact_dedup: {dups:,} duplicates of {entering:,} rows in [\d.]+ s"
    assert re.fullmatch(decided, lines[end + 2])
    assert re.fullmatch(rf"{STAGE_2}: started, {entering:,} rows", lines[end + 3])
    during = rf"{STAGE_2}: [\d,]+/{entering:,} rows, [\d.,]+ rows/s, ETA \d+:\d\d:\d\d"
    assert lines[end + 4 : -1] and all(re.fullmatch(during, line) for line in lines[end + 4 : -1])
    assert re.fullmatch(rf"{STAGE_2}: {entering:,}/{entering:,} rows in {SPEED}", lines[-1])

    run_recipe(recipe, "local")  # a rerun says what it skipped
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "stage 1/2 (read): 4 of 4 shards already done, skipped",
        f"exact_dedup: {dups:,} duplicates of {entering:,} rows, decided by an earlier attempt",
        "stage 2/2 (exact_dedup -> gopher_repetition -> gopher_qu...): "
        "4 of 4 shards already done, skipped",
    ]


def test_quiet_prints_nothing(small_samples, tmp_path, capsys):
    recipe = load_recipe(RECIPE, str(small_samples), str(tmp_path / "out"))
    run_recipe(recipe, "local", progress=False)
    assert capsys.readouterr().err == ""


def test_stage_lines_every_interval(capsys):
    with StageProgress("stage 1/3 (c4)", 1000, every=3600, tty=False) as stage:
        stage.update(10)  # within the interval: no line
        stage._last -= 3600  # an interval later
        stage._start -= 10  # 10 s into the stage: 20 rows/s
        stage.update(190)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "stage 1/3 (c4): started, 1,000 rows"
    assert err[1] == "stage 1/3 (c4): 200/1,000 rows, 20 rows/s, ETA 0:00:40"
    assert re.fullmatch(r"stage 1/3 \(c4\): 200/1,000 rows in 10\.\d s, 2\d rows/s", err[2])
    assert len(err) == 3


def test_unknown_total_has_no_eta(capsys):
    with StageProgress("stage 1/1 (read)", None, every=0.0, tty=False) as stage:
        time.sleep(0.01)
        stage.update(5)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "stage 1/1 (read): started"
    assert re.fullmatch(r"stage 1/1 \(read\): 5 rows, [\d.,]+ rows/s", err[1])


def test_slow_rates_keep_two_figures():
    assert [per_second(r) for r in (0.4812, 2.345, 12.6, 20_400.2)] == [
        "0.48",
        "2.3",
        "13",
        "20,400",
    ]


def test_the_local_runner_reports_each_model_batch(small_samples, tmp_path, capsys, monkeypatch):
    """A model step can take minutes over one read chunk: progress moves with its batches (the
    chunk's last row once it is written), and the output is the same whatever the batch."""
    monkeypatch.setattr(pipeline.run.progress, "EVERY_S", 0.0)
    sizes = [pq.read_metadata(p).num_rows for p in sorted(small_samples.glob("*.parquet"))]
    runs = {}
    for batch in (100, None):
        recipe = {
            "name": "lid",
            "input": {"path": str(small_samples)},
            "output": {"path": str(tmp_path / f"out-{batch}")},
            "steps": [{"lang_id": {"batch_size": batch, "languages": ["en"]}}],
        }
        manifest = run_recipe(parse_recipe(recipe), "local")
        runs[batch] = manifest["steps"][1]["reasons"], manifest["rows"]
        err = capsys.readouterr().err
        done = [int(n.replace(",", "")) for n in re.findall(r"\): ([\d,]+)/[\d,]+ rows, ", err)]
        expected, before = [], 0
        for size in sizes:  # each shard is one chunk here
            steps = list(range(100, size, 100)) + [size - 1] if batch else []
            expected += [before + n for n in steps] + [before + size]
            before += size
        assert done == expected
    assert runs[100] == runs[None]


def test_decision_summaries():
    from pipeline.run.runner import decision_summary

    cut = {"column": "quality_score", "side": "top", "cutoff": 0.7293, "rows": 10}
    assert decision_summary("q.keep_top", cut) == "q.keep_top: keeps quality_score >= 0.7293"
    none = {**cut, "cutoff": None}
    assert (
        decision_summary("q.keep_top", none) == "q.keep_top: no quality_score cut-off, nothing kept"
    )
    assert decision_summary("x", {"rows": 1200}) == "x: decided over 1,200 rows"
