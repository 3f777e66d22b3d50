"""Input discovery and streaming shard readers (Parquet, JSONL[.gz], HF datasets).

Every row a reader yields carries `_shard` and `_row`; rows whose text is unusable come out
already rejected with `invalid:<why>`, so nothing is dropped silently.

Inputs are local paths or filesystem URIs (`s3://`, `gs://`, `hdfs://`, `file://`): a URI is
listed and read through `pyarrow.fs.FileSystem.from_uri`, on whichever worker reads the shard.
"""

from __future__ import annotations

import bz2
import codecs
import fnmatch
import glob
import gzip
import io
import json
import lzma
import posixpath
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.core.columns import INVALID_BYTES, READ_REASON, REJECT_REASON
from pipeline.core.errors import SchemaError, first_line
from pipeline.io.records import (
    FORMAT_COLUMNS,
    INVALID_RECORD,
    KINDS,
    detect,
    record_row,
    rows_table,
)
from pipeline.io.shards import InputShard, ReadOptions
from pipeline.io.validate import INVALID_BY, prepare
from pipeline.io.warc import FIELDS as WARC_FIELDS
from pipeline.io.warc import warc_rows

__all__ = [
    "INVALID_BY",
    "InputShard",
    "ReadOptions",
    "discover",
    "empty_input_schema",
    "read_shard",
]

# A turn whose content is a list of parts (`"content": [{"type": ...`), in a JSON file's bytes.
ARRAY_BLOCK = 1 << 20  # bytes of a JSON array read at a time (more for a longer element)
SCAN_BLOCK = 1 << 22  # bytes read at a time when looking for parts
SCAN_OVERLAP = 4096  # bytes of a block kept for the next: '"content": [ {' with its white space
PARTS_CONTENT = re.compile(rb'"(?:content|value)"\s*:\s*\[\s*\{')
FORMATS = ("parquet", "jsonl", "hf", "warc")
CUT_SHORT = "ends inside an element"  # JSON arrays' errors where the file was cut short
ENDS_EARLY = "ends before the array closes"
_PARSE = json.JSONDecoder().raw_decode
JSON_SPACE = re.compile(r"[ \t\r\n]*")
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, which some editors write first
# What reading a truncated or corrupt file raises: stopped as one error naming the file.
UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError, pa.ArrowException, ValueError)
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")  # of JSON Lines and JSON files
_SUFFIXES = {
    ".parquet": "parquet",
    ".warc": "warc",
    ".warc.gz": "warc",
    **{f".{ext}{z}": "jsonl" for ext in ("jsonl", "json") for z in ("", *COMPRESSIONS)},
}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WILDCARDS = re.compile(r"[*?\[]")


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


def discover(path: str, fmt: str = "auto", skipped: list[str] | None = None) -> list[InputShard]:
    """Input shards under a file, folder, glob, saved HF dataset or URI, sorted by path. Files
    a folder holds that no reader takes (hidden and `_` files aside) are added to `skipped`."""
    target = Path(path)
    if is_uri(path):
        files = _discover_uri(path, skipped)
    elif target.is_dir():
        hf = _hf_arrow_files(target)
        if hf is not None:
            files = hf
        else:
            listed = [p for p in target.rglob("*") if p.is_file() and not _hidden(p, target)]
            listed = sorted(str(p) for p in listed)
            files = [f for f in listed if fmt != "auto" or _format_of(f)]
            if skipped is not None:
                skipped += [f for f in listed if f not in set(files)]
    elif target.is_file():
        files = [str(target)]
    else:
        files = sorted(glob.glob(path, recursive=True))
    if not files:
        found = f" ({len(skipped)} files of other kinds, e.g. {skipped[0]})" if skipped else ""
        raise SchemaError(
            f"no input files found at {path!r}{found}: expected Parquet, JSONL or JSON "
            f"(plain or {', '.join(COMPRESSIONS)}), WARC (plain or .gz) or a saved HF dataset"
        )
    shards = []
    for i, (f, name) in enumerate(zip(files, _names_below_shared_folder(files), strict=True)):
        found = _format_of(f) if fmt == "auto" else fmt
        if found is None:
            raise SchemaError(
                f"{f}: cannot tell the format from the name; tamis reads Parquet, JSONL or "
                f"JSON, WARC and saved HF datasets: set input.format ({', '.join(FORMATS)}) if "
                "it is one of them, else convert it"
            )
        shards.append(InputShard(i, f, found, name=name))
    return shards


