"""Inputs as filesystem URIs (read through pyarrow.fs), outputs as file:// URIs (object-store
outputs: test_object_store.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.core.errors import SchemaError
from pipeline.core.recipe import load_recipe
from pipeline.io.readers import ReadOptions, discover, read_shard
from pipeline.run.runner import run_recipe
from tests.conftest import REPO, write_parquet
from tests.pipeline.test_runners import outputs

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"


def read_all(path: str, **opts) -> pa.Table:
    tables = [t for s in discover(path) for t in read_shard(s, ReadOptions(**opts))]
    return pa.concat_tables(tables, promote_options="permissive")


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder with Parquet, JSONL and JSONL.gz files, one nested, plus files to skip."""
    folder = tmp_path / "in"
    write_parquet(folder / "a.parquet", text=["a0", "a1"], id=["x", "y"])
    (folder / "sub").mkdir()
    (folder / "sub" / "b.jsonl").write_text('{"text": "b0"}\n{"text": null}\n')
    with gzip.open(folder / "c.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"text": "c0", "id": 3}) + "\n")
    (folder / "_SUCCESS").write_text("")
    (folder / "notes.txt").write_text("not data")
    return folder


def test_file_uri_folder_reads_like_the_path(mixed):
    shards = discover(mixed.as_uri())
    assert [s.path for s in shards] == [
        f"{mixed.as_uri()}/a.parquet",
        f"{mixed.as_uri()}/c.jsonl.gz",
        f"{mixed.as_uri()}/sub/b.jsonl",
    ]
    assert [s.label for s in shards] == [s.label for s in discover(str(mixed))]
    assert read_all(mixed.as_uri()).equals(read_all(str(mixed)))
    table = read_all(mixed.as_uri())
    assert table["text"].to_pylist() == ["a0", "a1", "c0", "b0", None]
    assert table["id"].to_pylist() == ["x", "y", "3", "b.jsonl:0", "b.jsonl:1"]
    assert table["reject_reason"].to_pylist()[-1] == "invalid:null_text"


def test_file_uri_of_one_file_and_glob(mixed):
    assert read_all((mixed / "a.parquet").as_uri())["text"].to_pylist() == ["a0", "a1"]
    found = discover(f"{mixed.as_uri()}/**.jsonl*")
    assert [s.label for s in found] == ["c.jsonl.gz", "b.jsonl"]
    assert [s.format for s in found] == ["jsonl", "jsonl"]


def test_hf_dataset_under_a_uri_reads_its_arrow_files(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"content": ["hello there", "general kenobi"]}).save_to_disk(
        str(tmp_path / "ds")
    )
    shards = discover((tmp_path / "ds").as_uri())
    assert [s.format for s in shards] == ["hf"]
    table = read_all((tmp_path / "ds").as_uri(), text_column="content")
    assert table["content"].to_pylist() == ["hello there", "general kenobi"]


def test_uri_errors_are_one_line(tmp_path):
    with pytest.raises(SchemaError, match="cannot open its filesystem") as err:
        discover("nosuchfs://bucket/data")
    assert "\n" not in str(err.value)
    with pytest.raises(SchemaError, match="no input files found"):
        discover((tmp_path / "missing").as_uri())


def test_run_with_uri_input_and_file_uri_output_equals_paths(small_samples, tmp_path):
    by_uri = run_recipe(
        load_recipe(RECIPE, small_samples.as_uri(), (tmp_path / "uri").as_uri()),
        "local",
        progress=False,
    )
    run_recipe(
        load_recipe(RECIPE, str(small_samples), str(tmp_path / "path")), "local", progress=False
    )
    for got, want in zip(outputs(tmp_path / "uri"), outputs(tmp_path / "path")):
        assert got.equals(want)
    assert by_uri["shards"][0]["input"] == f"{small_samples.as_uri()}/part-00000.parquet"
    again = run_recipe(
        load_recipe(RECIPE, small_samples.as_uri(), (tmp_path / "uri").as_uri()),
        "local",
        progress=False,
    )
    assert all(stage["shards_run"] == 0 for stage in again["run"]["stages"])  # resumes
