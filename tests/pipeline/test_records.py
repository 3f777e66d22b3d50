"""Instruction records in: alpaca, messages and sharegpt from JSONL, JSON arrays, Parquet and
HF datasets; malformed records rejected with a precise reason; output in the input's kind or
converted, alpaca -> messages -> alpaca without loss; steps on a chosen field."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import RecipeError
from pipeline.core.recipe import build_steps, parse_recipe
from pipeline.io.readers import ReadOptions, discover, read_shard
from pipeline.io.records import with_fields
from pipeline.run.runner import run_recipe
from tests.pipeline.test_runners import outputs

ALPACA = [
    {"instruction": "Add 2 and 3.", "input": "", "output": "2 + 3 = 5."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour."},
    {"instruction": "Name a prime.", "input": "", "output": "Seven is prime."},
]
MESSAGES = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi, what is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "6."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
]
SHAREGPT = [
    {
        "conversations": [
            {"from": "human", "value": "Tell me a fact."},
            {"from": "gpt", "value": "Water boils at 100 C."},
        ]
    },
]
BAD_MESSAGES = [
    ({"messages": [{"role": "assistant", "content": "Hello"}]}, "invalid:no_user_turn"),
    ({"messages": [{"role": "user", "content": "Hi"}]}, "invalid:missing_response"),
    (
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
        "invalid:empty_response",
    ),
    (
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Hello"}]},
        "invalid:unknown_role",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "user", "content": "Again"},
                {"role": "assistant", "content": "Hello"},
            ]
        },
        "invalid:turns_out_of_order",
    ),
    (
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": 42}]},
        "invalid:not_a_string",
    ),
    ({"messages": "Hi there"}, "invalid:turns_not_a_list"),
    (  # an earlier answer left empty
        {
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "And of Spain?"},
                {"role": "assistant", "content": "Madrid."},
            ]
        },
        "invalid:empty_response",
    ),
]


def read(path, records="detect") -> pa.Table:
    (shard,) = discover(str(path))
    return pa.concat_tables(read_shard(shard, ReadOptions(records=records)))


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("writer", ["jsonl", "json", "parquet", "hf"])
def test_every_kind_from_every_file_format(tmp_path, writer):
    for kind, rows in (("alpaca", ALPACA), ("messages", MESSAGES), ("sharegpt", SHAREGPT)):
        folder = tmp_path / kind
        folder.mkdir()
        if writer == "jsonl":
            write_jsonl(folder / "a.jsonl", rows)
        elif writer == "json":
            (folder / "a.json").write_text(json.dumps(rows, indent=2))
        elif writer == "parquet":
            pq.write_table(pa.Table.from_pylist(rows), folder / "a.parquet")
        else:
            import datasets

            datasets.Dataset.from_list(rows).save_to_disk(str(folder / "a"))
            folder = folder / "a"
        table = read(folder if writer == "hf" else folder / next(p.name for p in folder.iterdir()))
        assert table["reject_reason"].null_count == len(rows), table["reject_reason"]
        first = table.to_pylist()[0]
        if kind == "alpaca":
            assert first["_prompt"] == "Add 2 and 3." and first["_response"] == "2 + 3 = 5."
            assert table.to_pylist()[1]["_prompt"] == "Translate to French.\n\nGood morning"
        elif kind == "messages":  # multi-turn kept whole; the system turn is no prompt
            assert [t["role"] for t in first["_messages"]] == [
                "system",
                "user",
                "assistant",
                "user",
                "assistant",
            ]
            assert first["_prompt"] == "Hi, what is 2+2?\n\nAnd 3+3?"
            assert first["_response"] == "4.\n\n6."
            assert first["_conversation"].startswith("Be brief.\n\nHi, what is 2+2?")
        else:
            assert first["_messages"][1] == {
                "role": "assistant",
                "content": "Water boils at 100 C.",
            }


def test_malformed_records_are_rejected_with_their_reason(tmp_path):
    write_jsonl(
        tmp_path / "bad.jsonl", [MESSAGES[1], *(r for r, _ in BAD_MESSAGES), "not a record"]
    )
    (tmp_path / "bad.jsonl").write_text((tmp_path / "bad.jsonl").read_text() + "{broken\n")
    table = read(tmp_path / "bad.jsonl")
    reasons = table["reject_reason"].to_pylist()
    assert reasons == [
        None,
        *(why for _, why in BAD_MESSAGES),
        "invalid:not_an_object",
        "invalid:bad_json",
    ]
    # A record Arrow could not type keeps its original JSON; nothing is lost.
    kept_raw = json.loads(table["invalid_record"][6].as_py())
    assert kept_raw == BAD_MESSAGES[5][0]


# Content as a list of parts (OpenAI's `text`, LLaMA-Factory's `value`, with reasoning parts),
# an OpenAI call turn (null content, `tool_calls`) and string contents, in one file.
PARTS = [
    {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Describe a cat briefly."}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "A furry pet."},
                    {"type": "text", "text": "<|im_end|>"},
                ],
            },
        ]
    },
    {
        "messages": [
            {"role": "user", "content": [{"type": "text", "value": "hi"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "reasoning", "value": "The user greets me."},
                    {"type": "text", "value": "Hello! How can I help?"},
                ],
            },
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"type": "function", "function": {"name": "weather"}}],
            },
            {"role": "tool", "content": "18 C and sunny"},
            {"role": "assistant", "content": "It is 18 C and sunny in Paris."},
        ]
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "http://example.com/cat.png"}},
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {"role": "assistant", "content": "A cat."},
        ]
    },
]


def test_content_parts_and_tool_calls_are_read_as_text(tmp_path):
    write_jsonl(tmp_path / "parts.jsonl", PARTS)
    table = read(tmp_path / "parts.jsonl")
    assert table["reject_reason"].to_pylist() == [None, None, None, "invalid:non_text_content"]
    turns = [[t["content"] for t in m] for m in table["_messages"].to_pylist()[:3]]
    assert turns[0] == ["Describe a cat briefly.", "A furry pet.\n\n<|im_end|>"]
    assert turns[1] == ["hi", "Hello! How can I help?"]  # the reasoning is not the answer read
    assert json.loads(turns[2][1]) == PARTS[2]["messages"][1]["tool_calls"]
    untexted = {"role": "user", "content": [{"type": "text"}]}
    odd = [{"messages": [untexted, {"role": "assistant", "content": "Hi."}]}]
    write_jsonl(tmp_path / "odd.jsonl", odd)
    assert read(tmp_path / "odd.jsonl")["reject_reason"].to_pylist() == ["invalid:not_a_string"]
    assert table["_response"][2].as_py().endswith("It is 18 C and sunny in Paris.")


def test_parts_spread_across_read_blocks_are_found(tmp_path, monkeypatch):
    import pipeline.io.readers as readers

    monkeypatch.setattr(readers, "SCAN_BLOCK", 64)  # a parts list across two blocks
    plain = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    }
    spaced = (
        '{"messages": [{"role": "user", "content":' + " " * 80 + '[{"type": "text", "text": "Hi"}]}'
    )
    spaced += ', {"role": "assistant", "content": "Hello"}]}'
    (tmp_path / "m.jsonl").write_text(json.dumps(plain) + "\n" + spaced + "\n")
    table = read(tmp_path / "m.jsonl")
    assert table["reject_reason"].to_pylist() == [None, None]
    assert [m[0]["content"] for m in table["_messages"].to_pylist()] == ["Hi", "Hi"]


def test_end_tokens_are_stripped_inside_content_parts(tmp_path):
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "parts.jsonl", PARTS)
    manifest = run_recipe(
        recipe(tmp_path / "in", tmp_path / "o", [{"strip_end_tokens": {}}]), "local", progress=False
    )
    kept, rejected = outputs(tmp_path / "o")
    assert manifest["rows"]["in"] == 4 and kept.num_rows == 3 and rejected.num_rows == 1
    answer = kept["messages"][0].as_py()[1]["content"]
    assert [(p["type"], p["text"]) for p in answer] == [("text", "A furry pet.")]
    string_turn = kept["messages"][2].as_py()[0]["content"]  # written as a part, same text
    assert [(p["type"], p["text"]) for p in string_turn] == [
        ("text", "What is the weather in Paris?")
    ]


def test_a_sharegpt_tool_call_may_answer_the_user():
    turns = [
        {"from": "human", "value": "Find me a chicken recipe."},
        {"from": "function_call", "value": '{"name": "search_recipes"}'},
        {"from": "observation", "value": '{"recipes": ["Chicken stir fry"]}'},
        {"from": "gpt", "value": "Try a chicken stir fry."},
    ]
    table, reasons = with_fields(pa.table({"conversations": [turns]}), "sharegpt")
    assert reasons == [None]
    assert [t["role"] for t in table["_messages"][0].as_py()] == [
        "user",
        "tool",
        "tool",
        "assistant",
    ]


def test_a_tool_result_needs_a_call_before_it():
    ask = {"role": "user", "content": "Weather in Paris?"}
    call = {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "w"}}]}
    result = {"role": "tool", "content": "18 C"}
    answer = {"role": "assistant", "content": "It is 18 C."}
    rows = [[ask, call, result, answer], [ask, result, answer]]
    _, reasons = with_fields(pa.Table.from_pylist([{"messages": m} for m in rows]), "messages")
    assert reasons == [None, "invalid:turns_out_of_order"]
    observed = [
        {"from": "human", "value": "Find me a chicken recipe."},
        {"from": "observation", "value": '{"recipes": ["Chicken stir fry"]}'},
        {"from": "gpt", "value": "Try a chicken stir fry."},
    ]
    _, reasons = with_fields(pa.table({"conversations": [observed]}), "sharegpt")
    assert reasons == ["invalid:turns_out_of_order"]


def test_openai_legacy_function_turns_are_a_call_and_its_result():
    ask = {"role": "user", "content": "Weather in Paris?"}
    call = {"role": "assistant", "content": None, "function_call": {"name": "w", "arguments": "{}"}}
    result = {"role": "function", "name": "w", "content": "18 C"}
    answer = {"role": "assistant", "content": "It is 18 C."}
    rows = [[ask, call, result, answer], [ask, result, answer]]
    table, reasons = with_fields(pa.Table.from_pylist([{"messages": m} for m in rows]), "messages")
    assert reasons == [None, "invalid:turns_out_of_order"]
    turns = table["_messages"][0].as_py()
    assert [t["role"] for t in turns] == ["user", "assistant", "tool", "assistant"]
    assert '"name": "w"' in turns[1]["content"]
    called = [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function", "value": "18 C"},
        {"from": "gpt", "value": "It is 18 C."},
    ]
    _, reasons = with_fields(pa.table({"conversations": [called]}), "sharegpt")
    assert reasons == ["invalid:turns_out_of_order"]


def test_typed_parquet_records_are_checked_too(tmp_path):
    good = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    rows = [
        good,
        [{"role": "user", "content": "Hi"}],
        [{"role": "tool", "content": "x"}, *good],
        None,
    ]
    pq.write_table(pa.table({"messages": rows}), tmp_path / "m.parquet")
    assert read(tmp_path / "m.parquet")["reject_reason"].to_pylist() == [
        None,
        "invalid:missing_response",
        "invalid:turns_out_of_order",
        "invalid:missing_turns",
    ]


def recipe(inp, out, steps, **output) -> object:
    return parse_recipe(
        {
            "name": "records",
            "input": {"path": str(inp)},
            "output": {"path": str(out), **output},
            "steps": steps,
        }
    )


def test_output_keeps_the_input_kind_and_steps_run_on_a_field(tmp_path):
    rows = ALPACA + [{"instruction": "Add 2 and 3.", "input": "", "output": "Five."}]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(json.dumps(rows))
    manifest = run_recipe(
        recipe(tmp_path / "in", tmp_path / "o", [{"exact_dedup": {"field": "prompt"}}]),
        "local",
        progress=False,
    )
    kept, rejected = outputs(tmp_path / "o")
    assert kept.column_names == ["id", "instruction", "input", "output"]
    assert rejected["reject_reason"].to_pylist() == ["duplicate:exact"]  # same prompt, other answer
    assert manifest["steps"][1]["params"]["text_column"] == "_prompt"


def test_alpaca_to_messages_and_back_loses_nothing(tmp_path):
    rows = [dict(r, id=f"r{i}") for i, r in enumerate(ALPACA * 3)]
    rows[4]["input"] = "Line one\n\nwith a blank line"  # an input holding the separator itself
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "a.jsonl", rows)
    run_recipe(
        recipe(tmp_path / "in", tmp_path / "m", [], format="messages"), "local", progress=False
    )
    as_messages, _ = outputs(tmp_path / "m")
    assert set(as_messages.column_names) == {"id", "messages", "alpaca_input_at"}
    run_recipe(
        recipe(tmp_path / "m" / "kept", tmp_path / "a", [], format="alpaca"),
        "local",
        progress=False,
    )
    back, _ = outputs(tmp_path / "a")
    assert back.select(["id", "instruction", "input", "output"]).to_pylist() == sorted(
        rows, key=lambda r: r["id"]
    )


def test_sharegpt_converts_and_multi_turn_cannot_be_alpaca(tmp_path):
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "m.jsonl", MESSAGES)
    write_jsonl(tmp_path / "in" / "s.jsonl", SHAREGPT)
    to_messages = recipe(tmp_path / "in", tmp_path / "m", [], format="messages")
    run_recipe(to_messages, "local", progress=False)
    assert pq.read_table(tmp_path / "m" / "kept")["messages"][2].as_py()[1] == {
        "role": "assistant",
        "content": "Water boils at 100 C.",
    }
    to_alpaca = recipe(tmp_path / "in", tmp_path / "a", [], format="alpaca")
    run_recipe(to_alpaca, "local", progress=False)
    kept = pq.read_table(tmp_path / "a" / "kept")
    rejected = pq.read_table(tmp_path / "a" / "rejected" / "part-00000.parquet")
    assert rejected["reject_reason"].to_pylist() == ["convert_records:system_turn"]
    assert kept["instruction"].to_pylist() == ["Capital of France?", "Tell me a fact."]


# LLaMA-Factory's alpaca: a system prompt and the earlier turns as [instruction, answer] pairs.
ALPACA_WITH_HISTORY = [
    {
        "id": "h0",
        "system": "Be brief.",
        "history": [["What is 2+2?", "4.<|im_end|>"], ["And 3+3?", "6."]],
        "instruction": "And 4+4?",
        "input": "",
        "output": "8.<|im_end|>",
    },
    {"id": "h1", "history": [], "instruction": "Name a prime.", "input": "", "output": "7."},
    {"id": "h2", "history": [["Hi"]], "instruction": "Go on.", "input": "", "output": "Ok."},
    {"id": "h3", "history": [["Hi", 3]], "instruction": "Go on.", "input": "", "output": "Ok."},
    {"id": "h4", "history": "Hi", "instruction": "Go on.", "input": "", "output": "Ok."},
]


def test_alpaca_system_and_history_are_turns_of_the_record(tmp_path):
    write_jsonl(tmp_path / "h.jsonl", ALPACA_WITH_HISTORY)
    table = read(tmp_path / "h.jsonl")
    assert table["reject_reason"].to_pylist() == [
        None,
        None,
        "invalid:history_not_pairs",
        "invalid:not_a_string",
        "invalid:turns_not_a_list",
    ]
    first = table.to_pylist()[0]
    assert [(t["role"], t["content"]) for t in first["_messages"]] == [
        ("system", "Be brief."),
        ("user", "What is 2+2?"),
        ("assistant", "4.<|im_end|>"),
        ("user", "And 3+3?"),
        ("assistant", "6."),
        ("user", "And 4+4?"),
        ("assistant", "8.<|im_end|>"),
    ]
    assert first["_prompt"] == "What is 2+2?\n\nAnd 3+3?\n\nAnd 4+4?"


def test_history_present_absent_null_or_empty_across_chunks(tmp_path):
    base = {"instruction": "Go on.", "input": "", "output": "Ok."}
    rows = [
        dict(base, history=[["Hi", "Hello."]]),
        base,
        dict(base, history=None),
        dict(base, history=[]),
        dict(base, history=[["Hi", "Hello."]], system="Be brief."),
    ]
    write_jsonl(tmp_path / "h.jsonl", rows)
    (shard,) = discover(str(tmp_path / "h.jsonl"))
    chunks = list(read_shard(shard, ReadOptions(records="detect", chunk_rows=2)))
    turns = [len(m) for c in chunks for m in c["_messages"].to_pylist()]
    assert turns == [4, 2, 2, 2, 5]
    assert all(r is None for c in chunks for r in c["reject_reason"].to_pylist())


def test_alpaca_history_is_written_back_and_converted(tmp_path):
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "h.jsonl", ALPACA_WITH_HISTORY[:2])
    steps = [{"strip_end_tokens": {}}]
    run_recipe(
        recipe(tmp_path / "in", tmp_path / "a", steps, format="alpaca"), "local", progress=False
    )
    kept, rejected = outputs(tmp_path / "a")
    assert rejected.num_rows == 0  # written as alpaca, a conversation keeps its history
    assert kept["history"].to_pylist()[0] == [["What is 2+2?", "4."], ["And 3+3?", "6."]]
    assert kept["output"].to_pylist() == ["8.", "7."]
    run_recipe(
        recipe(tmp_path / "in", tmp_path / "m", steps, format="messages"), "local", progress=False
    )
    kept, _ = outputs(tmp_path / "m")
    assert {"history", "system", "instruction"}.isdisjoint(kept.column_names)
    assert [t["content"] for t in kept["messages"].to_pylist()[0]] == [
        "Be brief.",
        "What is 2+2?",
        "4.",
        "And 3+3?",
        "6.",
        "And 4+4?",
        "8.",
    ]


def test_a_field_needs_records(small_samples, tmp_path):
    with pytest.raises(RecipeError, match="field: prompt needs instruction records"):
        run_recipe(
            recipe(small_samples, tmp_path / "o", [{"exact_dedup": {"field": "prompt"}}]),
            "local",
            progress=False,
        )


def test_a_column_no_record_has_stops_a_record_run_before_it_reads(tmp_path):
    from pipeline.run.plan import plan_run

    rows = [dict(ALPACA[i % 3]) for i in range(1002)]
    rows[1001]["quality"] = 0.5  # a column only a record past the first 1000 has still counts
    write_jsonl(tmp_path / "a.jsonl", rows)

    def recipe(score_column: str) -> dict:
        return {
            "name": "x",
            "input": {"path": str(tmp_path / "a.jsonl")},
            "output": {"path": str(tmp_path / "out")},
            "steps": [{"select": {"score_column": score_column, "count": 2}}],
        }

    assert plan_run(parse_recipe(recipe("quality")))
    with pytest.raises(RecipeError, match="no column 'qualty' in the input a.jsonl"):
        run_recipe(parse_recipe(recipe("qualty")), "local", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_stray_record_of_another_kind_is_the_only_one_rejected(tmp_path):
    stray = SHAREGPT[0] | {"conversations": [{"from": "human", "value": "Hi"}]}  # no answer
    carrying_null = ALPACA[2] | {"messages": None}  # a key of another kind, with no value
    write_jsonl(tmp_path / "a.jsonl", [ALPACA[0], stray, ALPACA[1], carrying_null])
    for records in ("detect", "alpaca"):
        reasons = read(tmp_path / "a.jsonl", records)["reject_reason"].to_pylist()
        assert reasons == [None, "invalid:no_user_turn", None, None], records


def test_a_byte_order_mark_is_not_part_of_the_first_record(tmp_path):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.jsonl").write_bytes(bom + "".join(json.dumps(r) + "\n" for r in ALPACA).encode())
    (tmp_path / "b.json").write_bytes(bom + json.dumps(ALPACA, indent=2).encode())
    for name in ("a.jsonl", "b.json"):
        assert read(tmp_path / name)["reject_reason"].null_count == len(ALPACA), name


def test_record_strings_that_are_not_utf8_reject_their_row_only(tmp_path):
    bad = pa.array([b"Say hi", b"Bad \xff"]).view(pa.string())
    pq.write_table(pa.table({"instruction": bad, "output": ["Hi.", "Ok."]}), tmp_path / "a.parquet")
    content = pa.array([b"Hello", b"Bad \xfe", b"Hi", b"Fine"]).view(pa.string())
    turns = pa.StructArray.from_arrays(
        [pa.array(["user", "assistant"] * 2), content], ["role", "content"]
    )
    messages = pa.ListArray.from_arrays(pa.array([0, 2, 4], pa.int32()), turns)
    pq.write_table(pa.table({"messages": messages}), tmp_path / "b.parquet")
    alpaca, chat = read(tmp_path / "a.parquet"), read(tmp_path / "b.parquet")
    assert alpaca["reject_reason"].to_pylist() == [None, "invalid:invalid_utf8"]
    assert alpaca["invalid_bytes"].to_pylist() == [None, b"Bad \xff"]  # the bytes, kept
    assert alpaca["instruction"].to_pylist() == ["Say hi", "Bad \ufffd"]
    assert chat["reject_reason"].to_pylist() == ["invalid:invalid_utf8", None]
    assert chat["invalid_bytes"].to_pylist() == [b"Bad \xfe", None]


def test_a_field_changing_type_between_chunks_names_the_file_and_lines(tmp_path):
    from pipeline.core.errors import SchemaError

    rows = [ALPACA[0] | {"meta": m} for m in ("x", "x", 5, 5)]
    write_jsonl(tmp_path / "a.jsonl", rows)
    (shard,) = discover(str(tmp_path / "a.jsonl"))
    with pytest.raises(
        SchemaError, match=r"a.jsonl: field 'meta' holds a string on line 1 and a int64 on line 3"
    ):
        list(read_shard(shard, ReadOptions(records="detect", chunk_rows=2)))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((-1, 2**63), r"'n' holds a int64 on {0} and an integer too large for 64 bits \(write"),
        ((2**64,), r"'n' holds an integer too large for 64 bits \(write it as a string\) on {0};"),
        (([1, "a"],), r"'n' holds a list of mixed types on {0}; give it values of one type"),
    ],
)
def test_a_value_no_column_holds_is_one_line_in_a_file_and_in_code(tmp_path, values, message):
    from pipeline.core.errors import SchemaError
    from pipeline.io.records import records_table

    rows = [ALPACA[0] | {"n": v} for v in values]
    write_jsonl(tmp_path / "a.jsonl", rows)
    with pytest.raises(SchemaError, match=r"a\.jsonl: field " + message.format("line 1")):
        read(tmp_path / "a.jsonl")
    with pytest.raises(SchemaError, match=r"^field " + message.format(r"data\[0\]")):
        records_table(rows)


def test_records_in_code_write_parts_only_where_a_file_would(tmp_path):
    from pipeline.io.records import records_table

    def chat(content):
        return {"messages": [{"role": "user", "content": content}, MESSAGES[0]["messages"][-1]]}

    for odd in ([], ["a", "b"], [{"type": "text", "text": "hi"}]):  # only the last is parts
        rows = [chat("hi"), chat(odd)]
        write_jsonl(tmp_path / "a.jsonl", rows)
        in_code, _ = records_table(rows)
        from_file = read(tmp_path / "a.jsonl")
        assert in_code["messages"].type == from_file["messages"].type
        parts = isinstance(in_code["messages"][0][0]["content"].as_py(), list)
        assert parts == bool(odd and isinstance(odd[0], dict))


def test_an_earlier_runs_verdict_columns_in_the_input_are_data(tmp_path):
    rows = [
        {"text": "A kept page.", "reject_reason": None, "rejected_by": None},
        {"text": "A page.", "reject_reason": "c4:curly_bracket", "rejected_by": "c4"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    (shard,) = discover(str(tmp_path / "a.parquet"))
    table = pa.concat_tables(read_shard(shard, ReadOptions()))
    assert table["reject_reason"].to_pylist() == [None, None]  # not rejected again on entry
    assert table["source_reject_reason"].to_pylist() == [None, "c4:curly_bracket"]
    assert table["source_rejected_by"].to_pylist() == [None, "c4"]


def test_preference_pairs_are_named_as_such(tmp_path):
    from pipeline.core.errors import SchemaError

    pair = {  # LLaMA-Factory's DPO layout: the prompt's turns, then two answers
        "conversations": [{"from": "human", "value": "Name a prime."}],
        "chosen": {"from": "gpt", "value": "Seven."},
        "rejected": {"from": "gpt", "value": "Nine."},
    }
    write_jsonl(tmp_path / "dpo.jsonl", [pair, pair])
    (shard,) = discover(str(tmp_path / "dpo.jsonl"))
    opts = ReadOptions(records="detect", max_invalid_fraction=0.5)  # a run's default
    with pytest.raises(SchemaError, match=r"dpo.jsonl: 2 of 2 rows .* preference pairs"):
        list(read_shard(shard, opts))


def test_embeddings_of_one_field_are_not_reused_for_another(tmp_path):
    def steps(*chosen):
        return parse_recipe(
            {
                "name": "x",
                "input": {"path": "in", "records": "alpaca"},
                "output": {"path": "out"},
                "steps": list(chosen),
            }
        )

    with pytest.raises(RecipeError, match=r"step semantic_dedup reads the response \(field: resp"):
        build_steps(
            steps({"embed": {"field": "prompt"}}, {"semantic_dedup": {"field": "response"}})
        )
    with pytest.raises(RecipeError, match=r"embeddings in column 'embedding' are of the prompt"):
        build_steps(
            steps(
                {"semantic_dedup": {"field": "prompt"}},
                {"select": {"score_column": "q", "count": 2}},  # whole conversations
            ),
            "_conversation",
        )
    same = build_steps(
        steps(
            {"semantic_dedup": {"field": "prompt"}},
            {"select": {"field": "prompt", "score_column": "q", "count": 2}},
        )
    )
    assert [s.name for s in same] == ["embed", "semantic_dedup", "select"]  # one embedding
    whole = build_steps(  # no field: of records, the whole conversation, as field: conversation
        steps(
            {"semantic_dedup": {"field": "conversation"}},
            {"select": {"score_column": "q", "count": 2}},
        )
    )
    assert [s.name for s in whole] == ["embed", "semantic_dedup", "select"]
    own = build_steps(
        steps(
            {"semantic_dedup": {"field": "prompt"}},
            {"select": {"score_column": "q", "count": 2, "embedding_column": "e2"}},
        )
    )
    assert [s.name for s in own] == ["embed", "semantic_dedup", "embed", "select"]