def _names_below_shared_folder(files: list[str]) -> list[str | None]:
    """Where two files share a name (`a/out.json`, `b/out.json`), each file's path below the
    folder all `files` share, so that their ids differ; else None (ids from the file name,
    which stay the same whichever part of a folder a run reads: --reuse-scores matches them)."""
    paths = [posixpath.abspath(urlsplit(f).path if is_uri(f) else f) for f in files]
    if len({posixpath.basename(p) for p in paths}) == len(paths):
        return [None] * len(paths)
    shared = posixpath.commonpath([posixpath.dirname(p) for p in paths])
    return [posixpath.relpath(p, shared) for p in paths]


def _hidden(path: Path, root: Path) -> bool:
    """True for a file that is, or lies in a folder that is, hidden or `_`-named (a run's
    `_work/`, `.git/`) under `root`."""
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


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


def _discover_uri(uri: str, skipped: list[str] | None = None) -> list[str]:
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
    visible = [
        f
        for f in listed
        if not any(p.startswith((".", "_")) for p in f.path[len(inner) :].split("/"))
    ]
    files = [as_uri(f.path) for f in visible if _format_of(f.path)]
    if wildcard is not None:
        files = [f for f in files if fnmatch.fnmatchcase(urlsplit(f).path, parts.path)]
    elif skipped is not None:
        skipped += sorted(as_uri(f.path) for f in visible if not _format_of(f.path))
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
def _open_stream(path: str, decompress: bool = True) -> Iterator[BinaryIO]:
    """A file read front to back as bytes lines, decompressed by its suffix (.gz, .bz2, .xz,
    .zst) unless `decompress` is off."""
    if is_uri(path):
        fs, inner = filesystem(path)
        raw: BinaryIO = io.BufferedReader(fs.open_input_stream(inner, compression=None))
    else:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    name = path.lower().split("?")[0]
    with raw:
        if not decompress:
            yield raw
        elif name.endswith(".gz"):
            yield gzip.GzipFile(fileobj=raw, mode="rb")
        elif name.endswith(".bz2"):
            yield bz2.BZ2File(raw)
        elif name.endswith(".xz"):
            yield lzma.LZMAFile(raw)
        elif name.endswith(".zst"):
            yield io.BufferedReader(pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd"))
        else:
            yield raw


def input_size(path: str) -> int:
    """Size in bytes of an input file or URI."""
    if not is_uri(path):
        return Path(path).stat().st_size
    fs, inner = filesystem(path)
    return fs.get_file_info(inner).size or 0


def record_mode(shard: InputShard, records: str, text_column: str) -> str:
    """How every shard is read (ReadOptions.records), from the recipe's `input.records` and,
    for "auto", the first file's fields: "text" when it has the text column, "detect" when
    it holds instruction records."""
    if records != "auto":
        return records
    if shard.format == "warc":
        return "text"  # pages, turned into text by an `extract` step
    names = peek_columns(shard)
    if text_column in names:
        return "text"
    if detect(names) is not None:
        return "detect"
    wanted = ", ".join("+".join(FORMAT_COLUMNS[k]) for k in KINDS)
    raise SchemaError(
        f"{shard.path}: no text column {text_column!r} and no instruction records "
        f"(columns: {', '.join(names)}; expected {wanted}); set input.text_column or input.records"
    )


def peek_columns(shard: InputShard, objects: int | None = 1) -> list[str]:
    """The column names of a shard: its schema, a WARC row's fields, or the keys of its first
    JSON `objects` (None: of all of them)."""
    if shard.format == "warc":
        return list(WARC_FIELDS)
    try:
        if shard.format == "parquet":
            with open_input(shard.path) as source:
                return pq.read_schema(source).names
        if shard.format == "hf":
            with _arrow_source(shard.path) as source:
                try:
                    return pa.ipc.open_stream(source).schema.names
                except pa.ArrowInvalid:
                    source.seek(0)
                    return pa.ipc.open_file(source).schema.names
        keys: dict[str, None] = {}
        for item in islice((i for i in json_items(shard) if isinstance(i.value, dict)), objects):
            keys |= dict.fromkeys(item.value)
        return list(keys)
    except UNREADABLE as err:
        raise SchemaError(
            f"{shard.path}: cannot read {shard.format} file: {first_line(err)}"
        ) from None
    return []


def read_shard(
    shard: InputShard, opts: ReadOptions, limit: int | None = None
) -> Iterator[pa.Table]:
    """Chunks of `shard` with `_shard`, `_row`, an id, and invalid rows already rejected."""
    readers = {
        "parquet": _parquet_batches,
        "jsonl": _jsonl_batches,
        "hf": _arrow_batches,
        "warc": _warc_batches,
    }
    row = 0
    invalid: Counter[str] = Counter()
    try:
        for raw in readers[shard.format](shard, opts):
            if limit is not None and row + raw.num_rows > limit:
                raw = raw.slice(0, max(limit - row, 0))
            if raw.num_rows:
                chunk = prepare(raw, shard, opts, row)
                reasons = chunk[REJECT_REASON].drop_null().to_pylist()
                invalid.update(r for r in reasons if r.startswith("invalid:"))
                yield chunk
            row += raw.num_rows
            if limit is not None and row >= limit:
                break
    except SchemaError:
        raise
    except UNREADABLE as exc:
        # a truncated or corrupt file: its name and what is wrong, not a traceback
        raise SchemaError(
            f"{shard.path}: cannot read {shard.format} file: {first_line(exc)}"
        ) from exc
    bad = sum(invalid.values())
    if row and bad / row > opts.max_invalid_fraction:
        ((top, count),) = invalid.most_common(1)
        if {"chosen", "rejected"} <= set(peek_columns(shard)):
            raise SchemaError(
                f"{shard.path}: {bad} of {row} rows are invalid ({top} {count}): its records are "
                "preference pairs (chosen/rejected), which a run does not read as pairs; write "
                "each side as a record of its own (the prompt's turns, then that answer)"
            )
        raise SchemaError(
            f"{shard.path}: {bad} of {row} rows are invalid ({top} {count}); check "
            "input.text_column, input.records and input.format, or raise "
            "input.max_invalid_fraction"
        )


def empty_input_schema(shard: InputShard, opts: ReadOptions) -> pa.Schema:
    """The columns a shard's rows have on entering a run, for a shard that has no rows."""
    raw = pa.schema([(opts.text_column, pa.string())])
    if shard.format == "parquet":
        with open_input(shard.path) as source:
            raw = pq.ParquetFile(source).schema_arrow
    try:
        return prepare(raw.empty_table(), shard, opts, 0).schema
    except (KeyError, pa.ArrowException):  # records whose fields an empty file cannot show
        return pa.schema([(opts.id_column, pa.string())])


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
        schema, batches = _open_arrow(source)
        _require_text_column(shard, schema, opts)
        for batch in batches:
            for start in range(0, batch.num_rows, opts.chunk_rows):
                yield pa.Table.from_batches([batch.slice(start, opts.chunk_rows)])


def table_records(shard: InputShard) -> Iterator[dict[str, Any]]:
    """Each row of a Parquet or Arrow (HF dataset) shard as a dict, a batch at a time."""
    if shard.format == "parquet":
        with open_input(shard.path) as source:
            for batch in pq.ParquetFile(source).iter_batches():
                yield from batch.to_pylist()
        return
    with _arrow_source(shard.path) as source:
        for batch in _open_arrow(source)[1]:
            yield from batch.to_pylist()


def _open_arrow(source: pa.NativeFile) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and record batches of an Arrow stream, or else of an Arrow IPC file."""
    try:
        stream = pa.ipc.open_stream(source)
        return stream.schema, iter(stream)
    except pa.ArrowInvalid:
        source.seek(0)
        whole = pa.ipc.open_file(source)
        return whole.schema, (whole.get_batch(i) for i in range(whole.num_record_batches))


def _arrow_source(path: str) -> pa.NativeFile:
    """A local Arrow file memory-mapped, or a URI opened for random access."""
    if not is_uri(path):
        return pa.memory_map(path)
    fs, inner = filesystem(path)
    return fs.open_input_file(inner)


def _warc_batches(shard: InputShard, opts: ReadOptions) -> Iterator[pa.Table]:
    """Chunks of a WARC file, a row per record (see pipeline/io/warc.py)."""
    rows: list[dict[str, Any]] = []
    with _open_stream(shard.path, decompress=False) as fh:  # FastWARC ungzips itself
        for row in warc_rows(fh):
            rows.append(row)
            if len(rows) == opts.chunk_rows:
                yield _warc_table(rows)
                rows = []
    if rows:
        yield _warc_table(rows)


def _warc_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = {name: pa.array([r[name] for r in rows], pa.string()) for name in WARC_FIELDS}
    reasons = pa.array([r.get(READ_REASON) for r in rows], pa.string())
    return pa.table(columns | {READ_REASON: reasons})


def _jsonl_batches(shard: InputShard, opts: ReadOptions) -> Iterator[pa.Table]:
    """Chunks of a JSONL file or a JSON array; undecodable, unparsable or malformed records
    become rows rejected as invalid, keeping their raw text (and bytes)."""
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    kind = opts.records if opts.records in KINDS else None
    usable, objects = False, 0
    parts = opts.records != "text" and _writes_parts(shard)
    seen: dict[str, tuple[pa.Field, int]] = {}  # each field's type, and the line it was seen
    for item in json_items(shard):
        objects += isinstance(item.value, dict)
        if opts.records == "text":
            rows.append(_text_row(item, opts.text_column))
            usable = usable or (isinstance(item.value, dict) and opts.text_column in item.value)
        else:
            if kind is None and isinstance(item.value, dict):
                kind = detect(item.value)
            rows.append(_record_row(item, kind, parts))
            usable = usable or kind is not None
        lines.append(item.line)
        if len(rows) == opts.chunk_rows:
            yield _same_types(
                _rows_to_table(rows, lines, shard, opts, usable or not objects), lines, seen, shard
            )
            rows, lines = [], []
    if rows:
        yield _same_types(
            _rows_to_table(rows, lines, shard, opts, usable or not objects), lines, seen, shard
        )


def _same_types(
    table: pa.Table, lines: list[int], seen: dict[str, tuple[pa.Field, int]], shard: InputShard
) -> pa.Table:
    """`table`, a chunk of a JSON file, when each field has the type it had in earlier chunks
    (recorded in `seen`); else a clear error naming the file and the two lines."""
    for field in table.schema:
        if pa.types.is_null(field.type):
            continue
        line = lines[table[field.name].is_valid().to_numpy(zero_copy_only=False).argmax()]
        if field.name not in seen:
            seen[field.name] = (field, line)
            continue
        before, first = seen[field.name]
        try:
            (merged,) = pa.unify_schemas(
                [pa.schema([before]), pa.schema([field])], promote_options="permissive"
            )
            seen[field.name] = (merged, first)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise SchemaError(
                f"{shard.path}: field {field.name!r} holds a {before.type} on line {first} and "
                f"a {field.type} on line {line}; give it one type in every record"
            ) from None
    return table


@dataclass(frozen=True)
class JsonItem:
    """One record of a JSON file: its value, or why it has none (with its raw text and
    bytes), and its line (1-based; the element's position in a JSON array)."""

    value: Any
    line: int
    reason: str | None = None
    raw: str | None = None
    raw_bytes: bytes | None = None


def json_items(shard: InputShard) -> Iterator[JsonItem]:
    """Each record of a JSON Lines file, or of a file holding one JSON array (both streamed)."""
    with _open_stream(shard.path) as fh:
        head = fh.peek(64)[:64] if hasattr(fh, "peek") else b""
        if head.removeprefix(BOM).lstrip()[:1] == b"[":
            number = 0
            try:
                for number, (value, raw) in enumerate(array_elements(fh), 1):
                    yield _checked(value, number, raw) if "\\u" in raw else JsonItem(value, number)
            except json.JSONDecodeError as err:
                where = f"after element {number}" if number else "before its first element"
                why = f"{err.msg} {where}"
                if err.msg == CUT_SHORT:
                    why = f"the file ends inside element {number + 1} (cut short?)"
                elif err.msg == ENDS_EARLY:
                    why = f"the file ends {where}, before the array closes (cut short?)"
                raise SchemaError(f"{shard.path}: not a valid JSON array: {why}") from None
            except UnicodeDecodeError as err:
                bad = err.object[err.start : err.end].hex(" ")
                raise SchemaError(
                    f"{shard.path}: not a valid JSON array: not UTF-8 text ({err.reason}: {bad})"
                ) from None
            return
        for number, line in enumerate(fh, 1):
            if number == 1:
                line = line.removeprefix(BOM)  # written by some Windows editors
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raw = line.decode("utf-8", "replace").rstrip("\n")
                yield JsonItem(None, number, "invalid:invalid_utf8", raw, line.rstrip(b"\n"))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                yield JsonItem(None, number, "invalid:bad_json", text.rstrip("\n"))
                continue
            yield (
                _checked(value, number, text.rstrip("\n"))
                if "\\u" in text
                else JsonItem(value, number)
            )


def array_elements(fh: BinaryIO, block: int = ARRAY_BLOCK) -> Iterator[tuple[Any, str]]:
    """(value, source text) of each element of the JSON array `fh` holds, parsed as the bytes
    stream in: memory follows the largest element, not the file."""
    text = _JsonText(fh, block)
    text.take("[")
    if text.next_char() == "]":
        text.take("]")
    else:
        while True:
            yield text.value()
            if text.take(",]") == "]":
                break
    if text.next_char():
        raise json.JSONDecodeError("extra data after the array", text.text, text.at)


class _JsonText:
    """A JSON file's text, decoded a block at a time, and a position in it."""

    def __init__(self, fh: BinaryIO, block: int):
        self._fh, self._block = fh, block
        self._decode = codecs.getincrementaldecoder("utf-8-sig")().decode
        self.text, self.at, self.ended = "", 0, False

    def next_char(self) -> str:
        """The next character that is not white space, not taken ("" at the file's end)."""
        while True:
            self.at = JSON_SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]
            if self.at < len(self.text) or not self._read_on():
                return self.text[self.at : self.at + 1]

    def take(self, wanted: str) -> str:
        """The next character, which must be one of `wanted`."""
        char = self.next_char()
        if char == "":
            raise json.JSONDecodeError(ENDS_EARLY, self.text, self.at)
        if char not in wanted:
            expected = " or ".join(map(repr, wanted))
            raise json.JSONDecodeError(f"expected {expected}", self.text, self.at)
        self.at += 1
        return char

    def value(self) -> tuple[Any, str]:
        """The next JSON value and its source text, read on until the block holds all of it."""
        self.next_char()
        while True:
            try:
                value, end = _PARSE(self.text, self.at)
            except json.JSONDecodeError as err:
                if self._read_on():
                    continue
                if err.pos >= len(self.text.rstrip()) or err.msg.startswith("Unterminated"):
                    raise json.JSONDecodeError(CUT_SHORT, self.text, self.at) from None
                raise
            after = JSON_SPACE.match(self.text, end).end()  # type: ignore[union-attr]
            # A number ("4444." then "5") may go on into the next block: it ends at , or ].
            if after < len(self.text) and self.text[after] in ",]" or not self._read_on():
                start, self.at = self.at, end
                return value, self.text[start:end]

    def _read_on(self) -> bool:
        """Read another block (at least as much as is left unparsed, so that a long element's
        retries cost linear time) and drop what was parsed; False at the file's end."""
        if self.ended:
            return False
        chunk = self._fh.read(max(self._block, len(self.text) - self.at))
        self.ended = not chunk
        self.text, self.at = self.text[self.at :] + self._decode(chunk, final=self.ended), 0
        return True


def _checked(value: Any, number: int, raw: str) -> JsonItem:
    """A parsed record, unless a string in it holds a lone surrogate (valid JSON, `"\\ud800"`,
    that no UTF-8 text can hold): then a rejected row keeping the raw line."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return JsonItem(
            None, number, "invalid:lone_surrogate", raw.encode("utf-8", "backslashreplace").decode()
        )
    return JsonItem(value, number)


def _text_row(item: JsonItem, text_column: str) -> dict[str, Any]:
    """One JSON record for a text column; a bad one keeps its raw text and is marked."""
    value = item.value
    if item.reason is not None:
        return {text_column: item.raw, READ_REASON: item.reason, INVALID_BYTES: item.raw_bytes}
    if not isinstance(value, dict):
        return {text_column: json.dumps(value), READ_REASON: "invalid:not_an_object"}
    if text_column not in value:
        return {**value, text_column: None, READ_REASON: "invalid:missing_text"}
    text = value[text_column]
    if text is not None and not isinstance(text, str):
        return {**value, text_column: json.dumps(text), READ_REASON: "invalid:not_a_string"}
    return value


def _writes_parts(shard: InputShard) -> bool:
    """True when a JSON file writes some turn's content as a list of parts: then every string
    content of the file is read as one text part, so that all its chunks share one type."""
    tail = b""
    with _open_stream(shard.path) as fh:
        while block := fh.read(SCAN_BLOCK):
            seen = tail + block  # a match may straddle blocks
            if PARTS_CONTENT.search(seen):
                return True
            tail = seen[-SCAN_OVERLAP:]
    return False


def _record_row(item: JsonItem, kind: str | None, parts: bool = False) -> dict[str, Any]:
    """One instruction record (string contents as text parts where the file writes parts); a
    bad one keeps its raw text in `invalid_record`."""
    value = item.value
    if item.reason is not None:
        return {INVALID_RECORD: item.raw, READ_REASON: item.reason, INVALID_BYTES: item.raw_bytes}
    if not isinstance(value, dict):
        return {INVALID_RECORD: json.dumps(value), READ_REASON: "invalid:not_an_object"}
    if kind is None:
        return {INVALID_RECORD: json.dumps(value), READ_REASON: "invalid:unknown_record_format"}
    return record_row(value, kind, parts)


def _rows_to_table(
    rows: list[dict[str, Any]], lines: list[int], shard: InputShard, opts: ReadOptions, usable: bool
) -> pa.Table:
    """An Arrow table from JSON records (every key of every row); a file with no usable record,
    or a field of mixed types, is a clear error naming the file and the line."""
    if not usable:
        keys = sorted({k for r in rows for k in r if k not in (READ_REASON, INVALID_BYTES)})
        raise SchemaError(f"{shard.path}: {_expected(opts, keys[:20])}")
    try:
        return rows_table(rows, [f"line {n}" for n in lines])
    except SchemaError as err:
        raise SchemaError(f"{shard.path}: {err}") from None


def _expected(opts: ReadOptions, columns: list[str] | None = None) -> str:
    """What a file lacks, in words: the text column or instruction record fields."""
    found = f" (columns: {', '.join(columns)})" if columns is not None else ""
    if opts.records == "text":
        return f"no text column {opts.text_column!r}{found}; set input.text_column"
    wanted = ", ".join("+".join(FORMAT_COLUMNS[k]) for k in KINDS)
    return f"no instruction records{found}: expected {wanted}; set input.records"


def _require_text_column(shard: InputShard, schema: pa.Schema, opts: ReadOptions) -> None:
    """Fail with the file name when the text column (or, for instruction records, every
    field of their kind) is missing or not text."""
    if opts.records != "text":
        kind = opts.records if opts.records in KINDS else detect(schema.names)
        if kind is None or not set(FORMAT_COLUMNS[kind][::2]) <= set(schema.names):
            raise SchemaError(f"{shard.path}: {_expected(opts, schema.names)}")
        return
    if opts.text_column not in schema.names:
        raise SchemaError(f"{shard.path}: {_expected(opts, schema.names)}")
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
