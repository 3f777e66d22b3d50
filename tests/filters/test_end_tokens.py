"""strip_end_tokens: an end-of-turn token a generator left after a whole answer is stripped in
the record's own fields (alpaca, messages, sharegpt), so the answer is kept; a token with a next
turn run on after it is still template residue."""

from __future__ import annotations

import json

import pyarrow as pa

from filters import StripEndTokens
from filters.end_tokens import strip_end_tokens
from pipeline.core.recipe import parse_recipe
from pipeline.io.records import with_fields
from pipeline.run.runner import run_recipe
from scorers import InstructRules
from tests.pipeline.test_runners import outputs

ANSWER = "The startup invested $8000 + $4000 = $12000 over the two years."
QUESTION = "A startup invests $8000, then half as much. How much in total over two years?"


def test_only_tokens_at_the_very_end_go():
    assert strip_end_tokens(ANSWER + "\n<|im_end|>") == ANSWER
    assert strip_end_tokens(ANSWER + " <|end|><|endoftext|>\n") == ANSWER
    assert strip_end_tokens(ANSWER + "</s>") == ANSWER
    run_on = ANSWER + "<|im_end|>\n<|im_start|>user\nThanks!"
    assert strip_end_tokens(run_on) == run_on
    assert strip_end_tokens(" " * 20_000 + "x") == " " * 20_000 + "x"  # linear, not a scan
    struck = "Use <s>old</s>"  # HTML's strike-through, not an end of sequence
    assert strip_end_tokens(struck) == struck
    assert strip_end_tokens(ANSWER) == ANSWER
    assert strip_end_tokens("<|im_end|>\n") == "<|im_end|>\n"  # no answer left: residue stays


def test_each_record_kind_is_rewritten_in_its_own_fields():
    kinds = {
        "alpaca": [{"instruction": QUESTION, "input": "", "output": ANSWER + "<|im_end|>"}],
        "messages": [
            {
                "messages": [
                    {"role": "user", "content": QUESTION},
                    {"role": "assistant", "content": ANSWER + "<|eot_id|>"},
                    {"role": "user", "content": "And the third year?"},
                    {"role": "assistant", "content": "Half of $4000: $2000.\n<|eot_id|>"},
                ]
            }
        ],
        "sharegpt": [
            {
                "conversations": [
                    {"from": "human", "value": QUESTION, "weight": 0.0},
                    {"from": "gpt", "value": ANSWER + " </s>", "weight": 1.0},
                ]
            }
        ],
    }
    for kind, rows in kinds.items():
        table, _ = with_fields(pa.Table.from_pylist(rows), kind)
        assert InstructRules().reasons(table).to_pylist() == ["instruct_rules:template_residue"]
        kept, rejected = StripEndTokens().split(table)
        assert (kept.num_rows, rejected.num_rows) == (1, 0)
        assert InstructRules().reasons(kept).to_pylist() == [None]
        record = kept.to_pylist()[0]
        answers = [t["content"] for t in record["_messages"] if t["role"] == "assistant"]
        assert answers[0] == ANSWER and "<|" not in record["_response"]
        if kind == "alpaca":
            assert record["output"] == ANSWER
        elif kind == "messages":
            assert [t["content"] for t in record["messages"]][1::2] == [
                ANSWER,
                "Half of $4000: $2000.",
            ]
            assert record["end_tokens_stripped"] == 2
        else:
            assert record["conversations"][1] == {"from": "gpt", "value": ANSWER, "weight": 1.0}


def test_records_read_as_alpaca_beside_an_empty_messages_field():
    rows = [{"instruction": QUESTION, "output": ANSWER + "<|im_end|>", "messages": None}]
    table, _ = with_fields(pa.Table.from_pylist(rows), "alpaca")
    kept, _ = StripEndTokens().split(table)
    assert kept["output"].to_pylist() == [ANSWER]
    assert kept["messages"].to_pylist() == [None]


def test_in_a_recipe_the_written_records_are_stripped(tmp_path):
    rows = [
        {"id": "a", "instruction": QUESTION, "input": "", "output": ANSWER + "\n<|im_end|>"},
        {"id": "b", "instruction": QUESTION, "input": "", "output": ANSWER + "<|im_end|>\nHi"},
        {"id": "c", "instruction": QUESTION, "input": "", "output": ANSWER},
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {
        "name": "strip",
        "input": {"path": str(tmp_path / "in")},
        "output": {"path": str(tmp_path / "out")},
        "steps": [{"strip_end_tokens": {}}, {"instruct_rules": {}}],
    }
    manifest = run_recipe(parse_recipe(recipe), "local", progress=False)
    kept, rejected = outputs(tmp_path / "out")
    assert kept["id"].to_pylist() == ["a", "c"]
    assert kept["output"].to_pylist() == [ANSWER, ANSWER]
    assert kept["end_tokens_stripped"].to_pylist() == [1, 0]
    assert rejected["reject_reason"].to_pylist() == ["instruct_rules:template_residue"]
    assert [manifest["rows"][k] for k in ("in", "kept", "rejected")] == [3, 2, 1]
