"""`tamis diff`: rows that moved between two real runs, checked against their id sets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from pipeline.view import diff as diff_module
from pipeline.view.diff import diff_runs, param_changes

KEYS = {"a", "b", "rows_compared", "moved", "changed_reason", "only_in_a", "only_in_b"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> dict[str, Path]:
    """Three runs over the same 4 small shards: A, B with C4's min_sentences lowered from 5 to
    3, and A again."""
    base = tmp_path_factory.mktemp("diff")
    (base / "in").mkdir()
    for shard in sorted(samples.glob("*.parquet")):
        pq.write_table(pq.read_table(shard).slice(0, 150), base / "in" / shard.name)
    outs = {}
    for name, c4 in (("a", {}), ("b", {"min_sentences": 3}), ("same", {})):
        recipe = {
            "name": "diff-test",
            "input": {"path": str(base / "in")},
            "output": {"path": str(base / name)},
            "steps": [{"gopher_quality": {}}, {"c4": c4}],
        }
        run_recipe(parse_recipe(recipe), "local", progress=False)
        outs[name] = base / name
    return outs


def statuses(out: Path) -> dict[str, tuple[str, str | None]]:
    """id -> (status, reject_reason), read whole with pyarrow."""
    kept = pq.read_table(out / "kept", columns=["id"])["id"].to_pylist()
    rejected = pq.read_table(out / "rejected", columns=["id", "reject_reason"]).to_pylist()
    return {i: ("kept", None) for i in kept} | {
        r["id"]: ("rejected", r["reject_reason"]) for r in rejected
    }


def test_moved_rows_are_the_difference_of_the_id_sets(runs):
    a, b = statuses(runs["a"]), statuses(runs["b"])
    to_kept = {i for i in a if a[i][0] == "rejected" and b[i][0] == "kept"}
    to_rejected = {i for i in a if a[i][0] == "kept" and b[i][0] == "rejected"}
    relabelled = {i for i in a if a[i][0] == b[i][0] == "rejected" and a[i][1] != b[i][1]}
    assert to_kept and relabelled
    result = diff_runs(str(runs["a"]), str(runs["b"]), examples=2)
    assert set(result) == KEYS and result["rows_compared"] == len(a)
    assert result["only_in_a"] == result["only_in_b"] == 0
    moved = {(g["from"], g["to"]): g for g in result["moved"]}
    assert sum(g["rows"] for g in result["moved"]) == len(to_kept) + len(to_rejected)
    group = moved["rejected", "kept"]
    assert group["rows"] == len(to_kept)
    assert (group["step"], group["reason"]) == ("c4", "c4:sentence_count<5")  # A's reason
    assert len(group["examples"]) == 2
    table = pq.read_table(runs["a"] / "rejected", columns=["id", "text"])
    texts = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    for example in group["examples"]:
        assert example["id"] in to_kept and example["reason_b"] is None
        assert example["reason_a"] == "c4:sentence_count<5" and example["value"] < 5
        assert texts[example["id"]].startswith(example["text"].rstrip("…"))
    assert sum(g["rows"] for g in result["changed_reason"]) == len(relabelled)
    assert {g["reason"] for g in result["changed_reason"]} >= {"c4:sentence_count<3"}
    rows = [g["rows"] for g in result["moved"] + result["changed_reason"]]
    assert rows[: len(result["moved"])] == sorted(rows[: len(result["moved"])], reverse=True)


def test_identical_runs_move_nothing(runs):
    result = diff_runs(runs["a"], runs["same"])
    assert result["moved"] == [] and result["changed_reason"] == []
    assert result["rows_compared"] == len(statuses(runs["a"]))


def test_whole_run_join_gives_the_shard_by_shard_answer(runs, monkeypatch):
    a, b = diff_module.Run(runs["a"]), diff_module.Run(runs["b"])
    by_shard, mode = diff_module.compare(a, b, examples=3)
    assert mode == "shard by shard"
    monkeypatch.setattr(diff_module.Run, "shards", lambda self: None)
    joined, mode = diff_module.compare(a, b, examples=3)
    assert mode.startswith("whole-run join")
    assert joined == by_shard


def test_param_changes_name_the_changed_threshold(runs):
    manifests = [json.loads((runs[n] / "manifest.json").read_text()) for n in ("a", "b")]
    assert param_changes(*manifests) == [{"step": "c4", "param": "min_sentences", "a": 5, "b": 3}]
    assert param_changes(manifests[0], manifests[0]) == []


def test_cli_shows_the_change_and_the_groups(runs, capsys):
    assert main(["diff", str(runs["a"]), str(runs["b"]), "--examples", "1"]) == 0
    out = capsys.readouterr().out
    assert "min_sentences" in out and "shard by shard" in out
    assert "rejected → kept" in out and "c4:sentence_count<5" in out
    assert main(["diff", str(runs["a"]), str(runs["b"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= KEYS and data["recipe_changes"][0]["param"] == "min_sentences"


def test_folder_without_manifest_is_one_line(runs, tmp_path, capsys):
    assert main(["diff", str(runs["a"]), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no manifest.json" in err
