"""configs/instruct.yaml on a slice of the instruction sample (alpaca, messages and sharegpt
shards with planted problems): both runners decide the same, every planted problem is caught
by the step meant for it, and the kept set comes out as messages."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.recipe import load_recipe
from pipeline.run.runner import run_recipe
from tests.conftest import REPO

SAMPLES = REPO / "samples" / "instruct"
# The reasons each planted problem may get (the start of them: a rule and its threshold).
CAUGHT_BY = {
    "refusal": ("instruct_rules:refusal",),
    "wrong_language": ("instruct_rules:lang_mismatch",),
    "template_residue": ("instruct_rules:template_residue",),
    "benchmark": ("decontaminate:gsm8k-heldout",),
    "benchmark:edited": ("decontaminate:gsm8k-heldout",),
    "swapped": ("ifd:ifd>=0.7",),  # another problem's answer: the prompt does not help it
    "truncated": ("instruct_rules:truncated", "ifd:end_prob", "ifd:end_turn_prob"),
}
ALPACA_EXTRA = (25, 49)  # a cut answer and a benchmark prompt, past the first rows
SLICE_ROWS = 13  # records from the start of each shard: with ALPACA_EXTRA, every planted kind


def sample_slice(folder, rows: int = SLICE_ROWS):
    """The first `rows` records of each sample shard (and two more alpaca records, so that
    every kind of planted problem is there), and the malformed records at the end of the
    messages shard."""
    folder.mkdir()
    alpaca, messages = (SAMPLES / f"part-0000{k}.jsonl" for k in (0, 1))
    lines = alpaca.read_text().splitlines(True)
    (folder / alpaca.name).write_text("".join(lines[:rows] + [lines[i] for i in ALPACA_EXTRA]))
    lines = messages.read_text().splitlines(True)
    (folder / messages.name).write_text("".join(lines[:rows] + lines[-6:]))
    shared = json.loads((SAMPLES / "part-00002.json").read_text())[:rows]
    (folder / "part-00002.json").write_text(json.dumps(shared))
    return folder


def tables(out):
    kept = pq.read_table(out / "kept")
    rejected = pa.concat_tables(
        [pq.read_table(p) for p in sorted((out / "rejected").glob("*.parquet"))],
        promote_options="permissive",
    )
    return kept.sort_by("id"), rejected.sort_by("id")


@pytest.mark.slow
def test_instruct_recipe_on_both_runners(tmp_path, monkeypatch, ray_session):
    monkeypatch.chdir(REPO)  # the recipe names its benchmark file from the repository
    inp = sample_slice(tmp_path / "in")
    manifests = {}
    for runner in ("local", "ray"):
        recipe = load_recipe(REPO / "configs" / "instruct.yaml", str(inp), str(tmp_path / runner))
        manifests[runner] = run_recipe(recipe, runner, progress=False)
    (kept, rejected), (ray_kept, ray_rejected) = (
        tables(tmp_path / "local"),
        tables(tmp_path / "ray"),
    )
    decided = ["id", "reject_reason", "rejected_by", "duplicate_of", "similar_to"]
    assert kept["id"] == ray_kept["id"]
    assert rejected.select(decided) == ray_rejected.select(decided)
    assert manifests["local"]["rows"] == manifests["ray"]["rows"]
    rows = manifests["local"]["rows"]
    assert rows["in"] == rows["kept"] + rows["rejected"] == 3 * SLICE_ROWS + len(ALPACA_EXTRA) + 6
    assert {"messages", "alpaca_input_at", "planted", "ifd"} <= set(kept.column_names)
    assert not {"instruction", "conversations", "_messages", "_prompt"} & set(kept.column_names)
    why = dict(zip(rejected["id"].to_pylist(), rejected["reject_reason"].to_pylist()))
    planted = rejected["planted"].to_pylist() + kept["planted"].to_pylist()
    assert set(CAUGHT_BY) <= set(planted)  # every kind is in the slice
    for record in rejected.to_pylist() + kept.to_pylist():
        expected = CAUGHT_BY.get(record["planted"])
        if expected is not None:
            assert (why.get(record["id"]) or "kept").startswith(expected), record["id"]
    assert sum(r.startswith("invalid:") for r in why.values()) == 6
    steps = {s["step"]: s for s in manifests["local"]["steps"]}
    assert steps["select"]["global"]["selected"] == rows["kept"]
