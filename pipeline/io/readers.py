"""Input discovery and streaming shard readers (Parquet, JSONL[.gz], HF datasets).

Every row a reader yields carries `_shard` and `_row`; rows whose text is unusable come out
already rejected with `invalid:<why>`, so nothing is dropped silently.

Inputs are local paths or filesystem URIs (`s3://`, `gs://`, `hdfs://`, `file://`): a URI is
listed and read through `pyarrow.fs.FileSystem.from_uri`, on whichever worker reads the shard.
"""

from __future__ import annotations

import fnmatch
import glob
import gzip
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.core.columns import REJECT_REASON, REJECTED_BY, ROW, SHARD
from pipeline.core.errors import SchemaError, first_line

FORMATS = ("parquet", "jsonl", "hf")
_SUFFIXES = {
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".jsonl.gz": "jsonl",
    ".json.gz": "jsonl",
}
INVALID_BY = "input"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WILDCARDS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputShard:
    """One input file, its position in the deterministic input order, and its format."""

    index: int
    path: str
    format: str

    @property
    def label(self) -> str:
        """A short name for ids and messages (the file name, for paths and URIs alike)."""
        return Path(urlsplit(self.path).path if is_uri(self.path) else self.path).name


@dataclass(frozen=True)
class ReadOptions:
    """How to read text and ids from every shard."""

    text_column: str = "text"
    id_column: str = "id"
    max_text_chars: int = 1_000_000
    chunk_rows: int = 4096


def _format_of(path: str) -> str | None:
    """The format a file name implies, or None."""
    name = path.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    if name.endswith(".arrow"):
        return "hf"
    return None


def _hf_arrow_files(folder: Path) -> list[str] | None:
    """Arrow files of a dataset saved by `datasets.save_to_disk`, or None if `folder` is not one."""
    state = folder / "state.json"
    if state.exists() and (folder / "dataset_info.json").exists():
        files = json.loads(state.read_text())["_data_files"]
        return [str(folder / f["filename"]) for f in files]
    splits = folder / "dataset_dict.json"
    if splits.exists():
        found: list[str] = []
        for split in json.loads(splits.read_text())["splits"]:
            found += _hf_arrow_files(folder / split) or []
        return found
    return None


def discover(path: str, fmt: str = "auto") -> list[InputShard]:
    """Input shards under a file, folder, glob, saved HF dataset or URI, sorted by path."""
    target = Path(path)
    if is_uri(path):
        files = _discover_uri(path)
    elif target.is_dir():
        hf = _hf_arrow_files(target)
        if hf is not None:
            files = hf
        else:
            files = sorted(
                str(p)
                for p in target.rglob("*")
                if p.is_file() and _format_of(str(p)) and not p.name.startswith((".", "_"))
            )
    elif target.is_file():
        files = [str(target)]
    else:
        files = sorted(glob.glob(path, recursive=True))
    if not files:
        raise SchemaError(
            f"no input files found at {path!r} (expected Parquet, JSONL[.gz] or a saved HF dataset)"
        )
    shards = []
    for i, f in enumerate(files):
        found = _format_of(f) if fmt == "auto" else fmt
        if found is None:
            raise SchemaError(
                f"{f}: cannot tell the format from the name; "
                f"set input.format ({', '.join(FORMATS)})"
            )
        shards.append(InputShard(i, f, found))
    return shards


