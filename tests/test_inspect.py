"""`tamis inspect`: filters, samples and sorts on a real run's Parquet outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from pipeline.view import rows as rows_module


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    """A finished run of Gopher quality and C4 over 4 small shards."""
    base = tmp_path_factory.mktemp("inspect")
    (base / "in").mkdir()
    for shard in sorted(samples.glob("*.parquet")):
        pq.write_table(pq.read_table(shard).slice(0, 150), base / "in" / shard.name)
    recipe = {
        "name": "inspect-test",
        "input": {"path": str(base / "in")},
        "output": {"path": str(base / "out")},
        "steps": [{"gopher_quality": {}}, {"c4": {}}],
    }
    run_recipe(parse_recipe(recipe), "local", progress=False)
    return base / "out"


def rejected(out: Path) -> pa.Table:
    return pq.read_table(out / "rejected")


def inspect(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["inspect", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_rows(capsys: pytest.CaptureFixture, *argv: str) -> list[dict]:
    code, out, _ = inspect(capsys, *argv, "--json")
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_reason_glob_selects_exactly_the_rows_with_that_reason(out, capsys):
    table = rejected(out)
    expected = set(table.filter(pc.starts_with(table["reject_reason"], "c4:"))["id"].to_pylist())
    assert expected
    got = json_rows(capsys, str(out), "--reason", "c4:*", "--limit", "100000")
    assert {r["id"] for r in got} == expected
    assert {r["status"] for r in got} == {"rejected"}
    code, text, _ = inspect(capsys, str(out), "--reason", "c4:*", "--limit", "2")
    rows_in = len(table) + len(pq.read_table(out / "kept"))
    assert f"{len(expected)} of {rows_in} rows match" in text
    assert text.count(" rejected ") >= 2  # one panel title per row shown


def test_substring_and_step_filters(out, capsys):
    table = rejected(out)
    by_c4 = set(table.filter(pc.equal(table["rejected_by"], "c4"))["id"].to_pylist())
    assert {
        r["id"] for r in json_rows(capsys, str(out), "--step", "c4", "--limit", "9999")
    } == by_c4
    words = table.filter(pc.match_substring(table["reject_reason"], "word_count"))
    got = json_rows(capsys, str(out / "rejected"), "--reason", "word_count", "--limit", "9999")
    assert {r["id"] for r in got} == set(words["id"].to_pylist())


def test_sample_is_seeded_distinct_and_from_the_matching_rows(out, capsys, monkeypatch):
    monkeypatch.setattr(rows_module, "BATCH_ROWS", 13)  # the sample spans many batches
    args = (str(out), "--kept", "--sample", "7", "--seed", "1", "--columns", "id")
    first = [r["id"] for r in json_rows(capsys, *args)]
    again = [r["id"] for r in json_rows(capsys, *args)]
    other = [r["id"] for r in json_rows(capsys, *args[:-4], "--seed", "2", "--columns", "id")]
    kept = set(pq.read_table(out / "kept")["id"].to_pylist())
    assert first == again and len(set(first)) == 7 and set(first) <= kept
    assert other != first


def test_sort_keeps_the_largest_values_across_batches(out, capsys, monkeypatch):
    monkeypatch.setattr(rows_module, "BATCH_ROWS", 11)
    got = json_rows(capsys, str(out), "--sort", "reject_value", "--desc", "--limit", "6")
    values = rejected(out)["reject_value"].drop_null().to_pylist()
    assert [r["reject_value"] for r in got] == sorted(values, reverse=True)[:6]
    low = json_rows(capsys, str(out), "--sort", "reject_value", "--limit", "3", "--rejected")
    assert [r["reject_value"] for r in low] == sorted(values)[:3]


def test_json_lines_carry_the_full_text(out, capsys):
    table = pq.read_table(out / "kept")
    longest = table.take(pc.sort_indices(pc.utf8_length(table["text"]), [("", "descending")])[:1])
    rid, text = longest["id"][0].as_py(), longest["text"][0].as_py()
    assert len(text) > 1000
    got = json_rows(capsys, str(out), "--id", rid, "--width", "50")
    assert len(got) == 1 and got[0]["text"] == text and got[0]["status"] == "kept"
    code, shown, _ = inspect(capsys, str(out), "--id", rid, "--width", "50")
    assert code == 0 and "1 of" in shown and text not in shown and text[:20] in shown


def test_score_and_where_ranges_on_one_file(out, capsys):
    part = out / "rejected" / "part-00001.parquet"
    table = pq.read_table(part)
    value = table["reject_value"]
    mask = pc.and_(pc.greater_equal(value, 2), pc.less_equal(value, 40))
    expected = set(table.filter(pc.fill_null(mask, False))["id"].to_pylist())
    got = json_rows(capsys, str(part), "--score", "reject_value:2:40", "--limit", "9999")
    assert {r["id"] for r in got} == expected and expected
    where = json_rows(
        capsys, str(part), "--where", "reject_value>=2", "--where", "reject_value<=40"
    )
    assert {r["id"] for r in where} <= expected and len(where) == min(10, len(expected))


def test_missing_column_is_one_line_naming_the_columns(out, capsys):
    code, text, err = inspect(capsys, str(out), "--where", "nope>=1")
    assert code == 2 and text == ""
    assert err.count("\n") == 1 and "'nope'" in err and "reject_reason" in err and "text" in err
    code, _, err = inspect(capsys, str(out / "kept"), "--sort", "missing")
    assert code == 2 and "missing" in err and "columns: " in err


def test_folder_without_parquet_is_one_line(tmp_path, capsys):
    code, _, err = inspect(capsys, str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "no Parquet files" in err
