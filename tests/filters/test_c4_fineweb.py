"""C4 and FineWeb rules, each reason on a small handwritten text; C4 line removal."""

import pandas as pd
import pyarrow as pa
import pytest

from filters import C4, FineWebQuality

PROSE = "\n".join(
    [
        "The river rose quickly after three days of heavy rain in the hills.",
        "Farmers moved their animals to higher ground before the water arrived.",
        "By Friday the main bridge was closed and the school sent children home early.",
        "Volunteers filled sandbags outside the town hall until late at night.",
        "The mayor thanked everyone who helped and promised a review of the flood plan.",
        "Engineers will inspect the bridge next week before it opens again.",
    ]
)


def c4_reason(text, **params):
    return C4(**params).reasons([text]).to_pylist()[0]


def test_c4_keeps_prose():
    assert c4_reason(PROSE) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        (PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "c4:lorem_ipsum"),
        (PROSE + "\nThe function body is {return x;} in the example.", "c4:curly_bracket"),
        (
            "Only two good sentences are here. And this is the second one.\nmenu\nhome",
            "c4:sentence_count<5",
        ),
    ],
)
def test_c4_page_rules(text, expected):
    assert c4_reason(text) == expected


def test_c4_line_rules_only_matter_after_filtering():
    # A curly bracket in a line dropped anyway (no terminal punctuation) does not reject the page.
    assert c4_reason(PROSE + "\nvar x = {a: 1}") is None
    # Lines failing line rules do not count towards the 5 sentences.
    short = "\n".join(
        [
            "Click here.",
            "Please enable JavaScript to use this site.",
            "We use cookies on this site.",
        ]
        * 3
    )
    assert c4_reason(short) == "c4:sentence_count<5"


def test_c4_counts_sentences_closed_by_curly_quotes_and_brackets():
    # Reviews quoted on a real page (scrapinghub article-extraction-benchmark): C4's ASCII list of
    # end marks drops every one of these lines, and the page with them.
    quoted = "\n".join(
        [
            "“The show was really great. Booking through the site was really easy.”",
            "“Very talented people! Super fun and entertaining! Very cultural!”",
            "(The theatre is a short walk from the station. Doors open at seven.)",
        ]
    )
    assert c4_reason(quoted) is None
    assert c4_reason(quoted.replace(".”", "”").replace("!”", "”").replace(".)", ")")) == (
        "c4:sentence_count<5"
    )


def test_c4_remove_lines_rewrites_kept_text():
    noisy = (
        "Home | About | Contact\n"
        + PROSE
        + "\nPlease enable javascript in your browser now.\nShare"
    )
    kept, rejected = C4(remove_lines=True).split(pa.table({"text": [noisy]}))
    assert rejected.num_rows == 0
    assert kept["text"].to_pylist() == [PROSE]
    assert kept["c4_lines_removed"].to_pylist() == [3]


def test_c4_citations_are_removed():
    kept = C4(remove_lines=True)([PROSE.replace("early.", "early.[1]")])
    assert "[1]" not in kept["text"][0].as_py()


def fw_reason(text):
    return FineWebQuality().reasons([text]).to_pylist()[0]


def test_fineweb_keeps_prose():
    assert fw_reason(PROSE) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\u200b\n \ufeff\n", "fineweb_quality:empty"),  # only invisible characters
        ("\n \n", "invalid:empty_text"),  # no text at all: rejected as any reader would
        (
            "\n".join(f"a line about topic number {i} without an end" for i in range(20)),
            "fineweb_quality:line_punct_ratio<0.12",
        ),
        (
            "\n".join(["Short line."] * 1 + [f"Item {i}." for i in range(10)]),
            "fineweb_quality:short_line_ratio>0.67",
        ),
        (PROSE + "\n" + PROSE.splitlines()[0], "fineweb_quality:char_dup_ratio>0.01"),
        (
            "\n".join(
                f"Extraordinarily magnificentcelebrations{i}" + ("." if i < 2 else "")
                for i in range(10)
            ),
            "fineweb_quality:list_ratio>0.3",
        ),
    ],
)
def test_fineweb_rules(text, expected):
    assert fw_reason(text) == expected


def test_library_inputs_table_dataframe_list():
    texts = [PROSE, "tiny."]
    from_list = FineWebQuality().reasons(texts).to_pylist()
    from_df = FineWebQuality().reasons(pd.DataFrame({"text": texts})).to_pylist()
    from_table = FineWebQuality(text_column="body").reasons(pa.table({"body": texts})).to_pylist()
    assert from_list == from_df == from_table == [None, "fineweb_quality:short_line_ratio>0.67"]
    kept = FineWebQuality(text_column="body")(pa.table({"body": texts}))
    assert kept["body"].to_pylist() == [PROSE]


def test_unknown_param_is_an_error():
    with pytest.raises(ValueError, match="min_wrds"):
        C4(min_wrds=3)
