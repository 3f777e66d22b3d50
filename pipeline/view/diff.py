"""`tamis diff OUT_A OUT_B`: the rows that moved between kept and rejected in two runs, grouped
by the step and reason behind the move, and the recipe parameters that changed."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipeline.core.errors import TamisError
from pipeline.io.storage import Location, parquet_file, parquet_schema, read_table
from pipeline.view.rows import STATUSES, preview, read_manifest, row_text, truncate

EXAMPLE_CHARS = 500
STATUS_COLUMNS = ("rejected_by", "reject_reason", "reject_value")
Files = list[tuple[str, Location]]  # (status, Parquet file)


class Run:
    """A finished run's folder and manifest."""

    def __init__(self, where: str | Location) -> None:
        self.out = Location.of(where)
        manifest = read_manifest(self.out)
        if manifest is None:
            raise TamisError(f"{self.out}: no manifest.json; give the output folder of a run")
        self.manifest: dict[str, Any] = manifest
        self.id_column = manifest.get("recipe", {}).get("input", {}).get("id_column") or "id"
        self.text_column = manifest.get("recipe", {}).get("input", {}).get("text_column") or "text"

    def files(self) -> Files:
        """Every kept and rejected Parquet file."""
        return [(s, f) for s in STATUSES for f in (self.out / s).glob("*.parquet")]

    def shards(self) -> list[tuple[str, Files]] | None:
        """(input, files) per shard from the manifest, or None when the manifest's shards do not
        account for every file in kept/ and rejected/."""
        shards = sorted(self.manifest.get("shards") or [], key=lambda s: s["index"])
        listed: list[tuple[str, Files]] = []
        for shard in shards:
            files = [
                (s, self.out / s / os.path.basename(shard[f"{s}_file"]))
                for s in STATUSES
                if shard.get(f"{s}_file")
            ]
            listed.append((str(shard.get("input")), files))
        named = {(s, f.path) for _, files in listed for s, f in files}
        if not shards or named != {(s, f.path) for s, f in self.files()}:
            return None
        return listed


def statuses(files: Files, id_column: str, prefix: str) -> pa.Table:
    """id, status, step, reason and value of every row in `files` (no text), the last four
    named with `prefix` ("a_" or "b_")."""
    tables = []
    for status, source in files:
        present = set(parquet_schema(source).names)
        if id_column not in present:
            raise TamisError(f"{source}: no id column {id_column!r}; cannot join the two runs")
        table = read_table(
            source, columns=[id_column, *(c for c in STATUS_COLUMNS if c in present)]
        )
        n = len(table)

        def column(name: str, kind: pa.DataType, table: pa.Table = table, n: int = n) -> Any:
            return pc.cast(table[name], kind) if name in table.column_names else pa.nulls(n, kind)

        tables.append(
            pa.table(
                {
                    "id": pc.cast(table[id_column], pa.string()),
                    f"{prefix}status": pa.repeat(status, n).cast(pa.string()),
                    f"{prefix}step": column("rejected_by", pa.string()),
                    f"{prefix}reason": column("reject_reason", pa.string()),
                    f"{prefix}value": column("reject_value", pa.float64()),
                }
            )
        )
    names = ["status", "step", "reason"]
    empty = pa.schema(
        [("id", pa.string())]
        + [(prefix + n, pa.string()) for n in names]
        + [(f"{prefix}value", pa.float64())]
    )
    return pa.concat_tables(tables) if tables else empty.empty_table()


class Tally:
    """Moved and changed rows counted by group, with a few examples of each: those with the
    smallest ids, so the answer does not depend on the order a join returns rows in."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.groups: dict[tuple[str, str, str | None, str | None], dict[str, Any]] = {}
        self.compared = 0

    def add(self, joined: pa.Table, where: int) -> None:
        """Count the rows of an inner join of A and B; `where` says which shard they came from."""
        self.compared += len(joined)
        moved = pc.not_equal(joined["a_status"], joined["b_status"])
        both = pc.and_(
            pc.equal(joined["a_status"], "rejected"), pc.equal(joined["b_status"], "rejected")
        )
        changed = pc.and_(
            both,
            pc.or_(
                _differ(joined["a_step"], joined["b_step"]),
                _differ(joined["a_reason"], joined["b_reason"]),
            ),
        )
        for row in joined.filter(pc.or_(moved, changed)).to_pylist():
            # the step that rejected the row names the group: B's when B rejects it, else A's
            side = "a" if row["b_status"] == "kept" else "b"
            key = (row["a_status"], row["b_status"], row[f"{side}_step"], row[f"{side}_reason"])
            group = self.groups.setdefault(key, {"rows": 0, "examples": []})
            group["rows"] += 1
            picked = group["examples"]
            if self.examples and (len(picked) < self.examples or row["id"] < picked[-1]["id"]):
                picked.append(
                    {
                        "id": row["id"],
                        "value": row[f"{side}_value"],
                        "reason_a": row["a_reason"],
                        "reason_b": row["b_reason"],
                        "where": where,
                    }
                )
                picked.sort(key=lambda e: e["id"])
                del picked[self.examples :]

    def result(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(moved, changed_reason) groups, most rows first."""
        moved, changed = [], []
        for (src, dst, step, reason), group in self.groups.items():
            entry = {"from": src, "to": dst, "step": step, "reason": reason, **group}
            (changed if src == dst else moved).append(entry)
        for groups in (moved, changed):
            groups.sort(key=lambda g: (-g["rows"], g["from"], g["step"] or "", g["reason"] or ""))
        return moved, changed


