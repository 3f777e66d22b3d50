"""The `tamis` command: summaries, one-line errors with exit codes, `tamis list`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.cli import main, summary
from pipeline.core.recipe import parse_recipe
from pipeline.core.registry import get_step
from pipeline.run.runner import run_recipe
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
    assert "benchmarks = (required)" in out and "PydanticUndefined" not in out


def test_bad_recipe_is_one_line_and_exit_2(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(
        "name: x\ninput: {path: in}\noutput: {path: out}\nsteps:\n  - c4: {min_sentence: 3}\n"
    )
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "step 1 (c4): unknown key 'min_sentence'" in err


def test_a_limit_under_one_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(REPO / "configs/instruct.yaml"), "--limit", "0"])
    assert exit_.value.code == 2
    assert "--limit: expected a whole number of 1 or more, got '0'" in capsys.readouterr().err


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
    report = tmp_path / "o" / "report.html"
    assert out.rstrip().endswith(f"report: {report}") and "plotly" in report.read_text()


def test_a_recipe_can_turn_the_report_off(small_samples, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: quiet\ninput: {{path: {small_samples}}}\n"
        f"output: {{path: {tmp_path / 'o'}, report: false}}\nsteps:\n  - c4: {{}}\n"
    )
    assert main(["run", str(recipe), "--runner", "local", "--quiet", "--limit", "50"]) == 0
    assert "report:" not in capsys.readouterr().out
    assert (tmp_path / "o" / "manifest.json").exists()
    assert not (tmp_path / "o" / "report.html").exists()


def test_summary_lists_every_reason_then_counts_the_rest(small_samples, tmp_path):
    recipe = parse_recipe(
        {
            "name": "many-reasons",
            "input": {"path": str(small_samples)},
            "output": {"path": str(tmp_path / "o")},
            "steps": [{"gopher_repetition": {}}, {"gopher_quality": {}}],
        }
    )
    manifest = run_recipe(recipe, "local", progress=False)
    lines = summary(manifest, str(tmp_path / "o"), reasons_shown=2).splitlines()
    for step in manifest["steps"]:
        reasons = list(step["reasons"].items())
        shown = reasons if len(reasons) <= 3 else reasons[:2]
        for reason, count in shown:
            assert sum(line.endswith(f" {reason} {count}") for line in lines) == 1, reason
        if len(reasons) > 3:
            rest = sum(n for _, n in reasons[2:])
            assert any(line.strip() == f"+{len(reasons) - 2} more ({rest} rows)" for line in lines)
    assert any(len(s["reasons"]) > 3 for s in manifest["steps"])  # the "+K more" case ran


def test_summary_hints_at_a_threshold_that_rejects_most_rows(small_samples, tmp_path):
    def run(min_words: int) -> str:
        recipe = parse_recipe(
            {
                "name": "strict",
                "input": {"path": str(small_samples)},
                "output": {"path": str(tmp_path / str(min_words))},
                "steps": [{"gopher_quality": {"min_words": min_words}}],
            }
        )
        return summary(run_recipe(recipe, "local", progress=False), "o")

    strict = [line for line in run(1_000_000).splitlines() if "hint:" in line]
    assert len(strict) == 1 and "gopher_quality:word_count<1e+06 alone rejected 100%" in strict[0]
    assert "hint:" not in run(50)  # the default rejects far fewer


def test_a_resumed_run_reports_the_time_of_all_its_attempts(small_samples, tmp_path):
    recipe = parse_recipe(
        {
            "name": "twice",
            "input": {"path": str(small_samples)},
            "output": {"path": str(tmp_path / "o")},
            "steps": [{"gopher_quality": {}}],
        }
    )
    first = run_recipe(recipe, "local", progress=False)["run"]
    again = run_recipe(recipe, "local", progress=False)["run"]  # every shard already done
    assert (first["attempts"], again["attempts"]) == (1, 2)
    assert again["seconds"] < first["seconds"] <= again["seconds_all_attempts"]
    line = summary({**run_recipe(recipe, "local", progress=False), "run": again}, "o")
    assert f"{again['seconds_all_attempts']:.1f} s" in line and "2 attempts, this one" in line
    replaced = run_recipe(recipe, "local", progress=False, overwrite=True)["run"]
    assert replaced["attempts"] == 1  # the attempts at the run it replaced are not its own


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


def test_the_step_reference_in_docs_is_current():
    from pipeline.core.reference import steps_markdown

    written = (REPO / "docs" / "steps.md").read_text()
    assert written == steps_markdown("tamis"), "docs/steps.md is stale: run `make docs`"
    assert "### gopher_quality" in written and "| `min_words` | `50` |" in written
    assert "| `benchmarks` | required |" in written and "PydanticUndefined" not in written


def test_list_markdown_writes_the_reference(tmp_path, capsys):
    assert main(["list", "--markdown", str(tmp_path / "steps.md")]) == 0
    assert (tmp_path / "steps.md").read_text() == (REPO / "docs" / "steps.md").read_text()
    assert main(["list", "--markdown", "--all"]) == 0
    assert "### lang_mix" in capsys.readouterr().out  # the example plugin's step, with --all
