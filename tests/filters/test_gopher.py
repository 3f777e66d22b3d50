"""Each Gopher rule, on small handwritten texts, with the exact reason it gives."""

import pyarrow as pa
import pytest

from filters import GopherQuality, GopherRepetition

GOOD = (
    "The committee met on Tuesday to review the plans for the new library. Members agreed that "
    "the building should have more light and a larger reading room for children. The architect "
    "will present a revised design with the changes next month, and the town will hold a public "
    "meeting to hear what residents think of it before any decision is taken on the budget."
)


def repeated_gram(gram: str, fillers: int) -> str:
    """`gram` 30 times, each followed by `fillers` unique words (which set its share of text)."""
    return " ".join(f"{gram} " + " ".join(f"u{i}x{j}" for j in range(fillers)) for i in range(30))


def reason(step, text):
    return step.reasons([text]).to_pylist()[0]


def test_good_text_is_kept():
    assert reason(GopherQuality(), GOOD) is None
    assert reason(GopherRepetition(), GOOD) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The cat sat on the mat with the dog.", "gopher_quality:word_count<50"),
        (" ".join(["the and of to with"] * 30000), "gopher_quality:word_count>100000"),
        (" ".join(["a be to of an it"] * 20), "gopher_quality:avg_word_length<3"),
        (
            " ".join(["the and extraordinarily incomprehensibilities"] * 20),
            "gopher_quality:avg_word_length>10",
        ),
        (GOOD + " #tag" * 12, "gopher_quality:hash_ratio>0.1"),
        (GOOD + " and so on..." * 12, "gopher_quality:ellipsis_ratio>0.1"),
        (
            "\n".join(f"- the item {i} with its long description of the thing" for i in range(60)),
            "gopher_quality:bullet_lines_ratio>0.9",
        ),
        (
            "\n".join(f"the story of item {i} with the dog goes on and on..." for i in range(20)),
            "gopher_quality:end_ellipsis_lines_ratio>0.3",
        ),
        (GOOD + " 12 34 56 78 90 11 22 33" * 4, "gopher_quality:alpha_word_ratio<0.8"),
        (
            " ".join(["committee members reviewed library plans carefully today"] * 10),
            "gopher_quality:stop_word_count<2",
        ),
    ],
)
def test_quality_rules(text, expected):
    assert reason(GopherQuality(), text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "\n\n".join(["Same paragraph here."] * 3 + ["Other one.", "Another."]),
            "gopher_repetition:dup_para_frac>0.3",
        ),
        (
            "\n\n".join(
                ["A long paragraph that repeats itself twice in full."] * 2
                + [f"p{i}" for i in range(5)]
            ),
            "gopher_repetition:dup_para_char_frac>0.2",
        ),
        ("\n".join(["same line"] * 4 + ["x", "y", "z"]), "gopher_repetition:dup_line_frac>0.3"),
        (
            "\n".join(["a line long enough to matter here"] * 2 + [f"l{i}" for i in range(6)]),
            "gopher_repetition:dup_line_char_frac>0.2",
        ),
        (
            " ".join(["buy cheap"] * 10 + [f"w{i}" for i in range(40)]),
            "gopher_repetition:top_2_gram_char_frac>0.2",
        ),
        (repeated_gram("alpha beta gamma", 8), "gopher_repetition:top_3_gram_char_frac>0.18"),
        (repeated_gram("one two three four", 10), "gopher_repetition:top_4_gram_char_frac>0.16"),
    ],
)
def test_repetition_rules(text, expected):
    assert reason(GopherRepetition(), text) == expected


def test_duplicated_ngram_rule():
    # No line or top n-gram rule fires, but a 10-word sentence recurs in several places.
    sentence = "we hold these truths to be self evident that all"
    text = " ".join(
        f"{sentence} variant{i} word{i} more{i} filler{i} extra{i} text{i}" for i in range(8)
    )
    assert reason(GopherRepetition(top_ngram_char_frac={}), text).startswith(
        "gopher_repetition:dup_"
    )


def test_disabled_threshold_never_fires():
    step = GopherQuality(min_words=None, min_stop_words=None, min_avg_word_length=None)
    assert reason(step, "The cat sat on the mat") is None


def test_split_keeps_order_and_reasons():
    kept, rejected = GopherQuality().split(
        pa.table({"text": [GOOD, "short", GOOD], "n": [1, 2, 3]})
    )
    assert kept["n"].to_pylist() == [1, 3]
    assert rejected.to_pydict() == {
        "text": ["short"],
        "n": [2],
        "reject_reason": ["gopher_quality:word_count<50"],
        "rejected_by": ["gopher_quality"],
        "reject_value": [1.0],  # the measured value that failed the rule
    }
