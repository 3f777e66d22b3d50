"""The sentence-order test (`coherence`) with the packaged SmolLM2 on real GSM8K answers from the
instruction sample: an answer in its own order stands out more from its reorderings (margin and
z-score) than the same answer with its lines shuffled; short answers and bad records get no
score and are kept."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipeline.io.records import with_fields
from scorers import SentenceOrder
from scorers.coherence import orders
from scorers.sentences import split_units
from tests.conftest import REPO


def records(pairs: list[tuple[str, str]]) -> pa.Table:
    rows = [{"instruction": q, "input": "", "output": a} for q, a in pairs]
    return with_fields(pa.Table.from_pylist(rows), "alpaca")[0]


def clean_answers(count: int) -> list[tuple[str, str]]:
    """The first `count` clean sample records whose answer has four lines or more."""
    lines = (REPO / "samples" / "instruct" / "part-00000.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    rows = [r for r in rows if r["planted"] == "clean" and r["output"].count("\n") >= 3]
    return [(r["instruction"], r["output"]) for r in rows[:count]]


def test_split_units_and_orders():
    text = 'He said "go." Then he left!  Why?\n\nThe end. 3.5 is a number'
    sentences = split_units(text, "sentences")
    assert [u for u, _ in sentences] == [
        'He said "go."',
        "Then he left!",
        "Why?",
        "The end.",
        "3.5 is a number",
    ]
    assert "".join(u + s for u, s in sentences) == text
    assert [u for u, _ in split_units(text, "lines")] == [
        'He said "go." Then he left!  Why?',
        "The end. 3.5 is a number",
    ]
    drawn = orders(3, 10, seed=7)
    assert len(drawn) == 5 and [0, 1, 2] not in drawn  # every other order of three, once
    assert drawn == orders(3, 10, seed=7)


@pytest.fixture(scope="module")
def step() -> SentenceOrder:
    scorer = SentenceOrder(permutations=4)  # fewer than the default 8: a faster test
    scorer.ready()  # the packaged SmolLM2, loaded once for the module
    return scorer


def test_own_order_beats_a_shuffle(step):
    pairs = clean_answers(2)
    shuffled = []
    for question, answer in pairs:
        lines = answer.split("\n")
        shuffled.append((question, "\n".join(lines[1::2] + lines[::2])))  # a fixed reordering
    own, mixed = step(records(pairs)), step(records(shuffled))
    for name in ("order_margin", "order_z"):
        assert (own[name].to_numpy() > mixed[name].to_numpy()).all()
    why = step.reasons(mixed).to_pylist()  # the scores made above, read back
    assert why.count("coherence:order_z<1") > 0 and set(why) <= {None, "coherence:order_z<1"}


def test_short_and_bad_records_are_kept_unscored(step):
    question, answer = clean_answers(1)[0]
    rows = [
        (question, "The answer is 5."),  # one sentence: nothing to reorder
        (question, ""),  # empty: an invalid record, no turns
        (question, "   \n\n  "),
    ]
    table = records(rows)
    assert table["_messages"].to_pylist()[1] is None
    scored = step(table)
    assert scored["order_margin"].to_pylist() == [None, None, None]
    assert scored["order_z"].to_pylist() == [None, None, None]
    assert scored["order_units"].to_pylist() == [0, None, None]  # no record: no score at all
    assert step.reasons(table).to_pylist() == [None, "invalid:null_text", "invalid:null_text"]
