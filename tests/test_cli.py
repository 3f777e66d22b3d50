"""The `tamis` command: summaries, one-line errors with exit codes, `tamis list`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.cli import main
from pipeline.core.registry import get_step
from tests.conftest import REPO, write_parquet


def test_list_shows_steps_and_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, kind in [
        ("gopher_quality", "row"),
        ("gopher_repetition", "row"),
        ("c4", "row"),
        ("fineweb_quality", "row"),
        ("exact_dedup", "global"),
        ("lang_id", "model"),
    ]:
        version = get_step(name).version
        assert f"\n{name} (v{version}, {kind}, from tamis)" in f"\n{out}"
    assert "min_words = 50" in out


def test_bad_recipe_is_one_line_and_exit_2(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(
        "name: x\ninput: {path: in}\noutput: {path: out}\nsteps:\n  - c4: {min_sentence: 3}\n"
    )
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "step 1 (c4): unknown key 'min_sentence'" in err


def test_missing_input_is_one_line(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                str(REPO / "configs/web-en-heuristics.yaml"),
                "--input",
                str(tmp_path / "none"),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no input files found" in capsys.readouterr().err


def test_local_run_prints_summary(small_samples, tmp_path, capsys):
    code = main(
        [
            "run",
            str(REPO / "configs/web-en-heuristics.yaml"),
            "--input",
            str(small_samples),
            "--output",
            str(tmp_path / "o"),
            "--runner",
            "local",
            "--limit",
            "100",
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("web-en-heuristics: 100 rows in, ")
    assert "exact_dedup" in out and f"output: {tmp_path / 'o'}/kept" in out


@pytest.mark.slow
def test_job_entrypoint_runs_on_ray(small_samples, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.curate",
            str(REPO / "configs/web-en-heuristics.yaml"),
            "--input",
            str(small_samples),
            "--output",
            str(tmp_path / "o"),
            "--limit",
            "200",
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["run"]["runner"] == "ray" and manifest["rows"]["in"] == 200
    assert "200 rows in" in done.stdout


def test_reuse_scores_flag(small_samples, tmp_path, capsys):
    base = [
        "run",
        str(REPO / "configs/web-en-heuristics.yaml"),
        "--input",
        str(small_samples),
        "--runner",
        "local",
        "--limit",
        "60",
        "--quiet",
    ]
    assert main([*base, "--output", str(tmp_path / "a")]) == 0
    assert main([*base, "--output", str(tmp_path / "b"), "--rethreshold", str(tmp_path / "a")]) == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["run"]["reused_scores"]["from"] == str(tmp_path / "a")
    assert (
        main([*base, "--output", str(tmp_path / "c"), "--reuse-scores", str(tmp_path / "none")])
        == 2
    )
    assert "no finished run" in capsys.readouterr().err


def run_local(inp, out, *steps: str) -> None:
    """`tamis run --runner local` of a recipe made of `steps` (YAML flow mappings)."""
    recipe = out.parent / f"{out.name}.yaml"
    lines = "".join(f"  - {step}\n" for step in steps)
    recipe.write_text(f"name: t\ninput: {{path: {inp}}}\noutput: {{path: {out}}}\nsteps:\n{lines}")
    assert main(["run", str(recipe), "--runner", "local", "--quiet"]) == 0


def test_clusters_prints_reports_and_members(small_samples, tmp_path, capsys):
    run_local(small_samples, tmp_path / "out", "exact_dedup: {}", "minhash_dedup: {}")
    capsys.readouterr()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    report = next(s["global"] for s in manifest["steps"] if s["step"] == "minhash_dedup")
    assert report["duplicates"] > 0 and report["largest_clusters"]
    assert main(["clusters", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"minhash_dedup: {report['clusters']} clusters, {report['duplicates']} duplicates" in out
    largest = report["largest_clusters"][0]
    assert (
        main(["clusters", str(tmp_path / "out"), largest["kept"], "--step", "minhash_dedup"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{largest['kept']} (kept): ")
    assert lines[1] == f"{largest['size'] - 1} duplicates:"
    assert {line.split()[0] for line in lines[2:]} >= set(largest["members"])
    assert main(["clusters", str(tmp_path / "out"), "no-such-id"]) == 2


def test_clusters_reads_shards_that_never_reached_dedup(tmp_path, capsys):
    long = " ".join(["the council met to discuss the budget for the year"] * 10)
    write_parquet(tmp_path / "in" / "0.parquet", id=["a1", "a2"], text=["too short", "tiny"])
    write_parquet(tmp_path / "in" / "1.parquet", id=["b1", "b2"], text=[long, long])
    run_local(
        tmp_path / "in", tmp_path / "out", "gopher_quality: {min_words: 4}", "exact_dedup: {}"
    )
    capsys.readouterr()
    assert main(["clusters", str(tmp_path / "out"), "b1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("b1 (kept): the council") and lines[2].startswith("  b2 [duplicate")