def _differ(a: Any, b: Any) -> Any:
    """a != b, with null equal to null and unequal to anything else."""
    return pc.fill_null(pc.not_equal(a, b), pc.xor(pc.is_null(a), pc.is_null(b)))


def compare(a: Run, b: Run, examples: int = 3) -> tuple[dict[str, Any], str]:
    """`diff_runs`'s answer and how it was computed ("shard by shard" or "whole-run join")."""
    shards_a, shards_b = a.shards(), b.shards()
    aligned = (
        shards_a is not None
        and shards_b is not None
        and [i for i, _ in shards_a] == [i for i, _ in shards_b]
    )
    if aligned:
        pairs = [(fa, fb) for (_, fa), (_, fb) in zip(shards_a or [], shards_b or [])]
        mode = "shard by shard"
    else:
        pairs = [(a.files(), b.files())]
        mode = "whole-run join (the runs' shards differ)"
    tally = Tally(examples)
    left_a, left_b = [], []
    for where, (files_a, files_b) in enumerate(pairs):
        ta = statuses(files_a, a.id_column, "a_")
        tb = statuses(files_b, b.id_column, "b_")
        tally.add(ta.join(tb, "id", join_type="inner"), where)
        left_a.append(ta.join(tb.select(["id"]), "id", join_type="left anti"))
        left_b.append(tb.join(ta.select(["id"]), "id", join_type="left anti"))
    # rows a shard holds in one run only: join the leftovers across shards (few, if any)
    rest_a, rest_b = pa.concat_tables(left_a), pa.concat_tables(left_b)
    if aligned and len(pairs) > 1 and len(rest_a) and len(rest_b):
        tally.add(rest_a.join(rest_b, "id", join_type="inner"), -1)
    only_a = len(rest_a.join(rest_b.select(["id"]), "id", join_type="left anti"))
    only_b = len(rest_b.join(rest_a.select(["id"]), "id", join_type="left anti"))
    moved, changed = tally.result()
    where_files = [fa for fa, _ in pairs]
    _attach_texts([*moved, *changed], a, where_files)
    result = {
        "a": str(a.out),
        "b": str(b.out),
        "rows_compared": tally.compared,
        "moved": moved,
        "changed_reason": changed,
        "only_in_a": only_a,
        "only_in_b": only_b,
    }
    return result, mode


def _attach_texts(groups: list[dict[str, Any]], run: Run, where_files: list[Files]) -> None:
    """Fill each example's text from run A, reading only the shards that hold examples."""
    wanted: dict[int, set[str]] = {}
    for group in groups:
        for example in group["examples"]:
            wanted.setdefault(example["where"], set()).add(example["id"])
    texts: dict[str, str] = {}
    for where, ids in wanted.items():
        files = run.files() if where < 0 else where_files[where]
        texts.update(_texts(files, ids, run))
    for group in groups:
        group["examples"] = [
            {
                "id": e["id"],
                "text": truncate(texts.get(e["id"], ""), EXAMPLE_CHARS),
                "value": e["value"],
                "reason_a": e["reason_a"],
                "reason_b": e["reason_b"],
            }
            for e in group["examples"]
        ]


def _texts(files: Files, ids: set[str], run: Run) -> dict[str, str]:
    """The text of the rows with `ids`, a batch at a time."""
    found: dict[str, str] = {}
    wanted = pa.array(sorted(ids), pa.string())
    for _, source in files:
        for batch in _batches(source):
            ids_here = pc.cast(batch[run.id_column], pa.string())
            for row in batch.filter(pc.is_in(ids_here, wanted)).to_pylist():
                found[str(row[run.id_column])] = row_text(row, run.text_column)
    return found


def _batches(source: Location) -> Iterator[pa.Table]:
    for batch in parquet_file(source).iter_batches(1024):
        yield pa.Table.from_batches([batch])


def diff_runs(a: str | Location, b: str | Location, examples: int = 3) -> dict:
    """Rows that moved between kept and rejected from run `a` to run `b`, joined by id and
    grouped by the step and reason behind the move (B's for kept→rejected, A's for
    rejected→kept), most rows first, each group with a few examples; plus rows rejected in
    both but for another reason, and rows found in one run only."""
    return compare(Run(a), Run(b), examples)[0]


