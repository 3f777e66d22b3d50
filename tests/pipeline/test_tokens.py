"""Token counts: in, kept and rejected per step with a named tokenizer, equal to counting the
output files' text directly; a tokenizer file or folder; off with `tokenizer: null`; a tokenizer
that cannot load stops the run before anything is written."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import ModelNotFoundError
from pipeline.core.recipe import parse_recipe
from pipeline.run.runner import run_recipe
from pipeline.run.tokens import DEFAULT_TOKENIZER, count_tokens, load_tokenizer, token_counter
from tests.conftest import REPO


def heuristic_recipe(inp, out, **output) -> dict:
    return {
        "name": "tokens",
        "input": {"path": str(inp)},
        "output": {"path": str(out), **output},
        "steps": [{"exact_dedup": {}}, {"gopher_quality": {}}, {"c4": {}}],
    }


def direct_counts(out, tokenizer) -> tuple[int, Counter]:
    """Tokens of kept text, and of rejected text by the step that rejected it."""

    def count(texts):
        return sum(
            len(e.ids)
            for e in tokenizer.encode_batch([t for t in texts if t], add_special_tokens=False)
        )

    kept = count(pq.read_table(out / "kept", columns=["text"])["text"].to_pylist())
    rejected = pq.read_table(out / "rejected", columns=["text", "rejected_by"]).to_pylist()
    by_step: Counter = Counter()
    for row in rejected:
        by_step[row["rejected_by"]] += count([row["text"]])
    return kept, by_step


def test_tokens_per_step_equal_a_direct_count_of_the_outputs(small_samples, tmp_path):
    out = tmp_path / "o"
    manifest = run_recipe(
        parse_recipe(heuristic_recipe(small_samples, out)), "local", progress=False
    )
    kept, by_step = direct_counts(out, load_tokenizer(DEFAULT_TOKENIZER))
    tokens = manifest["tokens"]
    assert tokens == {
        "tokenizer": DEFAULT_TOKENIZER,
        "in": kept + sum(by_step.values()),
        "kept": kept,
        "rejected": sum(by_step.values()),
    }
    assert kept > 0 and by_step["gopher_quality"] > 0
    flowing = tokens["in"]
    for step in manifest["steps"]:
        assert (step["tokens_in"], step["tokens_rejected"]) == (flowing, by_step[step["step"]])
        flowing -= step["tokens_rejected"]
    assert flowing == kept


def test_the_fast_counter_counts_exactly_as_the_tokenizer(samples):
    texts = [t for t in pq.read_table(samples, columns=["text"])["text"].to_pylist() if t]
    for path in sorted((REPO / "samples" / "instruct").iterdir()):  # template residue too
        texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    texts += ["<|im_start|>user\nhi<|im_end|>", "  two  spaces\t\r\n", "naïve café 東京 🙂"]
    tokenizer, counter = load_tokenizer(DEFAULT_TOKENIZER), token_counter(DEFAULT_TOKENIZER)
    assert hasattr(counter, "encode_ordinary_batch")  # the tiktoken path, not the fallback
    slow = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    fast = [count_tokens(counter, [t]) for t in texts]
    assert fast == slow and sum(slow) > 2_000_000
    assert count_tokens(counter, ["<|im_start|>"]) == 1


def test_a_tokenizer_file_or_none(small_samples, tmp_path):
    saved = tmp_path / "tok" / "tokenizer.json"
    saved.parent.mkdir()
    saved.write_text(load_tokenizer(DEFAULT_TOKENIZER).to_str())
    by_file = run_recipe(
        parse_recipe(heuristic_recipe(small_samples, tmp_path / "a", tokenizer=str(saved.parent))),
        "local",
        progress=False,
    )
    by_name = run_recipe(
        parse_recipe(heuristic_recipe(small_samples, tmp_path / "b")), "local", progress=False
    )
    assert by_file["tokens"]["in"] == by_name["tokens"]["in"] > 0
    off = run_recipe(
        parse_recipe(heuristic_recipe(small_samples, tmp_path / "c", tokenizer=None)),
        "local",
        progress=False,
    )
    assert "tokens" not in off and all("tokens_in" not in s for s in off["steps"])


def test_a_tokenizer_that_cannot_load_stops_before_anything_is_written(small_samples, tmp_path):
    recipe = parse_recipe(
        heuristic_recipe(small_samples, tmp_path / "o", tokenizer=str(tmp_path / "none"))
    )
    with pytest.raises(ModelNotFoundError, match="tokenizer .*output.tokenizer"):
        run_recipe(recipe, "local", progress=False)
    assert not (tmp_path / "o").exists()


def test_instruction_records_count_their_turns(tmp_path):
    recipe = {
        "name": "records",
        "input": {"path": str(REPO / "samples" / "instruct")},
        "output": {"path": str(tmp_path / "o"), "format": "messages"},
        "steps": [{"exact_dedup": {"field": "prompt"}}],
    }
    manifest = run_recipe(parse_recipe(recipe), "local", progress=False)
    tokenizer = load_tokenizer(DEFAULT_TOKENIZER)
    kept = 0
    for row in pq.read_table(tmp_path / "o" / "kept", columns=["messages"]).to_pylist():
        text = "\n\n".join(turn["content"] for turn in row["messages"])
        kept += len(tokenizer.encode(text, add_special_tokens=False).ids)
    assert manifest["tokens"]["kept"] == kept > 0
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["tokens"]["kept"] == kept


def test_alpaca_history_counts_and_other_columns_do_not(tmp_path):
    (tmp_path / "in").mkdir()
    alpaca = {
        "system": "Be brief.",
        "history": [["What is 2+2?", "4."]],
        "instruction": "And 3+3?",
        "input": "",
        "output": "6.",
    }
    # a messages record with a stray `history` of notes: not part of its conversation
    messages = {
        "history": ["a note"],
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
    }
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps(alpaca) + "\n")
    (tmp_path / "in" / "m.jsonl").write_text(json.dumps(messages) + "\n")
    recipe = {
        "name": "records",
        "input": {"path": str(tmp_path / "in")},
        "output": {"path": str(tmp_path / "o")},
        "steps": [{"strip_end_tokens": {}}],
    }
    manifest = run_recipe(parse_recipe(recipe), "local", progress=False)
    tokenizer = load_tokenizer(DEFAULT_TOKENIZER)
    texts = [
        "Be brief.\n\nWhat is 2+2?\n\n4.\n\nAnd 3+3?\n\n6.",
        "Capital of France?\n\nParis.",
    ]
    expected = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) for t in texts)
    assert manifest["tokens"]["kept"] == expected
