"""Rows of a finished run, streamed batch by batch: which files, which columns, which rows match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import SchemaError, TamisError
from pipeline.io.records import turn_text
from pipeline.io.storage import Location, conform, parquet_file, parquet_rows, parquet_schema

STATUSES = ("kept", "rejected")
BATCH_ROWS = 2048


@dataclass
class Rows:
    """Parquet files to read, each with its status ("kept", "rejected" or None when unknown)."""

    files: list[tuple[str | None, Location]]
    id_column: str = "id"
    text_column: str = "text"
    manifest: dict[str, Any] | None = None

    @property
    def schema(self) -> pa.Schema:
        """Every file's columns unified, with `status` first when any file's status is known."""
        schemas = [parquet_schema(f) for _, f in self.files]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        if any(status for status, _ in self.files) and "status" not in schema.names:
            schema = pa.schema([pa.field("status", pa.string()), *schema])
        return schema

    def total(self) -> int:
        """Rows in every file, from the footers."""
        return parquet_rows([f for _, f in self.files])

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The rows, a batch at a time, conformed to `schema` (or to `columns` of it)."""
        schema = self.schema
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        for status, source in self.files:
            present = set(parquet_schema(source).names)
            wanted = [c for c in schema.names if c in present]
            for batch in parquet_file(source).iter_batches(BATCH_ROWS, columns=wanted):
                table = pa.Table.from_batches([batch])
                if "status" in schema.names and "status" not in present:
                    table = table.append_column("status", pa.repeat(status, len(table)))
                yield conform(table, schema)


def open_rows(path: str | Location, status: str | None = None) -> Rows:
    """The rows at `path`: a run folder (kept and rejected), OUT/kept, OUT/rejected, a folder of
    Parquet files or one file; `status` keeps only the kept or the rejected files of a run."""
    where = Location.of(path)
    if not where.exists():
        raise TamisError(f"{where}: no such file or folder")
    manifest = read_manifest(where) or read_manifest(where.parent)
    if where.is_file():
        files = [(where.parent.name if where.parent.name in STATUSES else None, where)]
    elif (where / "manifest.json").exists() or any((where / s).exists() for s in STATUSES):
        files = [(s, f) for s in STATUSES for f in (where / s).glob("*.parquet")]
    else:
        known = where.name if where.name in STATUSES else None
        files = [(known, f) for f in where.glob("*.parquet")]
    if status is not None:
        files = [(s, f) for s, f in files if s == status]
    if not files:
        raise TamisError(f"{where}: no Parquet files{f' with {status} rows' if status else ''}")
    rows = Rows(files, manifest=manifest)
    if manifest:
        source = manifest.get("recipe", {}).get("input", {})
        rows.id_column = source.get("id_column") or "id"
        rows.text_column = source.get("text_column") or "text"
    return rows


def read_manifest(folder: Location) -> dict[str, Any] | None:
    """A run folder's manifest.json, or None when it has none."""
    manifest = folder / "manifest.json"
    return manifest.read_json() if manifest.is_file() else None


@dataclass
class Filters:
    """Which rows to show: every condition must hold."""

    reason: str | None = None
    step: str | None = None
    where: list[str] = field(default_factory=list)
    scores: list[str] = field(default_factory=list)
    lang: str | None = None
    ids: list[str] = field(default_factory=list)

    def columns(self, schema: pa.Schema, id_column: str) -> list[str]:
        """The columns the filters read; one line naming the existing columns if one is missing."""
        needed = [name for name, _, _ in self._ranges()]
        needed += ["reject_reason"] if self.reason else []
        needed += ["rejected_by"] if self.step else []
        needed += [id_column] if self.ids else []
        needed += self._lang_columns(schema) if self.lang else []
        missing = [c for c in dict.fromkeys(needed) if c not in schema.names]
        if missing:
            raise SchemaError(
                f"no column {', '.join(map(repr, missing))}; columns: {', '.join(schema.names)}"
            )
        return list(dict.fromkeys(needed))

    def mask(self, table: pa.Table, id_column: str) -> pa.ChunkedArray | None:
        """True for the rows of `table` that pass; None when there are no filters."""
        masks: list[Any] = []
        if self.reason:
            masks.append(_text_match(table["reject_reason"], self.reason))
        if self.step:
            masks.append(pc.equal(table["rejected_by"], self.step))
        if self.ids:
            ids = pc.cast(table[id_column], pa.string())
            masks.append(pc.is_in(ids, pa.array(self.ids, pa.string())))
        if self.lang:
            lang = [pc.equal(table[c], self.lang) for c in self._lang_columns(table.schema)]
            masks.append(_any(lang))
        for name, op, value in self._ranges():
            masks.append(_compare(table[name], op, value))
        if not masks:
            return None
        combined = masks[0]
        for more in masks[1:]:
            combined = pc.and_kleene(combined, more)
        return pc.fill_null(combined, False)

    def _ranges(self) -> list[tuple[str, str, Any]]:
        """--where and --score as (column, operator, value)."""
        conditions = [_parse_where(w) for w in self.where]
        for score in self.scores:
            name, _, bounds = score.partition(":")
            low, _, high = bounds.partition(":")
            if not name or not bounds:
                raise TamisError(
                    f"--score {score!r}: expected COLUMN:MIN:MAX (MIN or MAX may be empty)"
                )
            conditions += [(name, ">=", _number(low, score))] if low else []
            conditions += [(name, "<=", _number(high, score))] if high else []
        return conditions

    @staticmethod
    def _lang_columns(schema: pa.Schema) -> list[str]:
        """`lang`, or where a run has none, every `*_lang` column (prompt_lang, response_lang)."""
        if "lang" in schema.names:
            return ["lang"]
        return [n for n in schema.names if n.endswith("_lang")] or ["lang"]