def is_uri(path: str) -> bool:
    """True for a filesystem URI such as `s3://bucket/key` or `file:///data`."""
    return bool(_URI.match(path))


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of a URI and the path inside it; one line naming the URI if the
    scheme is unknown or the store cannot be reached."""
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise SchemaError(f"{uri}: cannot open its filesystem: {first_line(err)}") from None


def _discover_uri(uri: str) -> list[str]:
    """Data files under a URI: the file itself, a folder listed recursively, or a glob (`*`, `?`,
    `[...]` in the path; `*` also crosses folders). Returned as URIs, sorted."""
    parts = urlsplit(uri)
    wildcard = _WILDCARDS.search(parts.path)
    base = parts.path if wildcard is None else parts.path[: wildcard.start()].rsplit("/", 1)[0]
    fs, inner = filesystem(urlunsplit(parts._replace(path=base or "/")))
    inner = inner.rstrip("/") or inner

    def as_uri(found: str) -> str:
        return urlunsplit(parts._replace(path=base.rstrip("/") + found[len(inner) :]))

    try:
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.File and wildcard is None:
            return [uri]
        if info.type != pafs.FileType.Directory:
            return []
        listed = [
            f
            for f in fs.get_file_info(pafs.FileSelector(inner, recursive=True))
            if f.type == pafs.FileType.File
        ]
    except (OSError, pa.ArrowException) as err:
        raise SchemaError(f"{uri}: cannot list: {first_line(err)}") from None
    if any(f.base_name in ("dataset_info.json", "dataset_dict.json") for f in listed):
        listed = [f for f in listed if f.path.endswith(".arrow")]  # a saved HF dataset
    files = [
        as_uri(f.path)
        for f in listed
        if _format_of(f.path) and not f.base_name.startswith((".", "_"))
    ]
    if wildcard is not None:
        files = [f for f in files if fnmatch.fnmatchcase(urlsplit(f).path, parts.path)]
    return sorted(files)


@contextmanager
def open_input(path: str) -> Iterator[str | pa.NativeFile]:
    """A local path as is, or a URI opened for random access (Parquet footers, Arrow files)."""
    if not is_uri(path):
        yield path
        return
    fs, inner = filesystem(path)
    with fs.open_input_file(inner) as handle:
        yield handle


@contextmanager
def _open_stream(path: str) -> Iterator[BinaryIO]:
    """A file read front to back as bytes lines, gunzipped when its name ends in `.gz`."""
    if is_uri(path):
        fs, inner = filesystem(path)
        raw: BinaryIO = io.BufferedReader(fs.open_input_stream(inner, compression=None))
    else:
        raw = open(path, "rb")
    with raw:
        yield gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw


def input_size(path: str) -> int:
    """Size in bytes of an input file or URI."""
    if not is_uri(path):
        return Path(path).stat().st_size
    fs, inner = filesystem(path)
    return fs.get_file_info(inner).size or 0


def read_shard(
    shard: InputShard, opts: ReadOptions, limit: int | None = None
) -> Iterator[pa.Table]:
    """Chunks of `shard` with `_shard`, `_row`, an id, and invalid rows already rejected."""
    readers = {"parquet": _parquet_batches, "jsonl": _jsonl_batches, "hf": _arrow_batches}
    row = 0
    try:
        for raw in readers[shard.format](shard, opts):
            if limit is not None and row + raw.num_rows > limit:
                raw = raw.slice(0, max(limit - row, 0))
            if raw.num_rows:
                yield _prepare(raw, shard, opts, row)
            row += raw.num_rows
            if limit is not None and row >= limit:
                return
    except SchemaError:
        raise
    except (OSError, pa.ArrowException, ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{shard.path}: cannot read {shard.format} file: {exc}") from exc


def _parquet_batches(shard: InputShard, opts: ReadOptions) -> Iterator[pa.Table]:
    """Record batches of a Parquet file, checked for the text column."""
    with open_input(shard.path) as source:
        parquet = pq.ParquetFile(source)
        _require_text_column(shard, parquet.schema_arrow, opts)
        for batch in parquet.iter_batches(batch_size=opts.chunk_rows):
            yield pa.Table.from_batches([batch])


def _arrow_batches(shard: InputShard, opts: ReadOptions) -> Iterator[pa.Table]:
    """Chunks of an Arrow file (the stream format `datasets.save_to_disk` writes, or IPC file)."""
    with _arrow_source(shard.path) as source:
        try:
            stream = pa.ipc.open_stream(source)
            schema, batches = stream.schema, iter(stream)
        except pa.ArrowInvalid:
            source.seek(0)
            random_access = pa.ipc.open_file(source)
            schema = random_access.schema
            batches = (random_access.get_batch(i) for i in range(random_access.num_record_batches))
        _require_text_column(shard, schema, opts)
        for batch in batches:
            for start in range(0, batch.num_rows, opts.chunk_rows):
                yield pa.Table.from_batches([batch.slice(start, opts.chunk_rows)])


def _arrow_source(path: str) -> pa.NativeFile:
    """A local Arrow file memory-mapped, or a URI opened for random access."""
    if not is_uri(path):
        return pa.memory_map(path)
    fs, inner = filesystem(path)
    return fs.open_input_file(inner)


def _jsonl_batches(shard: InputShard, opts: ReadOptions) -> Iterator[pa.Table]:
    """Chunks of a JSONL file; undecodable or unparsable lines become rows rejected as invalid."""
    rows: list[dict[str, Any]] = []
    seen_text = False
    with _open_stream(shard.path) as fh:
        for line in fh:
            if not line.strip():
                continue
            rows.append(_parse_json_line(line, opts.text_column))
            seen_text = seen_text or opts.text_column in rows[-1]
            if len(rows) == opts.chunk_rows:
                if not seen_text:
                    raise SchemaError(
                        f"{shard.path}: no row has the text column {opts.text_column!r}"
                    )
                yield _rows_to_table(rows, shard)
                rows = []
    if rows:
        if not seen_text:
            raise SchemaError(f"{shard.path}: no row has the text column {opts.text_column!r}")
        yield _rows_to_table(rows, shard)


def _parse_json_line(line: bytes, text_column: str) -> dict[str, Any]:
    """One JSONL record; a bad line keeps its raw text and is marked for rejection."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return {
            text_column: line.decode("utf-8", "replace").rstrip("\n"),
            REJECT_REASON: "invalid:invalid_utf8",
        }
    except json.JSONDecodeError:
        return {text_column: line.decode("utf-8").rstrip("\n"), REJECT_REASON: "invalid:bad_json"}
    if not isinstance(record, dict):
        return {text_column: json.dumps(record), REJECT_REASON: "invalid:not_an_object"}
    if text_column not in record:
        return {**record, text_column: None, REJECT_REASON: "invalid:missing_text"}
    value = record[text_column]
    if value is not None and not isinstance(value, str):
        return {**record, text_column: json.dumps(value), REJECT_REASON: "invalid:not_a_string"}
    return record


