"""Where a run's outputs and work files live: a local folder or any pyarrow filesystem URI
(`s3://`, `gs://`, `hdfs://`), behind one path type.

A file is written whole or not at all. Where the filesystem can rename (local disks, NFS,
HDFS) a temporary file beside it is renamed into place. Object stores cannot rename, and their
streams complete an upload even when the writer fails, so a file is first written to this
machine's temp folder (`$TMPDIR`) and uploaded only once complete: an object then appears
whole, and a failed write leaves the previous object, if any, untouched. Readers never trust a
file alone: a completion marker, written last, vouches for what a shard wrote.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.core.errors import RecipeError, first_line

_OBJECT_STORES = ("s3", "gcs", "abfs")  # pyarrow type names of filesystems without renames
SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")  # pyarrow's URI schemes


def check_scheme(uri: str) -> None:
    """Refuse a URI whose scheme pyarrow cannot open, without contacting the store."""
    scheme = urlsplit(uri).scheme.lower()
    if "://" in uri and scheme not in SCHEMES:
        raise RecipeError(
            f"{redacted(uri)}: unknown filesystem {scheme}://; use one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )


def redacted(uri: str) -> str:
    """A path or URI with any `user:secret@` part left out, for messages and the manifest."""
    parts = urlsplit(uri)
    if "://" not in uri or "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@dataclass(frozen=True, eq=False)
class Location:
    """A file or folder on a pyarrow filesystem, with the `pathlib` operations tamis needs.
    `path` is the filesystem's own path (for S3 and GCS: `bucket/key`)."""

    fs: pafs.FileSystem
    path: str
    prefix: str = ""  # what turns `path` back into a URI for messages: "s3://", "hdfs://host"

    @classmethod
    def of(cls, where: str | Path | Location) -> Location:
        """A local path (made absolute, so workers with another working directory agree) or
        a URI; one line naming the URI if its filesystem cannot be opened."""
        if isinstance(where, Location):
            return where
        text = str(where)
        parts = urlsplit(text)
        if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
            text = url2pathname(parts.path)
        if "://" not in text:
            return cls(pafs.LocalFileSystem(), os.path.abspath(text))
        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except (pa.ArrowException, OSError, ValueError) as err:
            raise RecipeError(
                f"{redacted(text)}: cannot open its filesystem: {first_line(err)}"
            ) from None
        if isinstance(fs, pafs.LocalFileSystem):
            return cls(fs, path)
        prefix = (
            f"{parts.scheme}://"
            if fs.type_name in _OBJECT_STORES
            else f"{parts.scheme}://{parts.netloc}"
        )
        return cls(fs, path.rstrip("/"), prefix)

    def __str__(self) -> str:
        return self.prefix + self.path

    def _key(self) -> tuple[str, str, str]:
        return (self.fs.type_name, self.prefix, self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def same_place(self, other: Location) -> bool:
        """True if both name the same file or folder (symbolic links followed on this disk)."""
        mine, theirs = self.local_path(), other.local_path()
        if mine is not None and theirs is not None:
            return os.path.realpath(mine) == os.path.realpath(theirs)
        return self == other

    def __truediv__(self, name: str) -> Location:
        return Location(self.fs, f"{self.path.rstrip('/')}/{name}", self.prefix)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        return Location(self.fs, self.path.rstrip("/").rsplit("/", 1)[0] or "/", self.prefix)

    @property
    def renames(self) -> bool:
        """True where a rename publishes a file atomically (not on object stores)."""
        return self.fs.type_name not in _OBJECT_STORES

    def local_path(self) -> Path | None:
        """The path on this machine's disk, or None for a remote filesystem."""
        return Path(self.path) if isinstance(self.fs, pafs.LocalFileSystem) else None

    def _type(self) -> pafs.FileType:
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        return self._type() != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._type() == pafs.FileType.File

    def glob(self, pattern: str = "*") -> list[Location]:
        """Files directly in this folder whose names match `pattern`, sorted by name (none if
        the folder does not exist)."""
        listed = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        names = sorted(
            f.base_name
            for f in listed
            if f.type == pafs.FileType.File and fnmatch.fnmatchcase(f.base_name, pattern)
        )
        return [self / n for n in names]

    def entries(self) -> list[str]:
        """Names of the files and folders directly in this folder, sorted (none if absent)."""
        listed = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted(f.base_name for f in listed)

    def is_empty(self) -> bool:
        """True if nothing (file or folder) is in this folder, or it does not exist."""
        return not self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))

    def mkdir(self) -> None:
        """Create the folder and its parents (object stores need none)."""
        if self.renames:
            self.fs.create_dir(self.path, recursive=True)

    def remove(self) -> None:
        """Delete this file or folder with everything in it; nothing if it does not exist."""
        kind = self._type()
        if kind == pafs.FileType.Directory:
            self.fs.delete_dir(self.path)
        elif kind == pafs.FileType.File:
            self.fs.delete_file(self.path)

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as stream:
            return stream.read()

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    def read_json(self) -> Any:
        return json.loads(self.read_bytes())

    @contextmanager
    def writing(self) -> Iterator[pa.NativeFile]:
        """An output stream whose file appears at this location, whole, once the block
        succeeds (see the module docstring)."""
        if self.renames:
            self.parent.mkdir()
            tmp = self.parent / f".{self.name}.{uuid.uuid4().hex}.tmp"
        else:
            tmp = Location.of(tempfile.mkdtemp(prefix="tamis-upload-")) / self.name
        try:
            with tmp.fs.open_output_stream(tmp.path) as stream:
                yield stream
            if self.renames:
                self.fs.move(tmp.path, self.path)
            else:
                pafs.copy_files(tmp.path, self.path, tmp.fs, self.fs)
        except BaseException:
            if self.renames:
                tmp.remove()
            raise
        finally:
            if not self.renames:
                tmp.parent.remove()  # the spool folder, uploaded or not

    def write_bytes(self, data: bytes) -> None:
        with self.writing() as stream:
            stream.write(data)

    def write_json(self, data: Any) -> None:
        self.write_bytes(json.dumps(data, indent=2, default=str).encode("utf-8"))


