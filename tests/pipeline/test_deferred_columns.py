"""Input columns written once: while no step changes them, intermediate kept pieces leave the
input's columns (text, URL, metadata) out and the next stage reads them again from the input;
the final files are the same as with every column carried through, and a step that edits the
text (or a decision that reads it) keeps the text."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.errors import RunError
from pipeline.core.recipe import parse_recipe
from pipeline.io.shards import InputShard, ReadOptions
from pipeline.run import runner
from pipeline.run.deferred_columns import InputColumns, columns_left_out, worth_leaving_out
from pipeline.run.plan import plan_run
from pipeline.run.runner import run_recipe
from tests.pipeline.test_stage_fusion import near_copies as text_near_copies

RECIPE = """
name: deferred
input: {{path: {inp}}}
output: {{path: {out}}}
steps:
  - exact_dedup: {{}}
  - gopher_repetition: {{}}
  - c4: {{remove_lines: {remove_lines}}}
  - minhash_dedup: {{threshold: 0.7, verify: {verify}}}
  - gopher_quality: {{}}
"""


def run(inp: Path, out: Path, runner: str = "local", **options: bool) -> dict:
    """Run the recipe (C4's remove_lines and MinHash's verify as given); its plan and manifest."""
    values = {"remove_lines": "false", "verify": "false"}
    values |= {k: str(v).lower() for k, v in options.items()}
    recipe = parse_recipe(yaml.safe_load(RECIPE.format(inp=inp, out=out, **values)))
    return {"plan": plan_run(recipe), "manifest": run_recipe(recipe, runner=runner, progress=False)}


def kept_pieces(out: Path, stage: int) -> list[Path]:
    return sorted((out / "_work" / f"stage-{stage}").glob("shard-*/kept-*.parquet"))


METADATA = ["url", "year", "tags"]  # input columns beside the id and the text


def near_copies(sample_docs: pa.Table, folder: Path) -> Path:
    """The fusion tests' shards of near copies, with a URL, a year and a list of tags per row."""
    text_near_copies(sample_docs, folder)
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        ids = table["id"].to_pylist()
        table = table.append_column("url", pa.array([f"https://example.org/{i}" for i in ids]))
        table = table.append_column("year", pa.array([2000 + len(i) for i in ids], pa.int64()))
        table = table.append_column("tags", pa.array([[i[:3], "web"] for i in ids]))
        pq.write_table(table, path)
    return folder


def left_out(schema: pa.Schema) -> list[str]:
    return columns_left_out(schema, "text")


def restored(kept: pa.Table) -> pa.Table:
    """A kept piece with the columns it left for the input (the fixture's input, by id)."""
    for column in left_out(kept.schema):
        values = [INPUT[i][column] for i in kept["id"].to_pylist()]
        kept = kept.set_column(
            kept.column_names.index(column), column, pa.array(values, kept[column].type)
        )
    return kept


INPUT: dict[str, dict] = {}


def final_files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for kind in ("kept", "rejected")
        for p in sorted((out / kind).glob("*.parquet"))
    }


def test_intermediate_pieces_leave_input_columns_out_and_the_output_is_unchanged(
    sample_docs, tmp_path, monkeypatch
):
    inp = near_copies(sample_docs, tmp_path / "in")
    source = pq.read_table(inp)
    INPUT.update((row["id"], row) for row in source.to_pylist())
    deferred = run(inp, tmp_path / "deferred")
    plan = deferred["plan"]
    assert len(plan.stages) == 3
    # No step changes an input column: a piece leaves them out when they are most of the bytes
    # of the rows it spans (every shard here is one chunk, so a stage's rows of a shard are one
    # piece of each kind; stage 1 only sees the rows stage 0 kept, and so estimates the others).
    columns = ["text", *METADATA]
    choices = []
    for stage in (0, 1):
        for shard in sorted((tmp_path / "deferred" / "_work" / f"stage-{stage}").glob("shard-*/")):
            kept, rejected = (
                pq.read_table(p) for k in ("kept", "rejected") for p in shard.glob(f"{k}-*")
            )
            part = pa.concat_tables(
                [t.select(["_row", *columns]) for t in (restored(kept), rejected)]
            )
            leaves = left_out(kept.schema)
            assert leaves in ([], columns), (stage, shard.name)
            assert bool(leaves) == worth_leaving_out(part, restored(kept), columns)
            assert all(kept[c].null_count == kept.num_rows for c in leaves)
            assert kept["id"].null_count == 0  # the id always travels
            choices.append(bool(leaves))
    assert choices[:4] == [True] * 4  # stage 0 (lang-free here) keeps nearly everything
    kept = pq.read_table(tmp_path / "deferred" / "kept")
    assert kept.num_rows > 50 and all(kept[c].null_count == 0 for c in columns)
    assert kept.select(["id", *columns]).to_pylist() == [INPUT[i] for i in kept["id"].to_pylist()]

    # The same run with every column carried through every stage writes the same final files.
    monkeypatch.setattr(runner, "deferred_columns", lambda *a: ())
    carried = run(inp, tmp_path / "carried")
    assert not any(left_out(pq.read_schema(p)) for p in kept_pieces(tmp_path / "carried", 0))
    assert final_files(tmp_path / "deferred") == final_files(tmp_path / "carried")
    assert deferred["manifest"]["rows"] == carried["manifest"]["rows"]