def param_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Recipe settings that differ between two manifests: [{step, param, a, b}], the input's
    settings under step "input"; a step in one recipe only has param None."""
    changes = []
    input_a = _flat(a.get("recipe", {}).get("input", {}))
    input_b = _flat(b.get("recipe", {}).get("input", {}))
    for key in sorted(set(input_a) | set(input_b)):
        if key != "path" and input_a.get(key) != input_b.get(key):
            changes.append(
                {"step": "input", "param": key, "a": input_a.get(key), "b": input_b.get(key)}
            )
    steps_a, steps_b = _steps(a), _steps(b)
    for name in [*steps_a, *(n for n in steps_b if n not in steps_a)]:
        if name not in steps_a or name not in steps_b:
            present = ("absent", "present") if name not in steps_a else ("present", "absent")
            changes.append({"step": name, "param": None, "a": present[0], "b": present[1]})
            continue
        pa_, pb = _flat(steps_a[name]), _flat(steps_b[name])
        for key in sorted(set(pa_) | set(pb)):
            if pa_.get(key) != pb.get(key):
                changes.append({"step": name, "param": key, "a": pa_.get(key), "b": pb.get(key)})
    return changes


def _steps(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each step's parameters (with defaults where the manifest has them), by name; a name
    used twice is numbered (c4, c4#2)."""
    resolved = [s for s in manifest.get("steps", []) if "params" in s]
    steps: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for step in manifest.get("recipe", {}).get("steps", []):
        name, params = step["name"], step.get("params", {})
        nth = seen[name] = seen.get(name, 0) + 1
        same = [s["params"] for s in resolved if s["step"] == name]
        if nth <= len(same):
            params = {**same[nth - 1], **params}
        steps[name if nth == 1 else f"{name}#{nth}"] = params
    return steps


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted keys: {"top_ngram_char_frac.2": 0.2}."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def render(
    result: dict[str, Any], changes: list[dict[str, Any]], mode: str, console: Console
) -> None:
    """Parameter changes, then the moved and re-reasoned groups with their examples."""
    moved = sum(g["rows"] for g in result["moved"])
    changed = sum(g["rows"] for g in result["changed_reason"])
    console.print(
        Text(f"{result['a']} → {result['b']}", style="bold"),
        Text(
            f"\n{result['rows_compared']} rows compared ({mode}): {moved} moved, "
            f"{changed} rejected for another reason, {result['only_in_a']} only in A, "
            f"{result['only_in_b']} only in B"
        ),
    )
    if changes:
        params = Table(title="recipe changes", title_justify="left", box=None, padding=(0, 2))
        for column in ("step", "param", "A", "B"):
            params.add_column(column, style="cyan" if column == "step" else None)
        for c in changes:
            params.add_row(c["step"], c["param"] or "(step)", _show(c["a"]), _show(c["b"]))
        console.print(params)
    else:
        console.print("recipe changes: none")
    for title, groups in (
        ("moved", result["moved"]),
        ("rejected for another reason", result["changed_reason"]),
    ):
        if not groups:
            continue
        summary = Table(title=title, title_justify="left", box=None, padding=(0, 2))
        for column in ("from → to", "step", "reason", "rows"):
            summary.add_column(
                column, justify="right" if column == "rows" else "left", overflow="fold"
            )
        for g in groups:
            summary.add_row(
                f"{g['from']} → {g['to']}", g["step"] or "", g["reason"] or "", str(g["rows"])
            )
        console.print(summary)
        for g in groups:
            _render_examples(g, console)


def _render_examples(group: dict[str, Any], console: Console) -> None:
    """One panel per group: its examples' ids, reasons and texts."""
    parts: list[Any] = []
    for e in group["examples"]:
        line = Text(f"{e['id']}", style="bold")
        line.append(f"  A: {e['reason_a'] or 'kept'}  B: {e['reason_b'] or 'kept'}", style="cyan")
        if e["value"] is not None:
            line.append(f"  value {e['value']:.4g}")
        parts += [line, Text(preview(e["text"], 300, 4), style="dim")]
    why = group["reason"] or group["step"] or "?"
    title = f"{group['from']} → {group['to']}: {why} ({group['rows']} rows)"
    style = "red" if group["to"] == "rejected" else "green"
    console.print(Panel(Group(*parts), title=Text(title), title_align="left", border_style=style))


def _show(value: Any) -> str:
    return "—" if value is None else str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `tamis diff` arguments."""
    parser.add_argument("a", help="output folder of the first run (A)")
    parser.add_argument("b", help="output folder of the second run (B)")
    parser.add_argument("--examples", type=int, default=3, help="examples per group (default: 3)")
    parser.add_argument("--json", action="store_true", help="the comparison as one JSON object")


def main(args: argparse.Namespace) -> int:
    """Run `tamis diff`."""
    if args.examples < 0:
        raise TamisError(f"--examples must be 0 or more, not {args.examples}")
    a, b = Run(args.a), Run(args.b)
    result, mode = compare(a, b, args.examples)
    changes = param_changes(a.manifest, b.manifest)
    if args.json:
        print(
            json.dumps(
                {**result, "recipe_changes": changes, "mode": mode}, ensure_ascii=False, default=str
            )
        )
    else:
        render(result, changes, mode, Console(highlight=False))
    return 0
