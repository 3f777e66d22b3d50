"""Inspect the duplicate clusters of a finished run: `tamis clusters OUT [ID]`."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from pipeline.core.columns import DUPLICATE_OF, REJECT_REASON, REJECTED_BY
from pipeline.core.errors import TamisError
from pipeline.io.storage import Location, parquet_schema

SNIPPET = 160


def dedup_reports(out: Location) -> dict[str, dict[str, Any]]:
    """Step name -> cluster report, for every dedup step in the run's manifest."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        raise TamisError(f"{out}: no manifest.json (not a finished tamis run)")
    steps = manifest.read_json()["steps"]
    return {s["step"]: s["global"] for s in steps if "clusters" in s.get("global", {})}


def describe_reports(reports: dict[str, dict[str, Any]]) -> str:
    """Clusters, sizes and the largest clusters of each dedup step."""
    if not reports:
        return "no dedup step in this run"
    lines = []
    for step, report in reports.items():
        sizes = ", ".join(f"{size}: {n}" for size, n in report["cluster_sizes"].items())
        lines.append(
            f"{step}: {report['clusters']} clusters, {report['duplicates']} duplicates "
            f"(clusters by size {sizes or '-'})"
        )
        for cluster in report["largest_clusters"]:
            more = cluster["size"] - 1 - len(cluster["members"])
            members = ", ".join(cluster["members"]) + (f" and {more} more" if more > 0 else "")
            lines.append(f"  {cluster['kept']} (size {cluster['size']}): {members}")
    return "\n".join(lines)


def _scan(
    folder: Location, columns: list[str], where: pc.Expression, needs: list[str] = ()
) -> pa.Table:
    """Rows matching `where` in the part files of `folder`, file by file (a shard whose rows
    all left before a step lacks that step's columns, and an empty shard has none)."""
    found = []
    for path in folder.glob("*.parquet"):
        names = set(parquet_schema(path).names)
        if set(columns) | set(needs) <= names:
            part = pads.dataset(path.path, filesystem=path.fs, format="parquet")
            found.append(part.to_table(columns=columns, filter=where))
    if not found:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(found, promote_options="permissive")


def _snippet(text: Any) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"


def describe_cluster(
    out: Location, kept_id: str, step: str | None, id_column: str = "id", text_column: str = "text"
) -> str:
    """The row `kept_id` and every row rejected as its duplicate (scanned, filtered on read)."""
    member_filter = pc.field(DUPLICATE_OF) == kept_id
    if step:
        member_filter = member_filter & (pc.field(REJECTED_BY) == step)
    columns = [id_column, text_column, REJECT_REASON, REJECTED_BY]
    members = _scan(out / "rejected", columns, member_filter, needs=[DUPLICATE_OF])
    head = _scan(out / "kept", [id_column, text_column], pc.field(id_column) == kept_id)
    status = "kept"
    if not head.num_rows:  # kept by dedup, then rejected by a later step
        head = _scan(out / "rejected", columns, pc.field(id_column) == kept_id)
        status = f"rejected later: {head[REJECT_REASON][0]}" if head.num_rows else "not found"
    if not members.num_rows:
        raise TamisError(f"{out}: no rows are duplicates of {kept_id!r}")
    text = _snippet(head[text_column][0].as_py()) if head.num_rows else ""
    lines = [f"{kept_id} ({status}): {text}", f"{members.num_rows} duplicates:"]
    for row in members.sort_by(id_column).to_pylist():
        lines.append(f"  {row[id_column]} [{row[REJECT_REASON]}]: {_snippet(row[text_column])}")
    return "\n".join(lines)
