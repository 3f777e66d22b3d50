"""Instruction-tuning records (alpaca, messages, sharegpt) read into one canonical form.

Each record becomes a list of turns `(role, content)` with roles system, user, assistant and
tool, checked for shape (a user turn first, an assistant turn last, turns in order, text
content) and given text fields that any step can read through its `field` setting:

- `prompt` (column `_prompt`): the user turns, joined by blank lines;
- `response` (`_response`): the assistant turns, joined by blank lines;
- `conversation` (`_conversation`): every turn's content, in order, joined by blank lines.

The canonical turns ride along in `_messages` (list<struct<role, content>>) for steps that need
the structure (IFD). These columns are bookkeeping: outputs keep the input's own columns.
An alpaca record's user turn is its instruction, then a blank line and its input when it has
one, after a system turn (`system`) and earlier turns (`history`) where it has them; converted
to messages, `alpaca_input_at` keeps where the input starts, so converting back
restores both fields exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from pipeline.core.columns import (
    INVALID_BYTES,
    INVALID_RECORD,
    MESSAGES,
    READ_REASON,
    RECORD_FIELDS,
)
from pipeline.core.errors import SchemaError

KINDS = ("alpaca", "messages", "sharegpt")
PROMPT, RESPONSE, CONVERSATION = (RECORD_FIELDS[k] for k in ("prompt", "response", "conversation"))
RECORD_COLUMNS = (MESSAGES, PROMPT, RESPONSE, CONVERSATION)
ALPACA_INPUT_AT = "alpaca_input_at"
FORMAT_COLUMNS = {
    "alpaca": ("instruction", "input", "output"),
    "messages": ("messages",),
    "sharegpt": ("conversations",),
}
# Optional alpaca fields (LLaMA-Factory's): a system prompt, and the earlier turns as
# [instruction, answer] pairs before the record's own.
ALPACA_CONTEXT = ("system", "history")
TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
SEPARATOR = "\n\n"
ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
    "function_call": "tool",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}
# Content parts (OpenAI, LLaMA-Factory) read as text; a part of another type (an image) is not.
PLAIN_TEXT_PARTS = ("text", "input_text", "output_text")
TEXT_PARTS = (*PLAIN_TEXT_PARTS, "tool_call")
REASONING_PARTS = ("reasoning", "thinking")
# Where a listed kind keeps its turns, and each turn's role and text.
TURN_KEYS = {
    "messages": ("messages", "role", "content"),
    "sharegpt": ("conversations", "from", "value"),
}
# Roles of a tool's result, which must answer a call (an assistant turn, or sharegpt's
# function_call turn, which may follow the user's); `function` is OpenAI's older name for `tool`.
RESULT_ROLES = ("tool", "observation", "function")
MESSAGES_ROLES = {"function": "tool"}
CALL_KEYS = ("tool_calls", "function_call")  # OpenAI's calls, and its older single call
TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
Turns = list[tuple[str, str]]


class InvalidRecord(ValueError):
    """A record that is not a usable conversation; `reason` becomes `invalid:<reason>`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def detect(columns: Iterable[str] | dict[str, Any]) -> str | None:
    """The record kind a set of column names (or a JSON record's keys that have a value)
    implies, or None."""
    names = (
        {k for k, v in columns.items() if v is not None}
        if isinstance(columns, dict)
        else set(columns)
    )
    if "messages" in names:
        return "messages"
    if "conversations" in names:
        return "sharegpt"
    if {"instruction", "output"} <= names:
        return "alpaca"
    return None


def detect_table(table: pa.Table) -> str | None:
    """The record kind of a table's columns; a column with no value (a key a record carried as
    null) decides it last."""
    valued = [c for c in table.column_names if table[c].null_count < table.num_rows]
    return detect(valued) or detect(table.column_names)


