"""Real web input: WARC files and HTML columns through `extract`, inputs that fail loudly
(a wrong text field, mostly invalid files, unreadable files in a folder), compressed JSON."""

from __future__ import annotations

import bz2
import collections
import gzip
import json
import logging
import lzma

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from filters import Extract
from pipeline.core.errors import SchemaError
from pipeline.core.recipe import load_recipe, parse_recipe
from pipeline.io.readers import ReadOptions, discover, read_shard
from pipeline.run.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_runners import outputs

WARC = REPO / "samples" / "warc"
ARTICLE = (
    "<html><head><title>Port reopens</title></head><body><nav><a href=/>Home</a> | "
    "<a href=/world>World</a></nav><div class=cookie>We use cookies. Accept all</div>"
    "<article><h1>Port reopens after the storm</h1><p>The harbour of Saint-Malo reopened on "
    "Tuesday after three days of closure, the port authority said.</p><p>Ferries to Jersey "
    "and Portsmouth resumed in the afternoon, and the first cargo ship docked at six.</p>"
    "</article><footer>(c) 2024 Coast News. Terms of use.</footer></body></html>"
)


def test_warc_records_become_rows_with_reasons():
    rows = pa.concat_tables(
        [pa.concat_tables(read_shard(s, ReadOptions())) for s in discover(str(WARC))]
    )
    reasons = collections.Counter(rows["reject_reason"].to_pylist())
    pages = reasons.pop(None)
    assert pages == 127 and reasons["warc:request"] == reasons["warc:metadata"] == 120
    assert reasons["warc:not_html"] == 3 and reasons["warc:warcinfo"] == 1
    page = rows.filter(pc.is_null(rows["reject_reason"])).to_pylist()[0]
    assert page["url"].startswith("https://") and page["date"].startswith("2024-03")
    assert page["content_type"] == "text/html" and page["html"].startswith("<!DOCTYPE html>")
    latin = [r for r in rows.to_pylist() if r["html"] and "iso-8859-1" in r["html"][:200]]
    assert latin and all("\ufffd" not in r["html"] for r in latin)  # decoded by its charset


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_extract_keeps_the_article_and_drops_the_chrome(extractor):
    table = pa.table(
        {"id": ["a", "b"], "html": [ARTICLE, "<html><body><nav>Home</nav></body></html>"]}
    )
    kept, rejected = Extract(extractor=extractor, min_chars=20).split(table)
    text = kept["text"][0].as_py()
    assert "Ferries to Jersey and Portsmouth resumed" in text and "cookies" not in text
    assert "html" not in kept.column_names  # kept rows lose the raw HTML...
    assert rejected["reject_reason"].to_pylist() == ["extract:empty"]
    assert "html" in rejected.column_names  # ...rejected ones keep it, to look at


def test_an_html_column_in_parquet_extracts_like_a_warc(tmp_path):
    pq.write_table(pa.table({"id": ["a"], "html": [ARTICLE]}), tmp_path / "pages.parquet")
    recipe = {
        "name": "html",
        "input": {"path": str(tmp_path / "pages.parquet"), "text_column": "html"},
        "output": {"path": str(tmp_path / "out")},
        "steps": [{"extract": {"text_column": "text"}}],
    }
    run_recipe(parse_recipe(recipe), "local", progress=False)
    kept, _ = outputs(tmp_path / "out")
    assert kept["text"][0].as_py().startswith("Port reopens after the storm")


@pytest.mark.slow
def test_warc_recipe_gives_the_same_output_on_both_runners(tmp_path, monkeypatch, ray_session):
    monkeypatch.chdir(REPO)
    recipe = REPO / "configs" / "web-warc.yaml"
    manifests = {
        runner: run_recipe(
            load_recipe(recipe, None, str(tmp_path / runner)), runner, progress=False
        )
        for runner in ("local", "ray")
    }
    for got, want in zip(outputs(tmp_path / "ray"), outputs(tmp_path / "local"), strict=True):
        assert got.equals(want)
    local = manifests["local"]
    assert local["rows"]["in"] == 371 and local["rows"]["kept"] > 40
    steps = {s["step"]: s for s in local["steps"]}
    assert steps["extract"]["rows_in"] == 127 and steps["exact_dedup"]["rejected"] > 0


def test_a_json_file_without_the_text_field_is_one_error(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"body": "Some text here."}\n' * 5)
    recipe = {
        "name": "x",
        "input": {"path": str(tmp_path / "a.jsonl")},
        "output": {"path": str(tmp_path / "o")},
        "steps": [{"c4": {}}],
    }
    with pytest.raises(
        SchemaError, match=r"a.jsonl: no text column 'text' .*set input.text_column"
    ):
        run_recipe(parse_recipe(recipe), "local", progress=False)


def test_a_mostly_invalid_file_stops_the_run(tmp_path):
    lines = ['{"text": "A good line of text."}'] * 3 + ["{broken"] * 4
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(lines) + "\n")
    recipe = {
        "name": "x",
        "input": {"path": str(tmp_path / "in")},
        "output": {"path": str(tmp_path / "o")},
        "steps": [{"c4": {}}],
    }
    with pytest.raises(
        SchemaError, match=r"a.jsonl: 4 of 7 rows are invalid \(invalid:bad_json 4\)"
    ):
        run_recipe(parse_recipe(recipe), "local", progress=False)
    recipe["input"]["max_invalid_fraction"] = 0.8
    recipe["output"]["path"] = str(tmp_path / "o2")
    assert run_recipe(parse_recipe(recipe), "local", progress=False)["rows"]["in"] == 7


def test_files_no_reader_takes_are_listed_not_dropped(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "Some text here that is fine."}\n')
    (folder / "notes.txt").write_text("not an input")
    (folder / "page.html").write_text("<html></html>")
    recipe = {
        "name": "x",
        "input": {"path": str(folder)},
        "output": {"path": str(tmp_path / "o")},
        "steps": [{"c4": {}}],
    }
    with caplog.at_level(logging.WARNING):
        manifest = run_recipe(parse_recipe(recipe), "local", progress=False)
    assert [p.rsplit("/", 1)[1] for p in manifest["skipped_files"]] == ["notes.txt", "page.html"]
    assert "2 file(s) under" in caplog.text and "notes.txt" in caplog.text


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst", ""])
def test_compressed_json_lines_and_arrays(tmp_path, suffix):
    lines = "".join(json.dumps({"text": f"Document number {i}."}) + "\n" for i in range(3)).encode()
    array = json.dumps([{"text": "One."}, {"text": "Two."}]).encode()
    for name, data in (("a.jsonl", lines), ("b.json", array)):
        if suffix == ".zst":
            with pa.output_stream(str(tmp_path / f"{name}{suffix}"), compression="zstd") as fh:
                fh.write(data)
            continue
        packed = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress, "": bytes}
        (tmp_path / f"{name}{suffix}").write_bytes(packed[suffix](data))
    texts = [
        pa.concat_tables(read_shard(s, ReadOptions()))["text"].to_pylist()
        for s in discover(str(tmp_path))
    ]
    assert texts == [[f"Document number {i}." for i in range(3)], ["One.", "Two."]]