_WHERE = re.compile(r"^\s*([^<>=!\s]+)\s*(>=|<=|==|!=|=|>|<)\s*(.*?)\s*$")


def _parse_where(text: str) -> tuple[str, str, Any]:
    """'lang_score>=0.9' as ('lang_score', '>=', 0.9); non-numbers stay strings."""
    found = _WHERE.match(text)
    if not found:
        raise TamisError(f"--where {text!r}: expected COLUMN OP VALUE, OP one of >= <= > < = !=")
    name, op, value = found.groups()
    try:
        return name, op, float(value)
    except ValueError:
        return name, op, value


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TamisError(f"--score {option!r}: {text!r} is not a number") from None


_OPS = {
    ">=": pc.greater_equal,
    "<=": pc.less_equal,
    ">": pc.greater,
    "<": pc.less,
    "=": pc.equal,
    "==": pc.equal,
    "!=": pc.not_equal,
}


def _compare(column: pa.ChunkedArray, op: str, value: Any) -> Any:
    """`column OP value`, one line when the column cannot be compared with the value."""
    if isinstance(value, float) and not (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_decimal(column.type)
    ):
        value = str(value if not value.is_integer() else int(value))
        column = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    try:
        return _OPS[op](column, value)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise TamisError(f"cannot compare {column.type} with {value!r}: {err}") from None


def _text_match(column: pa.ChunkedArray, pattern: str) -> Any:
    """A glob (with * or ?) matches the whole value; anything else is a substring."""
    if "*" in pattern or "?" in pattern:
        parts = {"*": ".*", "?": "."}
        regex = "".join(parts.get(ch, re.escape(ch)) for ch in pattern)
        return pc.match_substring_regex(column, f"^{regex}$")
    return pc.match_substring(column, pattern)


def _any(masks: list[Any]) -> Any:
    combined = masks[0]
    for more in masks[1:]:
        combined = pc.or_kleene(combined, more)
    return combined


class TopK:
    """The k rows with the largest (or smallest) key seen so far, kept across batches: memory
    holds k rows and one batch. Ties keep the row seen first."""

    def __init__(self, k: int, descending: bool = True) -> None:
        self.k = k
        self.order = "descending" if descending else "ascending"
        self.rows: pa.Table | None = None

    def add(self, table: pa.Table, key: pa.Array | pa.ChunkedArray) -> None:
        """Offer the rows of `table`, ranked by `key` (one value per row)."""
        table = table.append_column("__key", key)
        both = table if self.rows is None else pa.concat_tables([self.rows, table])
        order = pc.sort_indices(both, [("__key", self.order)])  # nulls last by default
        self.rows = both.take(order[: self.k])

    def result(self) -> pa.Table | None:
        """The kept rows, best first, without the key."""
        return None if self.rows is None else self.rows.drop_columns(["__key"])


class Sampler(TopK):
    """A uniform sample of k rows without replacement, the same for the same seed and input:
    each row draws a random key and the k smallest keys win (a bottom-k reservoir)."""

    def __init__(self, k: int, seed: int = 0) -> None:
        super().__init__(k, descending=False)
        self.random = np.random.default_rng(seed)

    def offer(self, table: pa.Table) -> None:
        """Offer every row of `table`."""
        self.add(table, pa.array(self.random.random(len(table))))


def row_text(row: dict[str, Any], text_column: str) -> str:
    """A row's text: the text column, or an instruction record's turns as 'role: content'."""
    if row.get(text_column) is not None:
        return str(row[text_column])
    if isinstance(row.get("messages"), list):
        return "\n".join(f"{m.get('role')}: {turn_text(m)}" for m in row["messages"] if m)
    keys = [k for k in ("instruction", "prompt", "input", "response", "output") if row.get(k)]
    return "\n".join(f"{k}: {row[k]}" for k in keys)


def truncate(text: str, chars: int) -> str:
    """`text` cut to `chars` characters, with an ellipsis when cut."""
    return text if len(text) <= chars else text[: max(chars - 1, 0)].rstrip() + "…"


def preview(text: str, chars: int, lines: int) -> str:
    """At most `chars` characters and `lines` lines of `text`, marked with … when cut."""
    kept = truncate(text, chars).splitlines()
    return "\n".join(kept[:lines]) + ("\n…" if len(kept) > lines else "")