def turns_of(record: dict[str, Any], kind: str) -> Turns:
    """The canonical turns of one record, checked; raises InvalidRecord."""
    if kind == "alpaca":
        turns = _alpaca_turns(record)
    else:
        key, role_key, text_key = TURN_KEYS[kind]
        turns = _listed_turns(record.get(key), role_key, text_key, kind)
    check_order(turns)
    return turns


def record_columns(kind: str) -> tuple[str, ...]:
    """The columns a record of `kind` may be written in."""
    return FORMAT_COLUMNS[kind] + (ALPACA_CONTEXT if kind == "alpaca" else ())


ALL_RECORD_COLUMNS = frozenset(c for kind in KINDS for c in record_columns(kind))


def _alpaca_turns(record: dict[str, Any]) -> Turns:
    instruction, extra, output, system = (
        record.get(k) for k in (*FORMAT_COLUMNS["alpaca"], "system")
    )
    if any(v is not None and not isinstance(v, str) for v in (instruction, extra, output, system)):
        raise InvalidRecord("not_a_string")
    if not (instruction or "").strip():
        raise InvalidRecord("no_user_turn")
    if output is None:
        raise InvalidRecord("missing_response")
    prompt = instruction + (SEPARATOR + extra if extra else "")
    turns: Turns = [("system", system)] if system and system.strip() else []
    for asked, answered in _history(record.get("history")):
        turns += [("user", asked), ("assistant", answered)]
    return [*turns, ("user", prompt), ("assistant", output)]


def _history(pairs: Any) -> list[tuple[str, str]]:
    """An alpaca record's earlier turns: a list of [instruction, answer] string pairs."""
    if pairs is None:
        return []
    if not isinstance(pairs, list):
        raise InvalidRecord("turns_not_a_list")
    if not all(isinstance(pair, list | tuple) and len(pair) == 2 for pair in pairs):
        raise InvalidRecord("history_not_pairs")
    if not all(isinstance(text, str) for pair in pairs for text in pair):
        raise InvalidRecord("not_a_string")
    return [(asked, answered) for asked, answered in pairs]


def _listed_turns(turns: Any, role_key: str, text_key: str, kind: str) -> Turns:
    if not isinstance(turns, list):
        raise InvalidRecord("missing_turns" if turns is None else "turns_not_a_list")
    found: Turns = []
    for turn in turns:
        if not isinstance(turn, dict):
            raise InvalidRecord("turn_not_an_object")
        role, content = turn.get(role_key), _text_of(turn, text_key)
        if not isinstance(role, str):
            raise InvalidRecord("not_a_string")
        given = role.lower()
        role = SHAREGPT_ROLES.get(given) if kind == "sharegpt" else MESSAGES_ROLES.get(given, given)
        if role not in ROLES:
            raise InvalidRecord("unknown_role")
        if given in RESULT_ROLES and found and found[-1][0] in ("user", "system"):
            raise InvalidRecord("turns_out_of_order")  # a tool's result with no call before it
        found.append((role, content))
    return found


def _text_of(turn: dict[str, Any], key: str) -> str:
    """A turn's text: its content string, or the text of its content parts (OpenAI's and
    LLaMA-Factory's `[{type: text, text|value}]`; reasoning parts are not part of the answer
    read, a tool call part is the call), then an OpenAI call turn's `tool_calls` (or older
    `function_call`) as JSON."""
    content, calls = turn.get(key), _calls(turn)
    if content is None and calls:
        content = ""
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        content = SEPARATOR.join(
            _json_text(_part_text(p)) for p in content if p.get("type") not in REASONING_PARTS
        )
    if not isinstance(content, str):
        raise InvalidRecord("not_a_string")
    if calls:
        content = SEPARATOR.join(t for t in (content, _json_text(calls)) if t.strip())
    return content


def _calls(turn: dict[str, Any]) -> Any:
    """The tool calls an OpenAI turn makes, if any."""
    return next((turn[k] for k in CALL_KEYS if turn.get(k)), None)


