"""Exact dedup: normalisation, first occurrence by file then row, buckets, library use."""

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.recipe import parse_recipe
from pipeline.dedup import ExactDedup
from pipeline.dedup.exact import normalise
from pipeline.run.runner import run_recipe
from tests.conftest import write_parquet


def test_normalise():
    assert (
        normalise(pa.array(["  Hello,   WORLD!\n", "hello world"])).to_pylist()
        == ["hello world"] * 2
    )


def test_split_keeps_first_and_names_it():
    kept, dups = ExactDedup().split(
        pa.table({"text": ["A b.", "x", "a   B", "X!", "y"], "id": list("abcde")})
    )
    assert kept["id"].to_pylist() == ["a", "b", "e"]
    assert dups["id"].to_pylist() == ["c", "d"]
    assert dups["duplicate_of"].to_pylist() == ["a", "b"]
    assert set(dups["reject_reason"].to_pylist()) == {"duplicate:exact"}


def test_normalise_off_compares_raw_text():
    kept, dups = ExactDedup(normalise=False).split(["Same", "same", "Same"])
    assert dups["duplicate_of"].to_pylist() == ["0"]


def dedup_run(tmp_path, name, **params):
    recipe = parse_recipe(
        {
            "name": name,
            "input": {"path": str(tmp_path / "in"), "chunk_rows": 2},
            "output": {"path": str(tmp_path / name)},
            "steps": [{"exact_dedup": params}],
        }
    )
    run_recipe(recipe, runner="local", progress=False)
    return pa.concat_tables(
        [pq.read_table(p) for p in sorted((tmp_path / name / "rejected").glob("*.parquet"))]
    )


def test_first_occurrence_by_file_then_row(tmp_path):
    write_parquet(tmp_path / "in" / "b.parquet", id=["b0", "b1", "b2"], text=["one", "two", "Two!"])
    write_parquet(tmp_path / "in" / "a.parquet", id=["a0", "a1"], text=["zero", "TWO"])
    rejected = dedup_run(tmp_path, "out")
    # a.parquet comes first, so its "TWO" is kept and both copies in b.parquet point to it.
    assert sorted(zip(rejected["id"].to_pylist(), rejected["duplicate_of"].to_pylist())) == [
        ("b1", "a1"),
        ("b2", "a1"),
    ]


def test_many_buckets_give_the_same_result(tmp_path):
    texts = [f"doc {i % 37}" for i in range(300)]
    write_parquet(tmp_path / "in" / "a.parquet", id=[f"i{i}" for i in range(300)], text=texts)
    one = dedup_run(tmp_path, "one")
    many = dedup_run(tmp_path, "many", rows_per_bucket=10)
    assert one.num_rows == 300 - 37
    assert one.sort_by("id").to_pylist() == many.sort_by("id").to_pylist()


def test_ids_of_any_type_are_compared_as_strings_and_kept():
    import pandas as pd

    kept, dups = ExactDedup().split(pd.DataFrame({"id": [1, 2, 3], "text": ["x y", "x y", "z"]}))
    assert kept["id"].to_pylist() == [1, 3] and dups["id"].to_pylist() == [2]
    assert dups["duplicate_of"].to_pylist() == ["1"]
    kept, dups = ExactDedup().split(pa.table({"id": [None, "b", None], "text": ["q", "q", "q"]}))
    assert kept["id"].to_pylist() == [None]  # a missing id still names its row: "<shard>:<row>"
    assert dups["duplicate_of"].to_pylist() == ["0:0", "0:0"]
