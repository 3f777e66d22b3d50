"""`tamis inspect PATH`: rows of a finished run in the terminal (or as JSON Lines), filtered,
sampled or sorted, reading a batch at a time."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipeline.core.errors import SchemaError, TamisError
from pipeline.view.rows import Filters, Rows, Sampler, TopK, open_rows, preview, row_text, truncate

TEXT_LINES = 6  # lines of text a row shows in the terminal


@dataclass
class Selection:
    """The rows picked, how many matched the filters and how many were read."""

    table: pa.Table
    matched: int
    total: int


def select(
    rows: Rows,
    filters: Filters,
    limit: int = 10,
    sample: int | None = None,
    seed: int = 0,
    sort: str | None = None,
    descending: bool = False,
    columns: list[str] | None = None,
) -> Selection:
    """The first `limit` matching rows, or a seeded sample of `sample` of them, or the `limit`
    with the largest (`descending`) or smallest `sort` values; memory holds one batch and the
    rows picked. `columns` narrows what is read (the filters' columns are read too)."""
    schema = rows.schema
    needed = filters.columns(schema, rows.id_column)
    if sort is not None and sort not in schema.names:
        raise SchemaError(f"no column {sort!r} to sort by; columns: {', '.join(schema.names)}")
    read = None
    if columns is not None:
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise SchemaError(
                f"no column {', '.join(map(repr, missing))}; columns: {', '.join(schema.names)}"
            )
        keep = [rows.id_column, "status", *columns, *needed, *([sort] if sort else [])]
        read = [c for c in schema.names if c in keep]
    picker: TopK | None = None
    if sample is not None:
        picker = Sampler(sample, seed)
    elif sort is not None:
        picker = TopK(limit, descending)
    first: list[pa.Table] = []
    matched = taken = 0
    for batch in rows.batches(read):
        mask = filters.mask(batch, rows.id_column)
        if mask is not None:
            batch = batch.filter(mask)
        matched += len(batch)
        if isinstance(picker, Sampler):
            picker.offer(batch)
        elif picker is not None:
            picker.add(batch, batch[sort])
        elif taken < limit:
            first.append(batch.slice(0, limit - taken))
            taken += len(first[-1])
        elif mask is None:  # nothing left to count: every row matches
            break
    total = rows.total()
    if not needed:  # no filters: every row matches, even those an early stop did not read
        matched = total
    if picker is not None:
        table = picker.result() or schema.empty_table()
        if sample is not None and sort is not None:
            order = "descending" if descending else "ascending"
            table = table.sort_by([(sort, order)])
    else:
        table = pa.concat_tables(first) if first else _schema_of(schema, read).empty_table()
    return Selection(table, matched, total)


def _schema_of(schema: pa.Schema, columns: list[str] | None) -> pa.Schema:
    return schema if columns is None else pa.schema([schema.field(c) for c in columns])


def json_lines(selection: Selection, rows: Rows, columns: list[str] | None) -> str:
    """The picked rows as JSON Lines with their full text (binary columns left out)."""
    table = selection.table
    names = [
        f.name
        for f in table.schema
        if not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type))
        and (columns is None or f.name in columns or f.name in (rows.id_column, "status"))
    ]
    return "".join(
        json.dumps(row, ensure_ascii=False, default=str) + "\n"
        for row in table.select(names).to_pylist()
    )


def render(
    selection: Selection, rows: Rows, columns: list[str] | None, width: int, console: Console
) -> None:
    """A header line, then a panel per row: id and status, reason and scores, the text."""
    console.print(
        Text(f"{selection.matched} of {selection.total} rows match", style="bold"),
        (f" (showing {len(selection.table)})" if len(selection.table) < selection.matched else ""),
    )
    text_shown = columns is None or rows.text_column in columns or "messages" in columns
    for row in selection.table.to_pylist():
        fields = Table.grid(padding=(0, 2))
        fields.add_column(style="cyan", no_wrap=True)
        fields.add_column()
        for name, value in row.items():
            if _shown(name, value, rows, columns):
                fields.add_row(name, _format(value))
        parts: list[Any] = [fields]
        if text_shown:
            cut = preview(row_text(row, rows.text_column), width, TEXT_LINES)
            parts.append(Text(cut, style="dim" if row.get("status") == "rejected" else ""))
        status = row.get("status")
        style = {"kept": "green", "rejected": "red"}.get(status or "", "white")
        title = Text(str(row.get(rows.id_column)), style="bold")
        if status:
            title.append(f"  {status}", style=style)
        console.print(Panel(Group(*parts), title=title, title_align="left", border_style=style))


def _shown(name: str, value: Any, rows: Rows, columns: list[str] | None) -> bool:
    """Scalar columns with a value, except the id and the text (in the title and the body)."""
    if name in (rows.id_column, "status", rows.text_column, "messages"):
        return False
    if columns is not None:
        return name in columns
    return value is not None and not isinstance(value, (list, dict, bytes))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return truncate(str(value), 200)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tamis inspect` arguments."""
    parser.add_argument("path", help="run folder, OUT/kept, OUT/rejected or one Parquet file")
    which = parser.add_argument_group("which rows")
    which.add_argument("--reason", help="reject_reason containing TEXT, or a glob: 'c4:*'")
    which.add_argument("--step", help="rows rejected by this step (rejected_by)")
    which.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="a condition on any column, e.g. 'lang_score>=0.9', 'source=wikitext' (repeatable)",
    )
    which.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="COL:MIN:MAX",
        help="a numeric range, either end may be empty, e.g. quality_score:0.2:0.5 (repeatable)",
    )
    which.add_argument("--lang", help="rows whose lang (or *_lang) column is CODE")
    which.add_argument("--id", nargs="+", default=[], help="rows with these ids")
    status = which.add_mutually_exclusive_group()
    status.add_argument("--kept", action="store_true", help="only kept rows (run folder)")
    status.add_argument("--rejected", action="store_true", help="only rejected rows (run folder)")
    how = parser.add_argument_group("how many and how shown")
    how.add_argument("--limit", type=int, default=10, help="rows to show (default: 10)")
    how.add_argument("--sample", type=int, metavar="N", help="a random sample of N matching rows")
    how.add_argument("--seed", type=int, default=0, help="seed of --sample (default: 0)")
    how.add_argument("--sort", metavar="COLUMN", help="the rows with the smallest COLUMN values")
    how.add_argument("--desc", action="store_true", help="with --sort: the largest values")
    how.add_argument("--columns", help="show only these columns, comma separated")
    how.add_argument("--width", type=int, default=400, help="characters of text shown (400)")
    how.add_argument("--json", action="store_true", help="JSON Lines with the full text")


def main(args: argparse.Namespace) -> int:
    """Run `tamis inspect`."""
    for option in ("limit", "sample", "width"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise TamisError(f"--{option} must be at least 1, not {value}")
    status = "kept" if args.kept else "rejected" if args.rejected else None
    rows = open_rows(args.path, status)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    filters = Filters(args.reason, args.step, args.where, args.score, args.lang, args.id)
    selection = select(
        rows, filters, args.limit, args.sample, args.seed, args.sort, args.desc, columns
    )
    if args.json:
        sys.stdout.write(json_lines(selection, rows, columns))
    else:
        render(selection, rows, columns, args.width, Console(highlight=False))
    return 0