def _part_text(part: dict[str, Any]) -> Any:
    """A content part's text (`text`, else `value`); a part that is not text is refused."""
    if part.get("type") not in TEXT_PARTS:
        raise InvalidRecord("non_text_content")
    text = part.get("text") if part.get("text") is not None else part.get("value")
    if text is None:
        raise InvalidRecord("not_a_string")
    return text


def _json_text(value: Any) -> str:
    """A string as it is; a call's arguments or a tool call as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        raise InvalidRecord("not_a_string") from None


def as_parts(turns: Any, key: str) -> Any:
    """A list of turns with each string text (`key`) written as one text part, so that a file
    mixing string and list-of-parts contents (both OpenAI forms) fits one column type."""
    if not isinstance(turns, list):
        return turns
    return [
        {**t, key: [{"type": "text", "text": t[key]}]}
        if isinstance(t, dict) and isinstance(t.get(key), str)
        else t
        for t in turns
    ]


def turn_text(turn: dict[str, Any]) -> str:
    """The text of a turn as written (messages' `content`, sharegpt's `value`; "" if none)."""
    try:
        return _text_of(turn, "content" if "content" in turn else "value") or ""
    except InvalidRecord:
        return ""


def check_order(turns: Turns) -> None:
    """A system turn may open; then a user turn; assistant or tool turns (a call, or its
    result) answer user and tool turns; the last turn is an assistant turn; no answer is
    empty."""
    body = turns[1:] if turns and turns[0][0] == "system" else turns
    if not any(role == "user" for role, _ in body):
        raise InvalidRecord("no_user_turn")
    if body[0][0] != "user" or any(role == "system" for role, _ in body):
        raise InvalidRecord("turns_out_of_order")
    if body[-1][0] != "assistant":
        raise InvalidRecord("missing_response")
    for (before, _), (role, _) in zip(body, body[1:]):
        if role == before and role != "tool":
            raise InvalidRecord("turns_out_of_order")
    if any(role == "assistant" and not content.strip() for role, content in body):
        raise InvalidRecord("empty_response")  # the last answer, or an earlier one
    if not any(content.strip() for role, content in body if role == "user"):
        raise InvalidRecord("no_user_turn")


def json_safe(record: dict[str, Any], kind: str) -> tuple[dict[str, Any], str | None]:
    """A JSON record Arrow can hold whatever its shape: an invalid one keeps its other fields,
    its format fields (of any kind) become null and the whole record is kept as JSON in
    `invalid_record`."""
    try:
        turns_of(record, kind)
    except InvalidRecord as err:
        # every kind's fields go, so that a stray record of another kind does not change the
        # kind its chunk is read as
        kept = {k: v for k, v in record.items() if k not in ALL_RECORD_COLUMNS}
        kept[INVALID_RECORD] = json.dumps(record, ensure_ascii=False)
        return kept, f"invalid:{err.reason}"
    return record, None


def with_fields(table: pa.Table, kind: str) -> tuple[pa.Table, list[str | None]]:
    """`table` with the canonical turns and text fields of each record, and an
    `invalid:<why>` reason for each record that is not a usable conversation (null fields)."""
    present = [c for c in record_columns(kind) if c in table.column_names]
    rows = table.select(present).to_pylist() if present else [{}] * table.num_rows
    messages, prompts, responses, conversations, reasons = [], [], [], [], []
    for row in rows:
        try:
            turns = turns_of(row, kind)
        except InvalidRecord as err:
            turns, reason = None, f"invalid:{err.reason}"
        else:
            reason = None
        reasons.append(reason)
        messages.append([{"role": r, "content": c} for r, c in turns] if turns else None)
        prompts.append(_join(turns, "user"))
        responses.append(_join(turns, "assistant"))
        conversations.append(_join(turns, None))
    for name, values, kind_ in (
        (MESSAGES, messages, pa.list_(TURN)),
        (PROMPT, prompts, pa.string()),
        (RESPONSE, responses, pa.string()),
        (CONVERSATION, conversations, pa.string()),
    ):
        table = table.append_column(name, pa.array(values, kind_))
    return table, reasons


def with_answers(table: pa.Table, answers: list[list[str]]) -> pa.Table:
    """`table` with each record's assistant turns replaced by `answers` (one list per row, in
    turn order), in its own format columns (other keys of a turn kept) and in the canonical
    turns and text fields alike; a row without turns (an invalid record) stays as it is."""
    turns: list[Turns | None] = [
        None if m is None else [(t["role"], t["content"]) for t in m]
        for m in table[MESSAGES].to_pylist()
    ]
    new_turns = [t and _replace_answers(t, a) for t, a in zip(turns, answers, strict=True)]
    kinds = [
        k for k in ("messages", "sharegpt", "alpaca") if FORMAT_COLUMNS[k][-1] in table.column_names
    ]
    names = [c for k in kinds for c in record_columns(k) if c in table.column_names]
    values = {c: table[c].to_pylist() for c in names}
    for i, record in enumerate(new_turns):
        if record:
            _rewrite_row(values, i, record, kinds)
    for name in names:
        at = table.column_names.index(name)
        table = table.set_column(at, name, pa.array(values[name], table.schema.field(at).type))
    canonical = [t and [{"role": r, "content": c} for r, c in t] for t in new_turns]
    for name, column, kind_ in (
        (MESSAGES, canonical, pa.list_(TURN)),
        (RESPONSE, [_join(t, "assistant") for t in new_turns], pa.string()),
        (CONVERSATION, [_join(t, None) for t in new_turns], pa.string()),
    ):
        table = table.set_column(table.column_names.index(name), name, pa.array(column, kind_))
    return table


def _rewrite_row(values: dict[str, list[Any]], i: int, record: Turns, kinds: list[str]) -> None:
    """Write `record`'s turns into row `i`'s fields of the kind it was read as: the first of
    `kinds` whose fields hold a conversation of as many turns."""
    for kind in kinds:
        row = {c: values[c][i] for c in record_columns(kind) if c in values}
        try:
            if len(turns_of(row, kind)) != len(record):
                continue
        except InvalidRecord:
            continue
        if kind == "alpaca":
            answers = [content for role, content in record if role == "assistant"]
            values["output"][i] = answers[-1]
            if len(answers) > 1:  # earlier answers, in the history's pairs
                pairs = values["history"][i]
                values["history"][i] = [[p[0], a] for p, a in zip(pairs, answers[:-1], strict=True)]
        else:
            column, _, key = TURN_KEYS[kind]
            for turn, (_, content) in zip(values[column][i], record, strict=True):
                if (written := _text_of(turn, key)) != content:
                    _cut_text(turn, key, written, content)
        return


def _cut_text(turn: dict[str, Any], key: str, written: str, text: str) -> None:
    """Write `text`, the turn's `written` text with its end cut off, into a turn: its content
    string, or, where the content is a list of parts, the trailing text parts (emptied ones
    dropped; a tool call part or a turn's calls are never cut)."""
    content = turn.get(key)
    if _calls(turn):  # its text ends with the calls, which no step cuts
        return
    if not isinstance(content, list):
        turn[key] = text
        return
    cut, emptied = len(written) - len(text), set()
    for i in reversed(range(len(content))):
        part = content[i]
        if part.get("type") in REASONING_PARTS:  # not in the text read
            continue
        if cut <= 0 or part.get("type") not in PLAIN_TEXT_PARTS:
            break
        field = "text" if part.get("text") is not None else "value"
        body = part[field]
        part[field] = body[: max(len(body) - cut, 0)]
        if not part[field]:
            emptied.add(i)
        cut -= len(body) + len(SEPARATOR)
    turn[key] = [p for i, p in enumerate(content) if i not in emptied]


def answers_of(turns: list[dict[str, str]] | None, calls: bool = True) -> list[str]:
    """The content of each assistant turn of canonical `turns` (a `_messages` value), in order;
    without `calls`, not those a tool turn answers (a call to the tool is not an answer)."""
    turns = turns or []
    return [
        t["content"]
        for t, after in zip(turns, [*turns[1:], None])
        if t["role"] == "assistant" and (calls or after is None or after["role"] != "tool")
    ]


def _replace_answers(turns: Turns, answers: list[str]) -> Turns:
    """`turns` with the assistant turns' contents taken from `answers`, in order."""
    given = iter(answers)
    return [(role, next(given) if role == "assistant" else content) for role, content in turns]


def _join(turns: Turns | None, role: str | None) -> str | None:
    if turns is None:
        return None
    return SEPARATOR.join(c for r, c in turns if role is None or r == role)


def convert(table: pa.Table, target: str) -> pa.Table:
    """Kept records (with `_messages`) rewritten in the `target` kind: its format columns
    replace the source's. Alpaca needs a single user and assistant turn (see `alpaca_problem`)."""
    source = detect(table.column_names)
    if source == target:  # records already of that kind keep their own columns as read
        if target == "messages" and ALPACA_INPUT_AT not in table.column_names:
            return table.append_column(ALPACA_INPUT_AT, pa.nulls(table.num_rows, pa.int32()))
        return table
    turns = [[(t["role"], t["content"]) for t in m] for m in table[MESSAGES].to_pylist()]
    offsets = _input_offsets(table, source)
    replaced = {c for kind in KINDS for c in FORMAT_COLUMNS[kind]} | {ALPACA_INPUT_AT}
    if source == "alpaca":  # its system prompt and history are turns of the converted record
        replaced |= set(ALPACA_CONTEXT)
    table = table.drop_columns([c for c in table.column_names if c in replaced])
    if target == "messages":
        table = table.append_column(
            "messages",
            pa.array([[{"role": r, "content": c} for r, c in t] for t in turns], pa.list_(TURN)),
        )
        return table.append_column(ALPACA_INPUT_AT, pa.array(offsets, pa.int32()))
    if target == "sharegpt":
        shared = [[{"from": TO_SHAREGPT[r], "value": c} for r, c in t] for t in turns]
        kind = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
        return table.append_column("conversations", pa.array(shared, kind))
    instructions, inputs, outputs = [], [], []
    for turn, at in zip(turns, offsets, strict=True):
        prompt, answer = turn[0][1], turn[1][1]
        split = (
            at is not None
            and 0 < at - len(SEPARATOR)
            and prompt[at - len(SEPARATOR) : at] == SEPARATOR
        )
        instructions.append(prompt[: at - len(SEPARATOR)] if split else prompt)
        inputs.append(prompt[at:] if split else "")
        outputs.append(answer)
    for name, values in (("instruction", instructions), ("input", inputs), ("output", outputs)):
        table = table.append_column(name, pa.array(values, pa.string()))
    return table


def alpaca_problem(turns: Turns) -> str | None:
    """Why a conversation has no alpaca form (one user turn, one assistant turn), or None."""
    if any(role == "system" for role, _ in turns):
        return "system_turn"
    if [role for role, _ in turns] != ["user", "assistant"]:
        return "multi_turn"
    return None


def _input_offsets(table: pa.Table, source: str | None) -> list[int | None]:
    """Where an alpaca input starts in the user turn: from alpaca columns, or as recorded."""
    if source == "alpaca":
        if "input" not in table.column_names:
            return [None] * table.num_rows
        rows = table.select(["instruction", "input"]).to_pylist()
        return [len(r["instruction"]) + len(SEPARATOR) if r["input"] else None for r in rows]
    if ALPACA_INPUT_AT in table.column_names:
        return table[ALPACA_INPUT_AT].to_pylist()
    return [None] * table.num_rows


def record_row(value: dict[str, Any], kind: str, parts: bool = False) -> dict[str, Any]:
    """One parsed record as a table row: Arrow-safe whatever its shape, string contents as
    text parts where its source writes parts, and `_read_reason` when it is not usable."""
    safe, problem = json_safe(value, kind)
    if parts and problem is None and kind in TURN_KEYS:
        column, _, key = TURN_KEYS[kind]
        safe = {**safe, column: as_parts(safe[column], key)}
    return safe | ({READ_REASON: problem} if problem else {})


def rows_table(rows: list[dict[str, Any]], places: list[str]) -> pa.Table:
    """An Arrow table from record rows (every key of every row); a field of mixed types is a
    clear error naming where (`places`, one per row: "line 3", "data[3]") it changes."""
    columns = {}
    for key in dict.fromkeys(k for row in rows for k in row):
        values = [row.get(key) for row in rows]
        try:
            columns[key] = pa.array(values, pa.binary() if key == INVALID_BYTES else None)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise SchemaError(mixed_types(key, values, places)) from None
    return pa.table(columns)


def mixed_types(key: str, values: list[Any], places: list[str]) -> str:
    """Where a field changes type, or the value no column type holds, in words."""
    kinds = [(_shape(v), at) for v, at in zip(values, places, strict=True) if v is not None]
    first = kinds[0]
    other = next(((k, at) for k, at in kinds if k != first[0]), None)
    if other is None:  # a value no column holds: a list of mixed types, a 65-bit integer
        return f"field {key!r} holds {first[0]} on {first[1]}; give it values of one type"
    return (
        f"field {key!r} holds {first[0]} on {first[1]} and {other[0]} on {other[1]}; "
        "give it one type in every record"
    )


def _shape(value: Any) -> str:
    """A JSON value's type in words: Arrow's (`list<item: struct<...>>`), else Python's."""
    try:
        return f"a {pa.array([value]).type}"
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return f"a {type(value).__name__} of mixed types"
    except OverflowError:
        held = "" if isinstance(value, int) else f"a {type(value).__name__} holding "
        return f"{held}an integer too large for 64 bits (write it as a string)"


def _gives_parts(records: Sequence[dict[str, Any]], kind: str | None) -> bool:
    """True when some record of a listed kind gives a turn's content as a list of parts."""
    if kind not in TURN_KEYS:
        return False
    column, _, key = TURN_KEYS[kind]
    return any(  # as the reader looks for `"content": [{`: a list opening on a part
        isinstance(t, dict) and isinstance(c := t.get(key), list) and c and isinstance(c[0], dict)
        for r in records
        if isinstance(r.get(column), list)
        for t in r[column]
    )


def records_table(data: Any) -> tuple[pa.Table, list[str | None]]:
    """Instruction records given to a step in code (a list of alpaca, messages or sharegpt
    dicts, or a Table or DataFrame of them) with their text fields, and an `invalid:<why>`
    reason per record that is not a usable conversation."""
    from pipeline.core.columns import as_table

    if isinstance(data, list | tuple):
        if not all(isinstance(r, dict) for r in data):
            raise TypeError(
                "this step reads instruction records: give dicts (alpaca, messages or "
                "sharegpt) or a table of them, not strings"
            )
        kind = next((k for r in data if (k := detect(r))), None if data else "messages")
        if kind is None:
            keys = list(dict.fromkeys(k for r in data for k in r))
            raise KeyError(_no_records(keys))
        parts = _gives_parts(data, kind)
        rows = [record_row(r, kind, parts) for r in data]
        given = [row.pop(READ_REASON, None) for row in rows]
        table = rows_table(rows, [f"data[{n}]" for n in range(len(rows))])
    else:
        table = as_table(data)
        kind, given = detect_table(table), [None] * table.num_rows
        if kind is None:
            raise KeyError(_no_records(table.column_names))
    table, reasons = with_fields(table, kind)
    return table, [g or r for g, r in zip(given, reasons, strict=True)]


def _no_records(columns: list[str]) -> str:
    """Why given data holds no instruction records, in words."""
    return f"no instruction records (columns: {', '.join(columns)}): expected " + ", ".join(
        "+".join(FORMAT_COLUMNS[k]) for k in KINDS
    )
