"""Outputs on an object store: runs write s3:// URIs (a real S3 API server, moto) as they write
local folders, resume there, and give the same rows."""

from __future__ import annotations

import json

import pyarrow.fs as pafs
import pytest

from pipeline.cli import main
from pipeline.core.errors import RecipeError
from pipeline.core.recipe import load_recipe, parse_recipe
from pipeline.io.layout import RunLayout
from pipeline.io.storage import Location, check_scheme, redacted
from pipeline.run.manifest import reconcile
from pipeline.run.runner import run_recipe
from tests.conftest import REPO
from tests.pipeline.test_dedup_runners import planted_shards
from tests.pipeline.test_runners import outputs

RECIPE = REPO / "configs" / "web-en-heuristics.yaml"


def objects(uri: str) -> list[str]:
    """Every object key under a URI."""
    root = Location.of(uri)
    found = root.fs.get_file_info(pafs.FileSelector(root.path, recursive=True))
    return [f.path for f in found if f.type == pafs.FileType.File]


def test_location_writes_whole_objects_or_none(s3_bucket):
    root = Location.of(s3_bucket("x"))
    assert str(root).startswith("s3://tamis-") and "test:test" not in str(root)
    marker = root / "a" / "m.json"
    marker.write_json({"rows": 3})
    assert marker.read_json() == {"rows": 3}
    for target in (root / "a" / "half.bin", marker):
        with pytest.raises(RuntimeError), target.writing() as stream:
            stream.write(b"partial")
            raise RuntimeError("the writer failed")
    assert [p.name for p in (root / "a").glob()] == ["m.json"]  # no partial object
    assert marker.read_json() == {"rows": 3}  # the earlier object is left as it was
    assert root.glob() == [] and not root.is_empty()  # folders are not files
    assert {root / "a", Location.of(s3_bucket("x/a"))} == {root / "a"}
    (root / "a").remove()
    assert root.is_empty() and not marker.exists()


def test_output_uris_are_checked_without_contacting_the_store():
    check_scheme("hdfs://namenode:8020/out")  # no Hadoop client needed on the submitting side
    check_scheme("s3://bucket/out")
    with pytest.raises(RecipeError, match="unknown filesystem nosuch://"):
        check_scheme("nosuch://key:secret@b/out")
    assert redacted("s3://key:secret@b/out?scheme=http") == "s3://b/out?scheme=http"
    assert Location.of("file:///data/out") == Location.of("/data/out")


def test_local_run_to_s3_equals_a_run_to_a_folder(small_samples, tmp_path, s3_bucket, capsys):
    uri = s3_bucket("out")
    manifest = run_recipe(load_recipe(RECIPE, str(small_samples), uri), "local", progress=False)
    run_recipe(
        load_recipe(RECIPE, str(small_samples), str(tmp_path / "f")), "local", progress=False
    )
    for got, want in zip(outputs(uri), outputs(tmp_path / "f"), strict=True):
        assert got.equals(want)
    reconcile(manifest, RunLayout.at(uri))
    assert manifest["shards"][0]["kept_file"].startswith("s3://tamis-")
    assert "test:test" not in json.dumps(manifest)  # credentials in the URI stay out of it
    assert not [k for k in objects(uri) if k.endswith(".tmp")]
    assert main(["clusters", uri, "--step", "exact_dedup"]) == 0
    assert "exact_dedup:" in capsys.readouterr().out

    # A run that died after its first stage: a shard's last-stage marker and files are gone,
    # a stale piece is left behind. The rerun redoes that shard only and gives the same rows.
    layout = RunLayout.at(uri)
    for lost in (layout.done(1, 1), layout.kept(1), layout.rejected(1), layout.manifest):
        lost.remove()
    stale = layout.shard_dir(1, 1) / "kept-999999999999.parquet"
    stale.write_bytes(b"not parquet")
    again = run_recipe(load_recipe(RECIPE, str(small_samples), uri), "local", progress=False)
    stages = again["run"]["stages"]
    assert stages[0]["shards_run"] == 0 and stages[1]["shards_run"] == 1
    assert not stale.exists()
    for got, want in zip(outputs(uri), outputs(tmp_path / "f"), strict=True):
        assert got.equals(want)
    assert again["rows"] == manifest["rows"]


@pytest.mark.slow
def test_ray_run_to_s3_with_shuffles_equals_local(tmp_path, sample_docs, s3_bucket, ray_session):
    shards = planted_shards(sample_docs, tmp_path / "in")

    def run(runner: str, out: str) -> dict:
        recipe = parse_recipe(
            {
                "name": "dedup",
                "input": {"path": str(shards), "chunk_rows": 40},
                "output": {"path": out},
                "steps": [
                    {"exact_dedup": {}},
                    # Small buckets: Ray runs map/reduce task shuffles, their runs in the bucket.
                    {"minhash_dedup": {"verify": True, "rows_per_bucket": 40}},
                    {"gopher_quality": {}},
                ],
            }
        )
        return run_recipe(recipe, runner=runner, progress=False)

    uri = s3_bucket("ray")
    manifest = run("ray", uri)
    run("local", str(tmp_path / "local"))
    for got, want in zip(outputs(uri), outputs(tmp_path / "local"), strict=True):
        assert got.equals(want)
    minhash = next(s for s in manifest["steps"] if s["step"] == "minhash_dedup")
    assert minhash["rejected"] >= 30 and minhash["global"]["buckets"] > 1
    reconcile(manifest, RunLayout.at(uri))