def write_parquet(table: pa.Table, dest: Location) -> None:
    """Write `table` to `dest` (zstd), whole or not at all."""
    with dest.writing() as stream:
        pq.write_table(table, stream, compression="zstd")


def read_table(source: Location, **options: Any) -> pa.Table:
    """A Parquet file as a table (`columns`, `filters` and the like pass through)."""
    return pq.read_table(source.path, filesystem=source.fs, **options)


def parquet_file(source: Location) -> pq.ParquetFile:
    """A Parquet file opened for batch reads."""
    return pq.ParquetFile(source.path, filesystem=source.fs)


def parquet_rows(paths: list[Location]) -> int:
    """Rows in Parquet files, from their footers."""
    return sum(pq.read_metadata(p.path, filesystem=p.fs).num_rows for p in paths)


def parquet_schema(source: Location) -> pa.Schema:
    """A Parquet file's schema, from its footer."""
    return pq.read_schema(source.path, filesystem=source.fs)


def parquet_metadata(source: Location) -> pq.FileMetaData:
    """A Parquet file's footer."""
    return pq.read_metadata(source.path, filesystem=source.fs)


def merge_parquet(
    sources: list[Location],
    dest: Location,
    drop: tuple[str, ...] = (),
    transform: Callable[[pa.Table], pa.Table] | None = None,
    empty_schema: pa.Schema | None = None,
    ensure: dict[str, pa.DataType] | None = None,
) -> int:
    """Stream `sources` (schemas unified, in order, each batch passed through `transform`,
    then `drop` columns left out) into one Parquet file, whole or not at all; returns the rows
    written. With no sources the file has no rows and `empty_schema`'s columns; the `ensure`
    columns come last, as nulls where the sources lack them."""
    schema = merged_schema(
        [parquet_schema(s) for s in sources], drop, transform, empty_schema, ensure
    )
    batches = (
        pa.Table.from_batches([batch])
        for source in sources
        for batch in parquet_file(source).iter_batches()
    )
    return write_tables(batches, dest, schema, transform)


def merged_schema(
    schemas: list[pa.Schema],
    drop: tuple[str, ...] = (),
    transform: Callable[[pa.Table], pa.Table] | None = None,
    empty_schema: pa.Schema | None = None,
    ensure: dict[str, pa.DataType] | None = None,
) -> pa.Schema:
    """The schema `merge_parquet` writes for sources of `schemas`."""
    schema = pa.unify_schemas(
        schemas or [empty_schema or pa.schema([])], promote_options="permissive"
    )
    if ensure:  # the `ensure` columns last, in their order, whatever order the pieces had
        present = {f.name: f for f in schema}
        schema = pa.schema(
            [f for f in schema if f.name not in ensure]
            + [present.get(name, pa.field(name, kind)) for name, kind in ensure.items()]
        )
    if transform is not None:
        schema = transform(schema.empty_table()).schema
    return pa.schema([f for f in schema if f.name not in drop])


def write_tables(
    tables: Iterable[pa.Table],
    dest: Location,
    schema: pa.Schema,
    transform: Callable[[pa.Table], pa.Table] | None = None,
) -> int:
    """Stream `tables` (each passed through `transform`, then conformed to `schema`) into one
    Parquet file, whole or not at all; returns the rows written."""
    rows = 0
    with dest.writing() as stream, pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        for table in tables:
            table = conform(transform(table) if transform else table, schema)
            writer.write_table(table)
            rows += table.num_rows
    return rows


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with `schema`'s columns in order, missing ones as nulls."""
    columns = [
        table[f.name].cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
