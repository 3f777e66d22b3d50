"""Text written once: while no step edits the text, intermediate kept pieces leave it out and
the next stage reads it again from the input; the final files are the same as with the text
carried through, and a step that edits the text (or a decision that reads it) keeps it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.errors import RunError
from pipeline.core.recipe import parse_recipe
from pipeline.io.shards import InputShard, ReadOptions
from pipeline.run import runner
from pipeline.run.deferred_text import InputText, text_left_out
from pipeline.run.plan import plan_run
from pipeline.run.runner import run_recipe
from tests.pipeline.test_stage_fusion import near_copies

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


def restored(kept: pa.Table, stage: int) -> pa.Table:
    """A kept piece with the text it left for the input (the fixture's input, by id)."""
    if not text_left_out(kept.schema):
        return kept
    texts = [INPUT_TEXT[i] for i in kept["id"].to_pylist()]
    return kept.set_column(kept.column_names.index("text"), "text", pa.array(texts, pa.string()))


INPUT_TEXT: dict[str, str] = {}


def final_files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for kind in ("kept", "rejected")
        for p in sorted((out / kind).glob("*.parquet"))
    }


def test_intermediate_pieces_leave_the_text_out_and_the_output_is_unchanged(
    sample_docs, tmp_path, monkeypatch
):
    inp = near_copies(sample_docs, tmp_path / "in")
    source = pq.read_table(inp)
    INPUT_TEXT.update(zip(source["id"].to_pylist(), source["text"].to_pylist(), strict=True))
    deferred = run(inp, tmp_path / "deferred")
    plan = deferred["plan"]
    assert len(plan.stages) == 3
    # No step edits the text: a piece leaves it out when its text is most of the text of the
    # rows it spans (every shard here is one chunk, so a stage's rows of a shard are one piece
    # of each kind; stage 1 only sees the rows stage 0 kept, and so estimates the others).
    left_out = []
    for stage in (0, 1):
        for shard in sorted((tmp_path / "deferred" / "_work" / f"stage-{stage}").glob("shard-*/")):
            kept, rejected = (
                pq.read_table(p) for k in ("kept", "rejected") for p in shard.glob(f"{k}-*")
            )
            part = pa.concat_tables(
                [t.select(["_row", "text"]) for t in (restored(kept, stage), rejected)]
            )
            span = pc.max(part["_row"]).as_py() - pc.min(part["_row"]).as_py() + 1
            size = pc.sum(pc.binary_length(part["text"])).as_py() * span / part.num_rows
            kept_size = pc.sum(pc.binary_length(restored(kept, stage)["text"])).as_py()
            leaves = text_left_out(kept.schema)
            assert leaves == (2 * kept_size > size), (stage, shard.name)
            assert not leaves or kept["text"].null_count == kept.num_rows
            left_out.append(leaves)
    assert left_out[:4] == [True] * 4  # stage 0 (lang-free here) keeps nearly everything
    kept = pq.read_table(tmp_path / "deferred" / "kept")
    assert kept.num_rows > 50 and kept["text"].null_count == 0
    source = pq.read_table(inp)
    by_id = dict(zip(source["id"].to_pylist(), source["text"].to_pylist(), strict=True))
    assert all(by_id[i] == t for i, t in zip(kept["id"].to_pylist(), kept["text"].to_pylist()))

    # The same run with the text carried through every stage writes the same final files.
    monkeypatch.setattr(runner, "deferred_text_column", lambda *a: None)
    carried = run(inp, tmp_path / "carried")
    assert not any(text_left_out(pq.read_schema(p)) for p in kept_pieces(tmp_path / "carried", 0))
    assert final_files(tmp_path / "deferred") == final_files(tmp_path / "carried")
    assert deferred["manifest"]["rows"] == carried["manifest"]["rows"]


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
        assert pieces and all(text_left_out(pq.read_schema(p)) != keeps for p in pieces), stage
    kept = pq.read_table(tmp_path / "out" / "kept")
    assert kept["text"].null_count == 0 and kept.num_rows > 50


@pytest.mark.slow
def test_ray_runner_restores_the_text_like_the_local_one(sample_docs, tmp_path):
    inp = near_copies(sample_docs, tmp_path / "in")
    run(inp, tmp_path / "local")
    run(inp, tmp_path / "ray", runner="ray")
    assert all(text_left_out(pq.read_schema(p)) for p in kept_pieces(tmp_path / "ray", 0))
    assert final_files(tmp_path / "local") == final_files(tmp_path / "ray")


def test_input_text_is_read_again_by_row_across_batches(tmp_path):
    texts = [f"document {i}" for i in range(100)]
    pq.write_table(pa.table({"text": texts, "n": list(range(100))}), tmp_path / "in.parquet")
    shard = InputShard(0, str(tmp_path / "in.parquet"), "parquet")
    text = InputText(shard, ReadOptions(chunk_rows=7))
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
    text = InputText(InputShard(0, str(path), "parquet"), ReadOptions(chunk_rows=30))
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