def test_the_byte_rule_weighs_the_columns_left_out_against_the_span_read_again():
    part = pa.table({"_row": pa.array([0, 1, 2, 3], pa.int64()), "text": ["x" * 10] * 4})
    assert worth_leaving_out(part, part.slice(0, 3), ["text"])  # 2 x 30 B > 40 B
    assert not worth_leaving_out(part, part.slice(0, 1), ["text"])  # 2 x 10 B < 40 B
    gappy = part.set_column(0, "_row", pa.array([0, 1, 2, 39], pa.int64()))  # 36 rows gone
    assert not worth_leaving_out(gappy, gappy.slice(0, 3), ["text"])  # 60 B < 400 B
    assert not worth_leaving_out(part, part, [])


@pytest.mark.parametrize(
    ("options", "keeps_text"),
    [
        ({"remove_lines": True}, [False, True]),  # C4 edits the text in stage 1
        ({"verify": True}, [False, True]),  # MinHash's verification reads stage 1's text
    ],
)
def test_a_stage_keeps_the_text_when_it_is_edited_or_read(
    sample_docs, tmp_path, options, keeps_text
):
    inp = near_copies(sample_docs, tmp_path / "in")
    run(inp, tmp_path / "out", **options)
    for stage, keeps in enumerate(keeps_text):
        pieces = kept_pieces(tmp_path / "out", stage)
        choices = [left_out(pq.read_schema(piece)) for piece in pieces]
        assert choices, stage
        if keeps:  # the text stays; the other input columns may still be left out
            assert all(c in ([], METADATA) for c in choices), (stage, choices)
            assert METADATA in choices, (stage, choices)
        else:
            assert all(c == ["text", *METADATA] for c in choices), (stage, choices)
    kept = pq.read_table(tmp_path / "out" / "kept")
    assert kept["text"].null_count == 0 and kept.num_rows > 50
    assert all(kept[c].null_count == 0 for c in METADATA)


@pytest.mark.slow
def test_ray_runner_restores_the_text_like_the_local_one(sample_docs, tmp_path):
    inp = near_copies(sample_docs, tmp_path / "in")
    run(inp, tmp_path / "local")
    run(inp, tmp_path / "ray", runner="ray")
    assert all(left_out(pq.read_schema(p)) for p in kept_pieces(tmp_path / "ray", 0))
    assert final_files(tmp_path / "local") == final_files(tmp_path / "ray")


def test_input_text_is_read_again_by_row_across_batches(tmp_path):
    texts = [f"document {i}" for i in range(100)]
    pq.write_table(pa.table({"text": texts, "n": list(range(100))}), tmp_path / "in.parquet")
    shard = InputShard(0, str(tmp_path / "in.parquet"), "parquet")
    text = InputColumns(shard, ReadOptions(chunk_rows=7), ["text"])
    for rows in ([0, 3, 9], [10, 40], [41, 42, 99]):
        table = pa.table(
            {"_row": pa.array(rows, pa.int64()), "text": pa.nulls(len(rows), pa.string())}
        )
        assert text.restore(table)["text"].to_pylist() == [texts[r] for r in rows]
    again = pa.table({"_row": pa.array([5], pa.int64()), "text": pa.nulls(1, pa.string())})
    assert text.restore(again)["text"].to_pylist() == [texts[5]]  # earlier rows: read again
    gone = pa.table({"_row": pa.array([100], pa.int64()), "text": pa.nulls(1, pa.string())})
    with pytest.raises(RunError, match="in.parquet: row 100 is gone"):
        text.restore(gone)
    text.close()


def test_input_text_skips_row_groups_it_does_not_need(tmp_path):
    texts = [f"document {i}" for i in range(1000)]
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100)
    text = InputColumns(InputShard(0, str(path), "parquet"), ReadOptions(chunk_rows=30), ["text"])
    rows = [3, 4, 250, 251, 299, 300, 950]
    table = pa.table({"_row": pa.array(rows, pa.int64()), "text": pa.nulls(len(rows), pa.string())})
    read: list[int] = []
    real = text._file.iter_batches

    def noted(*args, row_groups, **kwargs):
        read.extend(row_groups)
        return real(*args, row_groups=row_groups, **kwargs)

    text._file.iter_batches = noted
    text._seek(0)
    assert text.restore(table)["text"].to_pylist() == [texts[r] for r in rows]
    assert read == [0, 2, 3, 9]  # groups 1 and 4-8 never read
    text.close()
