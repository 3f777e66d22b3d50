"""Bytes each stage of a run reads and writes, per kept row: what moving rows between stages costs.

    .venv/bin/python benchmarks/bench_bytes.py [--recipe configs/web-en.yaml] [--runner local]

Runs the recipe on its input into a temporary folder, then measures the Parquet files the run
left (the `_work/` folder stays after a run). Per stage:

    rows read      the pieces the stage's row work reads in full: the input files for the first
                   stage, the previous stage's committed kept pieces after it
    rows written   the stage's committed kept and rejected pieces
    keys read      what the decision of the global step the stage applies reads from the
                   previous stage's kept pieces: the compressed size of the columns it reads
                   (key columns, `_bucket`, `_shard`, `_row`, id; the embedding for semantic
                   dedup), from the files' footers
    decisions      the files the decision left under `stage-k/decisions` (its scratch passes
                   are deleted when it ends and are not counted)

then the final publish: the last stage's kept pieces and every stage's rejected pieces read
once more and merged into kept/ and rejected/. Sizes are compressed bytes on disk, so a read
of a whole file counts as its size (a reader also reads footers; close enough).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.core.columns import ROW, SHARD  # noqa: E402
from pipeline.core.recipe import load_recipe  # noqa: E402
from pipeline.global_steps.base import BUCKET  # noqa: E402
from pipeline.run.plan import plan_run  # noqa: E402
from pipeline.run.runner import run_recipe  # noqa: E402


def size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def column_bytes(paths: list[Path], columns: set[str]) -> int:
    """Compressed bytes of `columns` in the Parquet files `paths` (what a projected read reads)."""
    total = 0
    for path in paths:
        meta = pq.read_metadata(path)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                if chunk.path_in_schema.split(".")[0] in columns:
                    total += chunk.total_compressed_size
    return total


def decision_columns(step) -> set[str]:  # noqa: ANN001
    """The columns a global step's decision reads from the survivors."""
    p = step.params
    cols = {*step.key_columns, BUCKET, SHARD, ROW, p.id_column}
    for extra in ("embedding_column", "column"):
        if getattr(p, extra, None):
            cols.add(getattr(p, extra))
    if getattr(p, "verify", False):
        cols.add(p.text_column)
    return cols


def committed(work: Path, stage: int) -> tuple[list[Path], list[Path]]:
    """A stage's committed (kept, rejected) pieces, from its shards' markers."""
    kept, rejected = [], []
    for marker in sorted((work / f"stage-{stage}").glob("shard-*.done.json")):
        listed = json.loads(marker.read_text())["pieces"]
        folder = marker.with_name(marker.name.removesuffix(".done.json"))
        kept += [folder / n for n in listed["kept"]]
        rejected += [folder / n for n in listed["rejected"]]
    return kept, rejected


def measure(recipe_path: str, runner: str, out: Path) -> dict:
    recipe = load_recipe(recipe_path, output_path=str(out))
    manifest = run_recipe(recipe, runner=runner, progress=False)
    plan = plan_run(recipe)
    work = out / "_work"
    inputs = [Path(s.path) for s in plan.shards]
    rows = []
    previous_kept = inputs
    all_rejected: list[Path] = []
    for stage in plan.stages:
        kept, rejected = committed(work, stage.index)
        keys = decisions = 0
        if stage.applies is not None:
            keys = column_bytes(previous_kept, decision_columns(stage.applies))
            decisions = size(
                [p for p in (work / f"stage-{stage.index}" / "decisions").rglob("*") if p.is_file()]
            )
        rows.append(
            {
                "stage": f"{stage.index}: {stage.describe()}",
                "keys_read": keys,
                "decisions": decisions,
                "rows_read": size(previous_kept),
                "rows_written": size(kept + rejected),
            }
        )
        all_rejected += rejected
        previous_kept = kept
    final = sorted((out / "kept").glob("*.parquet")) + sorted((out / "rejected").glob("*.parquet"))
    rows.append(
        {
            "stage": "publish kept/ rejected/",
            "keys_read": 0,
            "decisions": 0,
            "rows_read": size(previous_kept + all_rejected),
            "rows_written": size(final),
        }
    )
    return {
        "kept": manifest["rows"]["kept"],
        "in": manifest["rows"]["in"],
        "rows": rows,
        "input_bytes": size(inputs),
        "final_bytes": size(final),
    }


def table(result: dict) -> str:
    kept = result["kept"]
    head = f"{'stage':<44}{'keys rd':>10}{'decis wr':>10}{'rows rd':>10}{'rows wr':>10}"
    lines = [f"rows in {result['in']}, kept {kept}; bytes per kept row:", head]
    totals = dict.fromkeys(("keys_read", "decisions", "rows_read", "rows_written"), 0)
    for row in result["rows"]:
        for k in totals:
            totals[k] += row[k]
        name = row["stage"] if len(row["stage"]) <= 43 else row["stage"][:40] + "..."
        lines.append(f"{name:<44}" + "".join(f"{row[k] / kept:>10.0f}" for k in totals))
    lines.append(f"{'total':<44}" + "".join(f"{totals[k] / kept:>10.0f}" for k in totals))
    read, written = (
        totals["keys_read"] + totals["rows_read"],
        totals["decisions"] + totals["rows_written"],
    )
    lines.append(
        f"all reads {read / kept:.0f} B/kept row ({read:,} B), all writes "
        f"{written / kept:.0f} B/kept row ({written:,} B); input {result['input_bytes']:,} B, "
        f"final kept/+rejected/ {result['final_bytes']:,} B"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(REPO / "configs/web-en.yaml"))
    parser.add_argument("--runner", default="local")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tamis-bytes-") as tmp:
        result = measure(args.recipe, args.runner, Path(tmp) / "out")
    print(table(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