def _rows_to_table(rows: list[dict[str, Any]], shard: InputShard) -> pa.Table:
    """An Arrow table from JSON records (every key of every row); mixed-type columns are a clear
    error naming the file."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    try:
        return pa.table({k: pa.array([row.get(k) for row in rows]) for k in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"{shard.path}: a field has mixed types across rows ({exc})") from exc


def _require_text_column(shard: InputShard, schema: pa.Schema, opts: ReadOptions) -> None:
    """Fail with the file name when the text column is missing or not text."""
    if opts.text_column not in schema.names:
        raise SchemaError(
            f"{shard.path}: no text column {opts.text_column!r} "
            f"(columns: {', '.join(schema.names)}); "
            "set input.text_column"
        )
    kind = schema.field(opts.text_column).type
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_null(kind)
    ):
        raise SchemaError(
            f"{shard.path}: text column {opts.text_column!r} has type {kind}, expected a string"
        )


def _prepare(raw: pa.Table, shard: InputShard, opts: ReadOptions, first_row: int) -> pa.Table:
    """Add bookkeeping columns and an id; validate text, rejecting bad rows as `invalid:<why>`."""
    n = raw.num_rows
    given = raw[REJECT_REASON].to_pylist() if REJECT_REASON in raw.column_names else [None] * n
    if REJECT_REASON in raw.column_names:
        raw = raw.drop_columns([REJECT_REASON])
    texts, reasons = _validate_text(raw[opts.text_column], opts.max_text_chars)
    reasons = [g or r for g, r in zip(given, reasons)]
    table = raw.set_column(raw.column_names.index(opts.text_column), opts.text_column, texts)
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    label = shard.label
    ids = [f"{label}:{r}" for r in range(first_row, first_row + n)]
    if opts.id_column in table.column_names:
        given_ids = table[opts.id_column].cast(pa.string()).to_pylist()
        ids = [g if g is not None else made for g, made in zip(given_ids, ids)]
        table = table.drop_columns([opts.id_column])
    table = table.add_column(0, opts.id_column, pa.array(ids, pa.string()))
    table = table.append_column(SHARD, pa.array([shard.index] * n, pa.int32())).append_column(
        ROW, rows
    )
    reason = pa.array(reasons, pa.string())
    by = pc.if_else(pc.is_valid(reason), INVALID_BY, pa.scalar(None, pa.string()))
    return table.append_column(REJECT_REASON, reason).append_column(REJECTED_BY, by)


def _validate_text(column: pa.ChunkedArray, max_chars: int) -> tuple[pa.Array, list[str | None]]:
    """The text as a string array (bad bytes replaced) and an invalid reason per row."""
    kind = column.type
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string()), ["invalid:null_text"] * len(column)
    values: list[Any]
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        values = column.to_pylist()
    else:
        try:
            column.validate(full=True)
            values = column.to_pylist()
        except pa.ArrowInvalid:  # a string column holding bytes that are not UTF-8
            values = column.cast(
                pa.binary() if pa.types.is_string(kind) else pa.large_binary()
            ).to_pylist()
    texts: list[str | None] = []
    reasons: list[str | None] = []
    for value in values:
        reason = None
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                value, reason = value.decode("utf-8", "replace"), "invalid:invalid_utf8"
        if value is None:
            reason = "invalid:null_text"
        elif reason is None and not value.strip():
            reason = "invalid:empty_text"
        elif reason is None and len(value) > max_chars:
            reason = "invalid:text_too_long"
        texts.append(value)
        reasons.append(reason)
    return pa.array(texts, pa.string()), reasons
