"""Readers: formats, folders and globs, bad files named in errors, bad rows rejected as invalid."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import SchemaError
from pipeline.io.readers import ReadOptions, discover, read_shard
from tests.conftest import write_parquet


def read_all(path, fmt="auto", **opts):
    tables = [t for s in discover(str(path), fmt) for t in read_shard(s, ReadOptions(**opts))]
    return pa.concat_tables(tables, promote_options="permissive")


def test_parquet_folder_and_glob_are_sorted(tmp_path):
    write_parquet(tmp_path / "b.parquet", text=["b0", "b1"])
    write_parquet(tmp_path / "a.parquet", text=["a0"])
    table = read_all(tmp_path)
    assert table["text"].to_pylist() == ["a0", "b0", "b1"]
    assert table["id"].to_pylist() == ["a.parquet:0", "b.parquet:0", "b.parquet:1"]
    assert table["_shard"].to_pylist() == [0, 1, 1]
    assert read_all(tmp_path / "b*.parquet")["text"].to_pylist() == ["b0", "b1"]


def test_jsonl_and_gzip(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "one", "id": 7}\n\n{"text": "two", "id": 8}\n')
    with gzip.open(tmp_path / "y.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"text": "three", "lang": "en"}) + "\n")
    table = read_all(tmp_path)
    assert table["text"].to_pylist() == ["one", "two", "three"]
    assert table["id"].to_pylist() == ["7", "8", "y.jsonl.gz:0"]


def test_hf_dataset_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"content": ["hello there", "general kenobi"]}).save_to_disk(
        str(tmp_path / "ds")
    )
    table = read_all(tmp_path / "ds", text_column="content")
    assert table["content"].to_pylist() == ["hello there", "general kenobi"]


def test_custom_text_and_id_columns(tmp_path):
    write_parquet(tmp_path / "a.parquet", body=["x"], doc=["d1"])
    table = read_all(tmp_path, text_column="body", id_column="doc")
    assert table["doc"].to_pylist() == ["d1"]


def test_invalid_rows_are_rejected_with_reasons(tmp_path):
    bad_utf8 = b"caf\xe9 au lait"
    pq.write_table(
        pa.table(
            {"text": pa.array([b"good text", None, b"", b"   ", bad_utf8, b"x" * 50], pa.binary())}
        ),
        tmp_path / "a.parquet",
    )
    table = read_all(tmp_path, max_text_chars=20)
    assert table["reject_reason"].to_pylist() == [
        None,
        "invalid:null_text",
        "invalid:empty_text",
        "invalid:empty_text",
        "invalid:invalid_utf8",
        "invalid:text_too_long",
    ]
    assert table["rejected_by"].to_pylist()[1] == "input"
    assert table["text"].to_pylist()[4] == "caf\ufffd au lait"


def test_jsonl_bad_lines_are_rows_not_crashes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b'{"text": "fine"}\n{"text": 12}\n{not json}\n{"other": 1}\n[1, 2]\n{"text": "caf\xe9"}\n'
    )
    table = read_all(path)
    assert table["reject_reason"].to_pylist() == [
        None,
        "invalid:not_a_string",
        "invalid:bad_json",
        "invalid:missing_text",
        "invalid:not_an_object",
        "invalid:invalid_utf8",
    ]
    assert table["text"].to_pylist()[:3] == ["fine", "12", "{not json}"]


def test_a_field_changing_shape_names_both_shapes_and_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"text": "a", "tags": ["x"]}, {"text": "b", "tags": ["y"]}, {"text": "c", "tags": [1]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        SchemaError,
        match=r"a\.jsonl: field 'tags' holds a list<item: string> on "
        r"line 1 and a list<item: int64> on line 3",
    ):
        read_all(path)


VALUES = [1, 22, 4444.5, -1e10, True, None, "x\u00e9\u20acy", {"a": [1, {"b": "]"}]}, "e" * 300]


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 20])
def test_a_json_array_streams_whatever_the_block(block):
    import io

    from pipeline.io.readers import array_elements

    for indent in (None, 2):  # numbers, words and multi-byte characters cut by a block's end
        data = b"\xef\xbb\xbf" + json.dumps(VALUES, indent=indent, ensure_ascii=False).encode()
        found = list(array_elements(io.BufferedReader(io.BytesIO(data + b"\n\n")), block))
        assert [value for value, _ in found] == VALUES
        assert [json.loads(raw) for _, raw in found] == VALUES  # the source text of each
    empty = io.BufferedReader(io.BytesIO(b" [ ] "))
    assert list(array_elements(empty, block)) == []


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'[{"text": "a"},]', "Expecting value after element 1"),
        (b'[{"text": "a"} {"text": "b"}]', "expected ',' or ']' after element 1"),
        (b'[{"text": "a"}, {"text": "b"', r"the file ends inside element 2 \(cut short\?\)"),
        (b'[{"text": "a"}, {"text": "b', r"the file ends inside element 2 \(cut short\?\)"),
        (b'[{"text": "a"}, {"text" "b"}]', "Expecting ':' delimiter after element 1"),
        (b'[{"text": "a"}] {"text": "b"}', "extra data after the array after element 1"),
        (b'[{"text": "a"}, {"text": "\xff"}]', r"not UTF-8 text \(invalid start byte: ff\)"),
        (b"[1,", r"the file ends inside element 2 \(cut short\?\)"),
        (b"[", r"the file ends inside element 1 \(cut short\?\)"),
        (b"[1 ", r"the file ends after element 1, before the array closes \(cut short\?\)"),
    ],
)
def test_a_broken_json_array_names_the_file_and_where(tmp_path, data, why):
    from pipeline.io.readers import peek_columns

    (tmp_path / "a.json").write_bytes(data)
    if data.startswith(b'[{"text": "a"}') and b"\xff" not in data:
        assert peek_columns(discover(str(tmp_path / "a.json"))[0]) == ["text"]  # one element read
    with pytest.raises(SchemaError, match=rf"a\.json: not a valid JSON array: {why}"):
        read_all(tmp_path / "a.json")


def test_missing_text_column_names_the_file(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", body=["x"])
    with pytest.raises(SchemaError, match=r"a\.parquet: no text column 'text' \(columns: body\)"):
        read_all(path)


def test_wrong_text_type_names_the_file(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", text=[1, 2])
    with pytest.raises(SchemaError, match=r"a\.parquet: text column 'text' has type int64"):
        read_all(path)


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SchemaError, match="broken.parquet: cannot read parquet file"):
        read_all(path)


def test_no_input_is_an_error(tmp_path):
    with pytest.raises(SchemaError, match="no input files"):
        discover(str(tmp_path / "nothing"))


def test_chunks_are_bounded(tmp_path):
    write_parquet(tmp_path / "a.parquet", text=[f"t{i}" for i in range(10)])
    chunks = list(read_shard(discover(str(tmp_path))[0], ReadOptions(chunk_rows=3)))
    assert [c.num_rows for c in chunks] == [3, 3, 3, 1]
    assert chunks[-1]["_row"].to_pylist() == [9]


def test_limit(tmp_path):
    write_parquet(tmp_path / "a.parquet", text=[f"t{i}" for i in range(10)])
    chunks = list(read_shard(discover(str(tmp_path))[0], ReadOptions(chunk_rows=4), limit=6))
    assert sum(c.num_rows for c in chunks) == 6


def test_arrow_ipc_file_format_is_checked_and_chunked(tmp_path):
    table = pa.table({"text": [f"t{i}" for i in range(5)]})
    with pa.ipc.new_file(tmp_path / "a.arrow", table.schema) as writer:
        writer.write_table(table)
    chunks = list(read_shard(discover(str(tmp_path / "a.arrow"))[0], ReadOptions(chunk_rows=2)))
    assert [c.num_rows for c in chunks] == [2, 2, 1]
    with pa.ipc.new_file(tmp_path / "b.arrow", pa.schema([("body", pa.string())])) as writer:
        writer.write_table(pa.table({"body": ["x"]}))
    with pytest.raises(SchemaError, match=r"b\.arrow: no text column"):
        list(read_shard(discover(str(tmp_path / "b.arrow"))[0], ReadOptions()))
