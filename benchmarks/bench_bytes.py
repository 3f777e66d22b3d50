"""Bytes each stage of a run reads and writes, per kept row: what moving rows between stages costs.

    .venv/bin/python benchmarks/bench_bytes.py [--recipe configs/web-en.yaml] [--runner local]

Runs the recipe on its input into a temporary folder, then measures the Parquet files the run
left (the `_work/` folder stays after a run). Per stage:

    rows read      the pieces the stage's row work reads in full: the input files for the first
                   stage, the previous stage's committed kept pieces after it, plus the input's
                   columns those pieces left out (pipeline/run/deferred_columns.py)
    rows written   the stage's committed kept and rejected pieces
    keys read      what the decisions of the global steps the stage applies read: the first
                   step, the columns it decides on from the previous stage's kept pieces (their
                   compressed size, from the files' footers); each later step of a shared stage
                   (pipeline/global_steps/survivors.py), the columns its keys pass reads from
                   those pieces, plus the keys copy it then decides on
    decisions      the files the decisions left under `stage-k/decisions*`, plus the keys
                   copies of later steps (rebuilt here: the run deletes them); scratch passes
                   are deleted when a decision ends and are not counted

then the final publish: the last stage's kept pieces and every stage's rejected pieces read
once more and merged into kept/ and rejected/. A last stage that only applies decisions writes
its kept rows straight into kept/ (pipeline/run/publish.py): it has no kept pieces, and its
rows written are only its rejected pieces; publish then counts the final files it wrote. Sizes
are compressed bytes on disk, so a read of a whole file counts as its size (a reader also reads
footers; close enough).
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
from pipeline.global_steps.survivors import surviving_keys  # noqa: E402
from pipeline.io.storage import Location  # noqa: E402
from pipeline.run.deferred_columns import columns_left_out  # noqa: E402
from pipeline.run.local_executor import LocalExecutor  # noqa: E402
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


def stage_keys(stage, previous_kept: list[Path], work: Path) -> tuple[int, int]:  # noqa: ANN001
    """(bytes the decisions of `stage` read, bytes of the keys copies its later steps write)."""
    read = written = 0
    decided: list = []
    for number, step in enumerate(stage.applies):
        columns = {*step.decide_columns(), SHARD, ROW}
        if number:  # the keys pass also reads what the earlier decisions are applied on
            columns |= {c for g, _ in decided for c in g.decide_columns()}
        read += column_bytes(previous_kept, columns)
        if number:
            with tempfile.TemporaryDirectory(prefix="tamis-keys-") as tmp:
                sources = [Location.of(str(p)) for p in previous_kept]
                rows = sum(pq.read_metadata(p).num_rows for p in previous_kept)
                files, _ = surviving_keys(
                    LocalExecutor(), step, decided, sources, rows, Location.of(tmp) / "k"
                )
                copy = size([Path(f.path) for f in files])
            read += copy  # the decision then reads the copy
            written += copy
        folder = (
            work / f"stage-{stage.index}" / ("decisions" if not number else f"decisions-{number}")
        )
        decided.append((step, Location.of(str(folder))))
    return read, written


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
        keys, copies = stage_keys(stage, previous_kept, work)
        decisions = copies + size(
            [
                p
                for folder in (work / f"stage-{stage.index}").glob("decisions*")
                if folder.is_dir()
                for p in folder.rglob("*")
                if p.is_file()
            ]
        )
        # The input's columns of each shard whose previous kept pieces left them out.
        again: dict[int, set[str]] = {}
        for p in previous_kept if stage.index else []:
            columns = columns_left_out(pq.read_schema(p), plan.read.text_column)
            if columns:
                again.setdefault(int(p.parent.name.removeprefix("shard-")), set()).update(columns)
        by_index = {s.index: Path(s.path) for s in plan.shards}
        input_text = sum(column_bytes([by_index[i]], columns) for i, columns in again.items())
        rows.append(
            {
                "stage": f"{stage.index}: {stage.describe()}",
                "keys_read": keys,
                "decisions": decisions,
                "rows_read": size(previous_kept) + input_text,
                "input_text_read": input_text,
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
            "input_text_read": 0,
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
    head += f"{'(input cols rd)':>16}"
    lines = [f"rows in {result['in']}, kept {kept}; bytes per kept row:", head]
    totals = dict.fromkeys(("keys_read", "decisions", "rows_read", "rows_written"), 0)
    for row in result["rows"]:
        for k in totals:
            totals[k] += row[k]
        name = row["stage"] if len(row["stage"]) <= 43 else row["stage"][:40] + "..."
        figures = "".join(f"{row[k] / kept:>10.0f}" for k in totals)
        lines.append(f"{name:<44}{figures}{row['input_text_read'] / kept:>16.0f}")
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
